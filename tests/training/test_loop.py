"""The shared loop on a tiny network: steps and sharding, augmentation, NaN detection, evaluation, schedules."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ulsam_nas import runtime
from ulsam_nas.training import TrainingDiverged, evaluate, recalibrate_batchnorm
from ulsam_nas import ArchConfig
from ulsam_nas.builder import InvertedResidual
from ulsam_nas.training import ProxySettings
from ulsam_nas.training.loop import make_optimizer, normalise, prepare_training, train_one_epoch, warmup_cosine_schedule

MEAN, STD = torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.25, 0.25])


def tiny_model(classes: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, classes))


def tiny_data(count: int = 20, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (count, 3, 8, 8), dtype=torch.uint8, generator=generator),
            torch.arange(count) % classes)


def run_epoch(model, images, labels, lr=0.01, **options):
    optimizer = make_optimizer(model, lr, 0.9, 0.0)
    scheduler = warmup_cosine_schedule(optimizer, 2, 10)
    return train_one_epoch(model, images, labels, torch.arange(len(labels)), optimizer, scheduler, MEAN, STD,
                           epoch=options.pop("epoch", 1), **options)


class Logits(nn.Module):
    """Returns fixed logits (one row per image) whatever the input; learns nothing."""

    def __init__(self, rows: list[list[float]]) -> None:
        super().__init__()
        self.rows = torch.tensor(rows)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.rows[: len(images)] + self.bias


def test_one_epoch_drops_the_ragged_batch_and_reports_each_step():
    images, labels = tiny_data(20)
    steps = []
    stats = run_epoch(tiny_model(), images, labels, batch_size=6, on_step=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)] and stats.images == 18
    assert math.isfinite(stats.mean_loss) and stats.mean_loss > 0 and stats.seconds > 0


def test_each_process_takes_its_share_of_a_step():
    images, labels = tiny_data(20)
    seen = []

    def record(batch):
        seen.append(len(batch))
        return batch

    stats = run_epoch(tiny_model(), images, labels, batch_size=4, rank=1, world_size=2, augment=record)
    assert seen == [4, 4] and stats.images == 8  # 20 images, 8 per step across both processes: 2 steps


def test_augmentation_sees_uint8_batches_and_its_output_is_trained_on():
    images, labels = tiny_data(8)
    calls = []

    def blank(batch):
        calls.append(batch.dtype)
        return torch.zeros_like(batch)

    torch.manual_seed(0)
    augmented = run_epoch(tiny_model(), images, labels, batch_size=4, augment=blank)
    torch.manual_seed(0)
    plain = run_epoch(tiny_model(), torch.zeros_like(images), labels, batch_size=4)
    assert calls == [torch.uint8, torch.uint8] and augmented.mean_loss == plain.mean_loss


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_nan_or_infinite_loss_stops_training_with_where_it_happened(bad):
    images, labels = tiny_data(8)
    model = Logits([[bad, 0.0, 0.0]] * 4)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch 3, step 1"):
        run_epoch(model, images, labels, batch_size=4, epoch=3)
    assert model.bias.item() == 0.0  # no step taken on the bad loss


def test_without_a_check_every_step_a_bad_loss_is_caught_once_at_the_end_of_the_epoch():
    # The GPU path: the finite flag stays on the device and is read once, after the epoch's steps.
    images, labels = tiny_data(8)
    steps = []
    model = Logits([[math.nan, 0.0, 0.0]] * 4)
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite during epoch 2"):
        run_epoch(model, images, labels, batch_size=4, epoch=2, check_every_step=False,
                  on_step=lambda step, total: steps.append(step))
    assert steps == [1, 2]  # both steps ran before the one read


def test_a_finite_run_without_per_step_checks_trains_exactly_as_with_them():
    images, labels = tiny_data(16)
    results = []
    for check in (True, False):
        with runtime.seeded(0):
            model = tiny_model()
            stats = run_epoch(model, images, labels, batch_size=4, check_every_step=check)
        results.append((stats.mean_loss, [p.detach().clone() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_the_optimiser_is_fused_only_on_a_gpu():
    assert not make_optimizer(tiny_model(), 0.1, 0.9, 0.0).defaults["fused"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_the_loop_trains_from_gpu_resident_uint8_in_bfloat16_and_evaluates():
    device = torch.device("cuda")
    images, labels = (t.to(device) for t in tiny_data(64))
    mean, std = MEAN.to(device), STD.to(device)
    model = tiny_model().to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, 0.05, 0.9, 0.0)
    assert optimizer.defaults["fused"]
    stats = train_one_epoch(model, images, labels, torch.arange(64), optimizer, warmup_cosine_schedule(optimizer, 3, 16),
                            mean, std, batch_size=8, epoch=1)
    assert stats.images == 64 and math.isfinite(stats.mean_loss)
    scores = evaluate(model, images, labels, mean, std)
    assert 0.0 <= scores.top1 <= 1.0 and math.isfinite(scores.val_loss)


def test_evaluate_scores_top1_top5_and_loss_and_keeps_the_mode():
    rows = [[9.0, 1, 2, 3, 4, 5, 6], [0.0, 9, 1, 2, 3, 4, 5], [0.0, 1, 2, 3, 4, 5, 9], [1.0, 1, 1, 1, 1, 1, 1]]
    labels = torch.tensor([0, 0, 6, 3])  # right, 6th best, right, a tie
    model = Logits(rows).train()
    scores = evaluate(model, torch.zeros(4, 3, 2, 2, dtype=torch.uint8), labels, MEAN, STD, batch_size=4)
    assert model.training
    assert scores.top1 == 2 / 4  # a tie goes to the first class, as argmax does
    assert scores.top5 == 3 / 4
    expected = nn.functional.cross_entropy(torch.tensor(rows), labels).item()
    assert scores.val_loss == pytest.approx(expected)


def test_evaluate_takes_top_k_of_the_classes_there_are():
    scores = evaluate(Logits([[0.0, 1.0], [1.0, 0.0]]), torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 0]),
                      MEAN, STD)
    assert (scores.top1, scores.top5) == (0.5, 1.0)


def test_recalibrated_batchnorm_holds_the_statistics_of_the_given_images():
    images, _ = tiny_data(12)
    model = tiny_model().eval()
    recalibrate_batchnorm(model, images, MEAN, STD, count=8, batch_size=4)
    norm = model[1]
    with torch.no_grad():
        features = model[0](normalise(images[:8], MEAN, STD))
    torch.testing.assert_close(norm.running_mean, features.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    assert norm.momentum == 0.1 and not model.training


def test_normalise_gives_float_channels_last():
    batch = normalise(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), MEAN, STD)
    assert batch.dtype == torch.float32 and batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.all(batch == 2.0)  # (1 - 0.5) / 0.25


def test_warmup_then_cosine_to_zero():
    optimizer = make_optimizer(nn.Linear(1, 1), 0.4, 0.9, 0.0)
    scheduler = warmup_cosine_schedule(optimizer, warmup_steps=2, total_steps=6)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:3] == pytest.approx([0.2, 0.4, 0.4]) and rates[4] == pytest.approx(0.2)  # cosine half-way at step 4
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


def test_a_run_starts_with_the_recipe_of_its_settings():
    config = ArchConfig(width=0.35, num_classes=10, drop=[5, 6, 9, 10, 12, 13, 15, 16])
    settings = ProxySettings(epochs=1, resolution=16, lr=0.3, weight_decay=1e-3, warmup=0.25, zero_init_residual=True)
    model, optimizer, scheduler = prepare_training(config, settings, torch.device("cpu"), total_steps=8)
    residual = [m for m in model.modules() if isinstance(m, InvertedResidual) and m.use_res_connect]
    plain = [m for m in model.modules() if isinstance(m, InvertedResidual) and not m.use_res_connect]
    assert residual and all(float(m.last_norm.weight.abs().sum()) == 0 for m in residual)  # each starts as the identity
    assert all(float(m.last_norm.weight.abs().sum()) > 0 for m in plain)  # no identity path: left alone
    group = optimizer.param_groups[0]
    assert group["weight_decay"] == 1e-3 and group["nesterov"] and group["lr"] == pytest.approx(0.3 / 2)  # step 1 of 2
    off, _, _ = prepare_training(config, ProxySettings(zero_init_residual=False), torch.device("cpu"), 8)
    assert all(float(m.last_norm.weight.abs().sum()) > 0 for m in off.modules() if isinstance(m, InvertedResidual))


def test_same_seed_same_epoch_and_global_state_untouched():
    images, labels = tiny_data(16)
    before = torch.get_rng_state()
    losses = []
    for _ in range(2):
        with runtime.seeded(7):
            losses.append(run_epoch(tiny_model(), images, labels, batch_size=4).mean_loss)
    assert losses[0] == losses[1] and torch.equal(torch.get_rng_state(), before)


def test_the_gradient_norm_is_clipped_before_each_step_and_reported():
    images, labels = tiny_data(16)
    torch.manual_seed(0)
    model = tiny_model()
    before = copy.deepcopy(model)
    tiny = 1e-6  # far below any gradient's norm: every step is clipped, so the weights barely move
    stats = run_epoch(model, images, labels, lr=0.5, batch_size=8, max_grad_norm=tiny)
    assert stats.clipped_share == 1.0 and stats.grad_norm_max > tiny
    moved = max(float((a - b).abs().max()) for a, b in zip(model.parameters(), before.parameters()))
    torch.manual_seed(0)
    free = run_epoch(tiny_model(), images, labels, lr=0.5, batch_size=8)
    assert free.clipped_share is None and free.grad_norm_max is None  # not measured without a clip
    assert moved < 1e-5  # two steps of at most lr x 1e-6 each, momentum included
    loose = run_epoch(copy.deepcopy(before), images, labels, lr=0.5, batch_size=8, max_grad_norm=1e9)
    assert loose.clipped_share == 0.0 and 0 < loose.grad_norm_max < 1e9


def test_several_passes_per_step_step_once_on_their_mean_gradient():
    images, labels = tiny_data(16)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))  # no BatchNorm: two passes on one batch see the same network
    twice = copy.deepcopy(model)
    forwards = []
    twice.register_forward_hook(lambda *_: forwards.append(1))
    once_stats = run_epoch(model, images, labels, lr=0.1, batch_size=8)
    twice_stats = run_epoch(twice, images, labels, lr=0.1, batch_size=8, passes=2)
    assert len(forwards) == 4  # two steps of two passes
    for a, b in zip(model.parameters(), twice.parameters()):
        torch.testing.assert_close(a, b)
    assert twice_stats.mean_loss == pytest.approx(once_stats.mean_loss)


class Turns(nn.Module):
    """Returns the next of fixed logit tables on each forward pass (a supernet's children, one per pass)."""

    def __init__(self, *tables: list[list[float]]) -> None:
        super().__init__()
        self.tables, self.calls = [torch.tensor(t) for t in tables], 0
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.tables[(self.calls - 1) % len(self.tables)][: len(images)] + self.bias


def test_in_place_distillation_teaches_the_later_passes_the_first_pass_predictions():
    images, labels = tiny_data(4)
    first, second = [[2.0, 0.0, -1.0]] * 4, [[0.0, 1.0, 0.5]] * 4
    teacher = torch.tensor(first).softmax(dim=1)
    expected = (F.cross_entropy(torch.tensor(first), labels) + F.cross_entropy(torch.tensor(second), teacher)) / 2
    distilled = run_epoch(Turns(first, second), images, labels, batch_size=4, passes=2, distill=True)
    assert distilled.mean_loss == pytest.approx(float(expected), rel=1e-5)
    from_labels = (F.cross_entropy(torch.tensor(first), labels) + F.cross_entropy(torch.tensor(second), labels)) / 2
    plain = run_epoch(Turns(first, second), images, labels, batch_size=4, passes=2)
    assert plain.mean_loss == pytest.approx(float(from_labels), rel=1e-5) and plain.mean_loss != distilled.mean_loss

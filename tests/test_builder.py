"""build_model: vanilla networks match the references; every config builds and trains."""

import copy

import pytest
import torch
import torchvision

from ulsam_nas import ArchConfig, ULSAM, build_model
from ulsam_nas.builder import DepthwiseConv2d, fold_batchnorm
from ulsam_nas.costs import count_params

# Recorded parameter counts: a regression guard against silent changes.
RECORDED_PARAMS = {
    ("mobilenet_v2", 1.0): 3_504_872,  # torchvision's published count
    ("mobilenet_v2", 0.75): 2_636_424,
    ("mobilenet_v2", 0.5): 1_968_680,
    ("mobilenet_v1", 1.0): 4_231_976,  # paper: 4.2M
    ("mobilenet_v1", 0.75): 2_585_560,  # paper: 2.6M
    ("mobilenet_v1", 0.5): 1_331_592,  # paper: 1.3M
}


@pytest.mark.parametrize("backbone,width", RECORDED_PARAMS)
def test_vanilla_parameter_counts_are_recorded(backbone, width):
    assert count_params(build_model(ArchConfig(backbone=backbone, width=width))) == RECORDED_PARAMS[backbone, width]


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_vanilla_v2_matches_torchvision_tensor_for_tensor(width):
    ours = build_model(ArchConfig(width=width)).state_dict()
    reference = torchvision.models.mobilenet_v2(width_mult=width).state_dict()
    assert [tuple(t.shape) for t in ours.values()] == [tuple(t.shape) for t in reference.values()]


SPREAD = [
    ArchConfig(num_classes=10),
    ArchConfig(num_classes=10, drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}]),
    ArchConfig(num_classes=10, drop=[12, 13, 15, 16], ulsam=[{"after": 13, "subspaces": 4}, {"after": 16, "subspaces": 8}]),
    ArchConfig(num_classes=7, width=0.35, drop=[3, 5, 6, 8, 9, 10, 12, 13, 15, 16]),
    ArchConfig(num_classes=3, width=1.4, ulsam=[{"after": 0, "subspaces": 2}, {"after": 18, "subspaces": 1}]),
    ArchConfig(backbone="mobilenet_v1", num_classes=10),
    ArchConfig(backbone="mobilenet_v1", num_classes=10, drop=[9], ulsam=[{"after": 9, "subspaces": 4}]),
    ArchConfig(backbone="mobilenet_v1", num_classes=5, width=0.25, drop=[3, 5, 7, 8, 9, 10, 11, 13],
               ulsam=[{"after": 1, "subspaces": 16}, {"after": 13, "subspaces": 32}]),
]


@pytest.mark.parametrize("config", SPREAD, ids=lambda c: c.summary())
@pytest.mark.parametrize("resolution", [32, pytest.param(57, marks=pytest.mark.slow)])  # 57: odd sizes
def test_builds_runs_forward_backward_without_nans(config, resolution):
    model = build_model(config)
    images = torch.randn(2, 3, resolution, resolution)
    logits = model(images)
    assert logits.shape == (2, config.num_classes)
    logits.logsumexp(dim=1).sum().backward()
    assert torch.isfinite(logits).all()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    model.eval()
    assert torch.isfinite(model(images)).all()


def test_builder_is_pure():
    config = SPREAD[2]
    before = copy.deepcopy(config)
    build_model(config)
    assert config == before and config.to_json() == before.to_json()


def test_dropped_blocks_keep_their_slot_and_ulsam_sits_in_the_attention_slot():
    model = build_model(SPREAD[1])
    assert len(model.features) == 19
    assert isinstance(model.features[13].block, torch.nn.Identity)
    assert isinstance(model.features[16].attention, ULSAM) and model.features[16].attention.subspaces == 4
    assert isinstance(model.features[12].attention, torch.nn.Identity)


def test_state_dict_keys_of_kept_blocks_do_not_depend_on_attention():
    plain = build_model(ArchConfig(num_classes=10)).state_dict()
    attentive = build_model(ArchConfig(num_classes=10, ulsam=[{"after": 12, "subspaces": 4}])).state_dict()
    extra = set(attentive) - set(plain)
    assert set(plain) <= set(attentive)
    assert extra and all(key.startswith("features.12.attention.") for key in extra)


def test_rejects_anything_but_a_config():
    with pytest.raises(TypeError, match="ArchConfig"):
        build_model({"backbone": "mobilenet_v2"})


@pytest.mark.parametrize("channels, size, kernel, stride, padding", [
    (8, (1, 1), 3, 1, 1), (8, (2, 2), 3, 1, 1), (8, (2, 2), 3, 2, 1), (8, (1, 2), 3, 1, 1), (8, (2, 1), 3, 2, 1),
    (6, (2, 2), 1, 1, 0), (6, (2, 2), 5, 1, 2), (6, (3, 3), 3, 1, 1),  # 3x3: the convolution itself
])
@pytest.mark.parametrize("bias", [False, True])
def test_small_depthwise_maps_train_exactly_like_the_convolution(channels, size, kernel, stride, padding, bias):
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(channels, channels, kernel, stride, padding, groups=channels, bias=bias)
    ours = copy.deepcopy(plain)
    ours.__class__ = DepthwiseConv2d
    x = torch.randn(4, channels, *size).contiguous(memory_format=torch.channels_last)
    outputs, grads = [], []
    for conv in (plain, ours):
        inputs = x.clone().requires_grad_()
        out = conv(inputs)
        out.backward(torch.arange(out.numel(), dtype=torch.float32).view_as(out) / out.numel())
        outputs.append(out)
        grads.append([inputs.grad] + [p.grad for p in conv.parameters()])
    assert outputs[1].shape == outputs[0].shape
    assert outputs[1].is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(outputs[1], outputs[0])
    for ours_grad, plain_grad in zip(grads[1], grads[0]):
        torch.testing.assert_close(ours_grad, plain_grad)


def test_the_products_are_used_only_in_training_with_gradients_and_every_depthwise_conv_has_them():
    model = build_model(ArchConfig(num_classes=10, width=0.35))
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise and all(isinstance(m, DepthwiseConv2d) for m in depthwise)
    assert not any(isinstance(m, DepthwiseConv2d) for m in model.modules() if isinstance(m, torch.nn.Conv2d)
                   and m.groups == 1)
    conv = depthwise[-1]
    x = torch.randn(2, conv.in_channels, 1, 1)
    calls = []
    original = torch.nn.Conv2d.forward
    torch.nn.Conv2d.forward = lambda self, inputs: calls.append(1) or original(self, inputs)
    try:
        conv.train()
        conv(x)  # training with gradients: the products, not the convolution
        assert calls == []
        with torch.no_grad():
            conv(x)
        conv.eval()
        conv(x)
        assert calls == [1, 1]
    finally:
        torch.nn.Conv2d.forward = original


def test_folding_batchnorm_keeps_outputs():
    model = build_model(ArchConfig(num_classes=10, ulsam=[{"after": 12, "subspaces": 4}]))
    model.train()
    model(torch.randn(8, 3, 64, 64))  # non-trivial running statistics
    model.eval()
    folded = fold_batchnorm(model)
    remaining = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert remaining == 2  # only ULSAM's own BatchNorms stay
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)

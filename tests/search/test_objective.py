"""Scoring one candidate with an injected trainer: no module globals patched."""

import optuna
import pytest

from ulsam_nas.data import load_dataset
from ulsam_nas.record import Status, TrialRecord
from ulsam_nas.search import Objective, SearchSettings
from ulsam_nas.search.ledger import Ledger
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxyResult, ProxySettings

PROXY = ProxySettings(epochs=3, resolution=16, train_subset=64, batch_size=32, threads=1)


class FakeTrainer:
    """Reports a fixed curve through on_epoch, as train_proxy does, and records its calls."""

    def __init__(self, curve):
        self.curve, self.calls = curve, 0

    def __call__(self, config, data, settings, seed, on_epoch):
        self.calls += 1
        seen = []
        for epoch, accuracy in enumerate(self.curve, start=1):
            seen.append(accuracy)
            if epoch < len(self.curve) and on_epoch(epoch, accuracy):
                break
        return ProxyResult(accuracy=seen[-1], curve=seen, seconds=0.1, images_per_second=1.0,
                           stopped_early=len(seen) < len(self.curve))


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", 16, train_subset=64)


def evaluate(objective, study, ledger):
    trial = study.ask()
    config, twin = objective.claim(trial, {"host": "h", "pid": 1})
    try:
        values = objective(trial, config, ledger, twin)
        frozen = study.tell(trial, values)
    except optuna.TrialPruned:
        frozen = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    ledger.update([frozen])
    return TrialRecord.from_trial(frozen)


def test_trained_then_reused_without_training_again(tiny_space, data):
    space = load_space(tiny_space)
    trainer = FakeTrainer([0.2, 0.4, 0.6])
    objective = Objective(SearchSettings(space=str(tiny_space), proxy=PROXY), space, data, trainer=trainer)
    study = optuna.create_study(directions=["maximize", "minimize"])
    ledger = Ledger(("accuracy", "flops"))
    params = {"width": 0.35, "depth_14": 3, "ulsam_16": 0}
    study.enqueue_trial(params)
    study.enqueue_trial(params)
    first, second = evaluate(objective, study, ledger), evaluate(objective, study, ledger)
    assert first.status is Status.TRAINED and first.accuracy == 0.6 and first.proxy_curve == (0.2, 0.4, 0.6)
    assert second.status is Status.REUSED and second.reused_from == 0 and second.accuracy == 0.6
    assert trainer.calls == 1 and first.flops == second.flops > 0


def test_clearly_dominated_candidate_is_stopped_early(tiny_space, data):
    space = load_space(tiny_space)
    good, bad = FakeTrainer([0.5, 0.9, 0.95]), FakeTrainer([0.1, 0.1, 0.1])
    settings = SearchSettings(space=str(tiny_space), proxy=PROXY)
    study = optuna.create_study(directions=["maximize", "minimize"])
    ledger = Ledger(("accuracy", "flops"))
    cheap = [{"width": 0.35, "depth_14": depth, "ulsam_16": 0} for depth in (1, 2, 3)]
    for params in cheap:
        study.enqueue_trial(params)
        assert evaluate(Objective(settings, space, data, trainer=good), study, ledger).status is Status.TRAINED
    study.enqueue_trial({"width": 1.0, "depth_14": 3, "ulsam_16": 0})  # costlier than all three
    record = evaluate(Objective(settings, space, data, trainer=bad), study, ledger)
    assert record.status is Status.STOPPED_EARLY and "earlier trials that cost no more" in record.reason


def test_waiters_for_a_dead_twin_train_it_once_between_them(tiny_space, data):
    # Two workers wait for a trial of the same config whose worker died; when it is failed, one of them trains
    # the config and the other waits for that one, instead of both training it.
    space = load_space(tiny_space)
    objective = Objective(SearchSettings(space=str(tiny_space), proxy=PROXY), space, data, trainer=FakeTrainer([0.5]))
    study = optuna.create_study(directions=["maximize", "minimize"])
    params = {"width": 0.35, "depth_14": 3, "ulsam_16": 0}
    claimed = []
    for _ in range(3):
        study.enqueue_trial(params)
        trial = study.ask()
        claimed.append((trial, *objective.claim(trial, {"host": "h", "pid": 1})))
    (dead, _, first_twin), (b, config, b_twin), (c, _, c_twin) = claimed
    assert (first_twin, b_twin, c_twin) == (None, 0, 0)  # both wait for the trainer, not for each other
    study.tell(dead, state=optuna.trial.TrialState.FAIL)  # swept: its worker died
    assert Objective._twin(b, config.to_json()) is None  # b becomes the trainer ...
    assert Objective._twin(c, config.to_json()) == b.number  # ... and c waits for b


def test_a_config_told_after_the_claims_snapshot_is_reused_not_trained_again(tiny_space, data):
    # Trials are told outside the study lock: worker A's trial of a config can finish after worker B's claim read
    # the study (so B's ledger lacks it) but before B looked for a running twin (so there is none). B must still
    # find A's result instead of training the config a second time (the race CI once caught on PostgreSQL).
    space = load_space(tiny_space)
    trainer = FakeTrainer([0.2, 0.4, 0.6])
    objective = Objective(SearchSettings(space=str(tiny_space), proxy=PROXY), space, data, trainer=trainer)
    study = optuna.create_study(directions=["maximize", "minimize"])
    params = {"width": 0.35, "depth_14": 3, "ulsam_16": 0}
    study.enqueue_trial(params)
    study.enqueue_trial(params)
    a, b = study.ask(), study.ask()
    a_config, _ = objective.claim(a, {"host": "a", "pid": 1})
    stale = Ledger(("accuracy", "flops"))  # B's snapshot of the study, read while A still ran
    study.tell(a, objective(a, a_config, Ledger(("accuracy", "flops")), None))
    b_config, b_twin = objective.claim(b, {"host": "b", "pid": 2})
    assert b_twin is None  # A is no longer running
    study.tell(b, objective(b, b_config, stale, b_twin))
    assert TrialRecord.from_trial(study.trials[b.number]).status is Status.REUSED
    assert trainer.calls == 1

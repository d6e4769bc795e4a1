"""Front computation on hand-made trial tables: ties, infeasible and unfinished points."""

import math

import numpy as np
import pandas as pd
import pytest

from ulsam_nas.report import COLUMNS, baseline_gains, hypervolume, hypervolume_history, pareto_front


def frame(*rows):
    defaults = {"state": "COMPLETE", "status": "trained", "baseline": "", "feasible": True, "latency_ms": math.nan,
                "summary": "", "config": "", "train_seconds": 1.0, "wall_seconds": 1.0, "reason": ""}
    return pd.DataFrame([defaults | {"trial": i, **row} for i, row in enumerate(rows)], columns=COLUMNS)


def test_front_keeps_only_non_dominated_feasible_points():
    trials = frame(
        {"accuracy": 0.90, "flops": 100, "params": 10},  # 0: front
        {"accuracy": 0.95, "flops": 200, "params": 10},  # 1: front
        {"accuracy": 0.85, "flops": 150, "params": 10},  # 2: dominated by 0
        {"accuracy": 0.99, "flops": 50, "params": 10, "feasible": False, "status": "infeasible"},  # 3: infeasible
        {"accuracy": 0.99, "flops": 60, "params": 10, "state": "PRUNED", "status": "stopped_early"},  # 4: unfinished
        {"accuracy": math.nan, "flops": 10, "params": 1, "state": "FAIL", "status": "failed"},  # 5: failed
    )
    front = pareto_front(trials, ["accuracy", "flops"])
    assert front["trial"].tolist() == [0, 1]  # sorted by FLOPs


def test_exact_ties_appear_once_as_the_earliest_trial():
    trials = frame({"accuracy": 0.9, "flops": 100, "params": 10},
                   {"accuracy": 0.9, "flops": 100, "params": 10, "status": "reused"},
                   {"accuracy": 0.9, "flops": 120, "params": 10})  # same accuracy, costlier: dominated
    assert pareto_front(trials, ["accuracy", "flops"])["trial"].tolist() == [0]


def test_equal_accuracy_different_cost_keeps_the_cheaper_only_but_other_objectives_can_rescue():
    trials = frame({"accuracy": 0.9, "flops": 100, "params": 20}, {"accuracy": 0.9, "flops": 120, "params": 10})
    assert pareto_front(trials, ["accuracy", "flops"])["trial"].tolist() == [0]
    assert sorted(pareto_front(trials, ["accuracy", "flops", "params"])["trial"]) == [0, 1]


def test_no_feasible_trial_gives_an_empty_front():
    trials = frame({"accuracy": 0.9, "flops": 100, "params": 10, "feasible": False, "status": "infeasible"})
    front = pareto_front(trials, ["accuracy", "flops"])
    assert front.empty and list(front.columns) == COLUMNS


def test_no_budgets_means_every_finished_trial_is_feasible():
    trials = frame({"accuracy": 0.9, "flops": 100, "params": 10, "feasible": None})
    assert len(pareto_front(trials, ["accuracy", "flops"])) == 1


def test_hypervolume_in_reference_units():
    trials = frame({"accuracy": 0.5, "flops": 50, "params": 10}, {"accuracy": 1.0, "flops": 100, "params": 10})
    front = pareto_front(trials, ["accuracy", "flops"])
    # As losses (1 - accuracy, flops / 200): (0.5, 0.25) and (0.0, 0.5), against (1, 1).
    # Their boxes have areas 0.375 and 0.5 and overlap in 0.25.
    expected = 0.375 + 0.5 - 0.25
    assert hypervolume(front, ["accuracy", "flops"], {"accuracy": 0.0, "flops": 200}) == pytest.approx(expected)
    assert hypervolume(front.iloc[:0], ["accuracy", "flops"], {"flops": 200}) == 0.0


def test_hypervolume_history_never_decreases():
    trials = frame({"accuracy": 0.5, "flops": 50, "params": 10}, {"accuracy": 0.4, "flops": 80, "params": 10},
                   {"accuracy": 0.9, "flops": 90, "params": 10})
    history = hypervolume_history(trials, ["accuracy", "flops"], {"accuracy": 0.0, "flops": 100})
    values = history["hypervolume"].tolist()
    assert values == sorted(values) and values[1] == values[0] and values[2] > values[1]


def grid_volume(losses: np.ndarray) -> float:
    """Brute force: the union of the boxes [point, 1] cut into a grid at every coordinate, each cell checked."""
    if len(losses) == 0:
        return 0.0
    edges = [np.unique(np.append(axis, 1.0)) for axis in losses.T]
    lower = np.stack(np.meshgrid(*[e[:-1] for e in edges], indexing="ij"), axis=-1).reshape(-1, losses.shape[1])
    size = np.prod(np.stack(np.meshgrid(*[np.diff(e) for e in edges], indexing="ij"), axis=-1), axis=-1).ravel()
    covered = (losses[None, :, :] <= lower[:, None, :]).all(axis=2).any(axis=1)
    return float(size[covered].sum())


def random_trials(seed: int, count: int = 40) -> pd.DataFrame:
    """Coarse values (ties, duplicates, dominated points, points outside the reference box) and unusable trials."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        row = {"accuracy": rng.integers(0, 11) / 10, "flops": float(rng.integers(1, 13)),
               "params": float(rng.integers(1, 13))}
        kind = rng.integers(0, 8)
        if kind == 0:
            row |= {"accuracy": math.nan, "state": "FAIL", "status": "failed"}
        elif kind == 1:
            row |= {"feasible": False, "status": "infeasible"}
        elif kind == 2:
            row |= {"state": "PRUNED", "status": "stopped_early"}
        rows.append(row)
    trials = frame(*rows)
    return trials.sample(frac=1, random_state=seed)  # the history sorts by trial number itself


@pytest.mark.parametrize("objectives", [["accuracy", "flops"], ["accuracy", "flops", "params"]])
@pytest.mark.parametrize("seed", range(6))
def test_hypervolume_history_equals_a_recomputation_for_every_prefix(objectives, seed):
    trials = random_trials(seed)
    reference = {"accuracy": 0.0, "flops": 10.0, "params": 10.0}
    history = hypervolume_history(trials, objectives, reference)
    assert history["trial"].tolist() == list(range(len(trials))) and history["trials"].tolist() == list(range(1, 41))
    ordered = trials.sort_values("trial")
    losses = np.stack([1 - ordered["accuracy"].to_numpy(float)] + [ordered[name].to_numpy(float) / reference[name]
                                                                    for name in objectives[1:]], axis=1)
    finished = ((ordered["state"] == "COMPLETE") & (ordered["status"] == "trained")).to_numpy()
    usable = finished & (losses < 1).all(axis=1)  # infeasible ones have status "infeasible"
    for count, value in enumerate(history["hypervolume"], start=1):
        so_far = ordered.iloc[:count]
        assert value == pytest.approx(grid_volume(losses[:count][usable[:count]]), rel=1e-12, abs=1e-15)
        assert value == pytest.approx(hypervolume(pareto_front(so_far, objectives, strict=True), objectives, reference),
                                      rel=1e-12, abs=1e-15)
    assert history["hypervolume"].iloc[-1] > 0 and history["hypervolume"].is_monotonic_increasing


def test_baseline_gains_name_the_best_point_that_costs_no_more():
    trials = frame({"accuracy": 0.90, "flops": 300, "params": 30, "baseline": "vanilla"},
                   {"accuracy": 0.93, "flops": 200, "params": 20}, {"accuracy": 0.95, "flops": 400, "params": 40})
    front = pareto_front(trials, ["accuracy", "flops"])
    (line,) = baseline_gains(trials, front)
    assert "vs vanilla (trial 0" in line and "trial 1 reaches 93.0% (+3.0 points)" in line and "(-33.3%)" in line


def test_format_front_with_gains_shows_the_difference_from_the_baseline():
    from ulsam_nas.report import format_front

    trials = frame({"accuracy": 0.90, "flops": 300e6, "params": 3e6, "baseline": "vanilla", "summary": "v2 w1"},
                   {"accuracy": 0.93, "flops": 150e6, "params": 1e6, "summary": "v2 w0.5"})
    front = pareto_front(trials, ["accuracy", "flops"])
    text = format_front(front, gains=trials.iloc[0])
    assert "vs vanilla (points)" in text.splitlines()[0]
    assert "+3.0" in text and "-50.0%" in text


def test_vectorised_front_matches_the_pairwise_definition():
    import numpy as np

    from ulsam_nas.report import non_dominated

    rng = np.random.default_rng(0)
    losses = rng.integers(0, 6, size=(60, 3)).astype(float)  # many ties
    expected = [not any((other <= point).all() and (other < point).any() for other in losses) for point in losses]
    assert non_dominated(losses).tolist() == expected


def test_noise_aware_front_keeps_points_beaten_by_less_than_the_noise():
    sigma = 0.01  # one point each: a difference counts beyond 2.83 points
    trials = frame(
        {"accuracy": 0.90, "flops": 100, "params": 10, "accuracy_sigma": sigma},  # 0: cheapest
        {"accuracy": 0.89, "flops": 150, "params": 10, "accuracy_sigma": sigma},  # 1: beaten by 0 by 1 point: kept
        {"accuracy": 0.85, "flops": 160, "params": 10, "accuracy_sigma": sigma},  # 2: beaten by 0 by 5 points: out
        {"accuracy": 0.95, "flops": 200, "params": 10, "accuracy_sigma": sigma},  # 3: most accurate
        {"accuracy": 0.95, "flops": 250, "params": 10, "accuracy_sigma": sigma},  # 4: as accurate as 3, costlier: kept
    )
    assert pareto_front(trials, ["accuracy", "flops"], strict=True)["trial"].tolist() == [0, 3]
    assert pareto_front(trials, ["accuracy", "flops"])["trial"].tolist() == [0, 1, 3, 4]
    # without a noise estimate (or with sigma 0) both are the plain Pareto front
    plain = trials.assign(accuracy_sigma=float("nan"))
    assert pareto_front(plain, ["accuracy", "flops"])["trial"].tolist() == [0, 3]
    assert pareto_front(trials.assign(accuracy_sigma=0.0), ["accuracy", "flops"])["trial"].tolist() == [0, 3]


def test_a_gain_within_the_noise_is_worded_on_par():
    trials = frame({"accuracy": 0.900, "flops": 300, "params": 30, "baseline": "vanilla", "accuracy_sigma": 0.01},
                   {"accuracy": 0.914, "flops": 200, "params": 20, "accuracy_sigma": 0.01},  # +1.4: within noise
                   {"accuracy": 0.905, "flops": 100, "params": 10, "accuracy_sigma": 0.01})  # cheapest, on par
    front = pareto_front(trials, ["accuracy", "flops"])
    (line,) = baseline_gains(trials, front)
    assert "+1.4" not in line and "trial 2 is on par (within noise) at 90.5% ± 1.0, 100 FLOPs (-66.7%)" in line
    clear = trials.assign(accuracy=[0.90, 0.95, 0.80])
    (line,) = baseline_gains(clear, pareto_front(clear, ["accuracy", "flops"]))
    assert "trial 1 reaches 95.0% ± 1.0 (+5.0 ± 1.4 points)" in line


def test_format_front_shows_each_accuracy_with_its_uncertainty_and_marks_the_noise_kept():
    from ulsam_nas.report import format_front

    trials = frame({"accuracy": 0.90, "flops": 300e6, "params": 3e6, "baseline": "vanilla", "summary": "v2 w1",
                    "accuracy_sigma": 0.01},
                   {"accuracy": 0.914, "flops": 150e6, "params": 1e6, "summary": "v2 w0.5", "accuracy_sigma": 0.01})
    front = pareto_front(trials, ["accuracy", "flops"])
    front["strict_front"] = front["trial"].isin(pareto_front(trials, ["accuracy", "flops"], strict=True)["trial"])
    text = format_front(front, gains=trials.iloc[0])
    assert "91.4% ± 1.0" in text and "on par (within noise)" in text and "(itself)" in text
    assert "+1.4" not in text and "~: another point is better on every objective" in text


def test_front_shows_latency_with_its_standard_error():
    from ulsam_nas.report import format_front

    trials = frame({"accuracy": 0.9, "flops": 100, "params": 10, "latency_ms": 8.5, "latency_sigma_ms": 0.12})
    text = format_front(pareto_front(trials, ["accuracy", "latency"]))
    assert "8.50 ± 0.12" in text

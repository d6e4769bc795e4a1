"""A study's results as data, on hand-made trials: fronts with ties, infeasible and unfinished points, noise,
and the comparison with baselines."""

import math

import pytest

from tests.scored import trials
from ulsam_nas.record import StudyMeta
from ulsam_nas.report import StudyResults, pareto_front


def front_of(rows, objectives=("accuracy", "flops"), strict=False):
    return [point.trial.number for point in pareto_front(rows, objectives, strict)]


def test_front_keeps_only_non_dominated_feasible_points():
    rows = trials(
        {"accuracy": 0.90, "flops": 100},  # 0: front
        {"accuracy": 0.95, "flops": 200},  # 1: front
        {"accuracy": 0.85, "flops": 150},  # 2: dominated by 0
        {"accuracy": 0.99, "flops": 50, "feasible": False, "status": "infeasible"},  # 3: infeasible
        {"accuracy": 0.99, "flops": 60, "state": "PRUNED", "status": "stopped_early"},  # 4: unfinished
        {"flops": 10, "params": 1, "state": "FAIL", "status": "failed"},  # 5: failed
    )
    assert front_of(rows) == [0, 1]  # sorted by FLOPs


def test_exact_ties_appear_once_as_the_earliest_trial():
    rows = trials({"accuracy": 0.9, "flops": 100}, {"accuracy": 0.9, "flops": 100, "status": "reused"},
                  {"accuracy": 0.9, "flops": 120})  # same accuracy, costlier: dominated
    assert front_of(rows) == [0]


def test_equal_accuracy_different_cost_keeps_the_cheaper_only_but_other_objectives_can_rescue():
    rows = trials({"accuracy": 0.9, "flops": 100, "params": 20}, {"accuracy": 0.9, "flops": 120, "params": 10})
    assert front_of(rows) == [0]
    assert sorted(front_of(rows, ("accuracy", "flops", "params"))) == [0, 1]


def test_no_feasible_trial_gives_an_empty_front_and_no_budgets_mean_all_feasible():
    assert front_of(trials({"accuracy": 0.9, "feasible": False, "status": "infeasible"})) == []
    assert front_of(trials({"accuracy": 0.9, "feasible": None})) == [0]


def test_noise_aware_front_keeps_points_beaten_by_less_than_the_noise():
    sigma = 0.01  # one point each: a difference counts beyond 2.83 points
    rows = trials(
        {"accuracy": 0.90, "flops": 100, "sigma": sigma},  # 0: cheapest
        {"accuracy": 0.89, "flops": 150, "sigma": sigma},  # 1: beaten by 0 by 1 point: kept
        {"accuracy": 0.85, "flops": 160, "sigma": sigma},  # 2: beaten by 0 by 5 points: out
        {"accuracy": 0.95, "flops": 200, "sigma": sigma},  # 3: most accurate
        {"accuracy": 0.95, "flops": 250, "sigma": sigma},  # 4: as accurate as 3, costlier: kept
    )
    assert front_of(rows, strict=True) == [0, 3]
    front = pareto_front(rows, ("accuracy", "flops"))
    assert [p.trial.number for p in front] == [0, 1, 3, 4] and [p.strict for p in front] == [True, False, True, False]
    # without a noise estimate (or with sigma 0) both are the plain Pareto front
    assert front_of(trials(*[{"accuracy": r.accuracy, "flops": r.value("flops")} for r in rows])) == [0, 3]
    assert front_of(trials(*[{"accuracy": r.accuracy, "flops": r.value("flops"), "sigma": 0.0} for r in rows])) == [0, 3]


def results(*rows, reference=None) -> StudyResults:
    meta = StudyMeta(objectives=("accuracy", "flops"), reference_point=reference or {"accuracy": 0.0, "flops": 200})
    return StudyResults("s", meta, tuple(trials(*rows)))


def test_hypervolume_of_the_strict_front_in_reference_units():
    # As losses (1 - accuracy, flops / 200): (0.5, 0.25) and (0.0, 0.5): 0.375 + 0.5 - 0.25
    assert results({"accuracy": 0.5, "flops": 50}, {"accuracy": 1.0, "flops": 100}).hypervolume() == pytest.approx(0.625)
    history = results({"accuracy": 0.5, "flops": 50}, {"accuracy": 0.4, "flops": 80},
                      {"accuracy": 0.9, "flops": 90}).hypervolume_history()["hypervolume"].tolist()
    assert history == sorted(history) and history[1] == history[0] and history[2] > history[1]


def test_a_baseline_is_compared_with_the_best_point_that_costs_no_more():
    (item,) = results({"accuracy": 0.90, "flops": 300, "baseline": "vanilla"}, {"accuracy": 0.93, "flops": 200},
                      {"accuracy": 0.95, "flops": 400}).comparisons()
    assert item.baseline.number == 0 and item.best.number == 1 and item.on_par is None
    assert item.difference == pytest.approx(0.03)


def test_a_gain_within_the_noise_names_the_cheapest_point_on_par_instead():
    (item,) = results({"accuracy": 0.900, "flops": 300, "baseline": "vanilla", "sigma": 0.01},
                      {"accuracy": 0.914, "flops": 200, "sigma": 0.01},  # +1.4: within noise
                      {"accuracy": 0.905, "flops": 100, "sigma": 0.01}).comparisons()  # cheapest, on par
    assert item.best.number == 1 and item.on_par.number == 2
    (itself,) = results({"accuracy": 0.95, "flops": 100, "baseline": "vanilla"}, {"accuracy": 0.9, "flops": 200}).comparisons()
    assert itself.itself


def test_refined_results_stand_on_the_refined_trials_only():
    rows = trials({"accuracy": 0.5, "flops": 50}, {"accuracy": 0.6, "flops": 100})
    refined = [rows[0].__class__(rows[0].record, 0.5, math.nan, 0.5, math.nan, refined_seeds=2, refined_accuracy=0.7,
                                 refined_sigma=0.01), rows[1]]
    view = StudyResults("s", StudyMeta(), tuple(refined))
    assert view.refined and [t.number for t in view.final()] == [0] and view.final()[0].accuracy == 0.7
    assert view.trial(0).basis == "refined" and view.trial(1).basis == "proxy"

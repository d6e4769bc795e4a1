"""The ladder's predictors and report on a stored reference (numbers made up; nothing trained)."""

import math

import numpy as np

from benchmarks import proxy_fidelity, reference
from benchmarks.proxy_fidelity import extrapolated, predictors, report


def test_a_curve_is_extrapolated_in_log_images_seen():
    curve = [0.5, 0.6]  # +0.1 per doubling of the images seen
    assert math.isclose(extrapolated(curve, 1000, 4000), 0.7)
    assert math.isclose(extrapolated([0.4, 0.4, 0.4], 10, 1e6), 0.4)


def test_each_rung_scores_by_accuracy_loss_sum_and_its_extrapolated_curve():
    names = ["a", "b"]
    runs = {f"E|{n}|0": {"accuracy": acc, "curve": [acc - 0.1, acc], "losses": [1.0, loss]}
            for n, acc, loss in (("a", 0.6, 0.5), ("b", 0.7, 0.8))}
    scores = predictors(runs, "E", names, [0], reference_images=4 * 10_000)
    assert np.allclose(scores["accuracy"], [[0.6, 0.7]])
    assert np.allclose(scores["training-loss sum"], [[-1.5, -1.8]])  # a trained to the lower loss: ranked higher
    assert np.allclose(scores["curve extrapolated"], [[0.7, 0.8]])  # a doubling beyond the second epoch
    one_epoch = {f"D|{n}|0": {"accuracy": 0.5, "curve": [0.5], "losses": [1.0]} for n in names}
    assert "curve extrapolated" not in predictors(one_epoch, "D", names, [0], 1e5)


def test_the_report_ranks_every_predictor_against_the_reference_and_shows_the_ceiling():
    names = list(reference.NETWORKS)[:4]
    truth = {"dataset": "made up", "runs": {}}
    for index, name in enumerate(names):
        for seed in (0, 1):
            truth["runs"][reference.key(name, seed)] = {"top1": [0.5, 0.6 + 0.05 * index + 0.01 * seed],
                                                        "epoch_seconds": [10.0, 10.0]}
    store = {"train_images": 25_000, "machine": "test", "runs": {
        f"C|{name}|{seed}": {"accuracy": 0.4 + 0.02 * index, "curve": [0.3, 0.4 + 0.02 * index],
                             "losses": [1.0, 1.0 - 0.1 * index], "seconds": 5.0}
        for index, name in enumerate(names) for seed in (0, 1)}}
    text = report(store, truth)
    assert "the ceiling) | 1 | 20 | 1 | +1.00" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| C:")}
    assert set(rows) == {f"| C: {proxy_fidelity.LADDER['C'].describe()}, {label}"
                         for label in ("accuracy", "training-loss sum", "curve extrapolated")}
    assert all("| +1.00 (" in row and "| 3 |" in row for row in rows.values())  # same order as the reference
    assert "FLOPs alone" in text and "params alone" in text

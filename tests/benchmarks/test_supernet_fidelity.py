"""The supernet fidelity report on stored scores (numbers made up; nothing trained)."""

from pathlib import Path

import numpy as np

from benchmarks import reference
from benchmarks.supernet_fidelity import RESULTS, fitted, networks_of, report, runs_folder, variant_name


def test_the_report_ranks_the_supernet_against_the_reference_with_its_cost():
    names = list(reference.NETWORKS)[:5]
    truth = {"runs": {reference.key(n, 0): {"top1": [0.5, 0.6 + 0.02 * i], "epoch_seconds": [600.0, 600.0]}
                      for i, n in enumerate(names)}}
    scores = {n: [0.3 + 0.01 * i, 0.31 + 0.01 * i] for i, n in enumerate(names)}  # the reference's order exactly
    store = {"runs": {"w1.0": {"width": 1.0, "scores": scores, "train_seconds": 7200.0, "score_seconds": 6.0}},
             "settings": {"epochs": 20, "resolution": 32}, "machine": "m"}
    table = report(store, truth)
    assert "| supernet score | +1.00" in table and "| 3 |" in table  # tau 1, all three best among the best five
    # 60 children: 2 h + 6 min against 60 x 20 min = 20 h
    assert "cost for 60 children: supernets 2.00 h + 60 x 6.0 s scoring = 2.10 h, against 60 x 20 min stand-alone = 20 h: 1/10 of it" in table
    assert "nothing to compare yet" in report({"runs": {}}, truth)
    sliced = {"runs": {"wall": store["runs"]["w1.0"] | {"width": None}}, "settings": store["settings"], "machine": "m"}
    assert "supernets of widths all (channels sliced)" in report(sliced, truth)


def test_each_width_scores_the_reference_networks_of_that_width():
    assert set(networks_of(0.5)) == {"w0.5 vanilla", "w0.5 drop 10,13,16 + ulsam 17:4",
                                      "w0.5 drop 3,6,9,10,16 + ulsam 4:2,11:4", "w0.5 drop all 10"}
    assert sum(len(networks_of(w)) for w in (0.5, 0.75, 1.0)) == len(reference.NETWORKS)
    assert networks_of(None) == reference.NETWORKS  # the supernet of every width (channels sliced) scores them all


def test_each_variant_keeps_its_own_results_file_and_the_first_keeps_its_name():
    names = {variant_name(s, w, z) for s in ("uniform", "sandwich") for w in ("separate", "sliced") for z in (True, False)}
    assert len(names) == 8
    assert variant_name("uniform", "separate", True) == "uniform"  # the file stored before the other variants
    assert variant_name("sandwich-distill", "sliced", False) == "sandwich-distill-sliced-no-zero-init"
    assert variant_name("uniform", "sliced", True, 48) == "uniform-sliced-48px"
    assert runs_folder(Path(RESULTS.format(variant="uniform-sliced"))).name == "supernet-uniform-sliced"  # as before
    assert runs_folder(Path("benchmarks/supernet/cifar5-dev-uniform-sliced-20ep.json")).name == "supernet-uniform-sliced-20ep"


def test_the_fitted_predictor_predicts_each_network_from_the_others_only():
    names = list(reference.NETWORKS)[:8]
    scores = np.linspace(0.3, 0.5, len(names))
    flops = [3e8 - 2e7 * i for i in range(len(names))]
    exact = 0.2 + 0.9 * scores  # the reference linear in the score: every held-out network predicted exactly
    assert np.allclose(fitted(scores, names, flops, exact), exact)
    noisy = exact.copy()
    noisy[3] += 0.05  # a network off the line cannot pull its own prediction towards itself
    assert abs(fitted(scores, names, flops, noisy)[3] - noisy[3]) > 0.04


def test_the_report_names_the_best_proxy_rung_that_fits_in_the_supernets_cost():
    names = list(reference.NETWORKS)[:6]
    truth = {"runs": {reference.key(n, 0): {"top1": [0.6 + 0.02 * i], "epoch_seconds": [600.0]}
                      for i, n in enumerate(names)}}
    scores = {n: [0.3 + 0.01 * i] for i, n in enumerate(names)}
    store = {"runs": {"w1.0": {"width": 1.0, "scores": scores, "train_seconds": 3600.0, "score_seconds": 6.0}},
             "settings": {"epochs": 20, "resolution": 32}, "machine": "m"}
    ladder = {"runs": {f"{rung}|{n}|0": {"accuracy": acc(i), "seconds": seconds}
                       for rung, seconds, acc in (("A", 10.0, lambda i: 0.5 - 0.01 * i),  # cheap, reversed
                                                  ("D", 50.0, lambda i: 0.5 + 0.01 * i),  # in the supernet's cost for 60
                                                  ("G", 400.0, lambda i: 0.5 + 0.01 * i))  # too dear for either
                       for i, n in enumerate(names)}}
    lines = {line.split(":")[0]: line for line in report(store, truth, ladder).splitlines() if line.startswith("cost for")}
    assert "rung D (" in lines["cost for 60 children"] and "tau +1.00 (one seed)" in lines["cost for 60 children"]
    # 300 children cost 1.5 h: only rung A (50 min) fits, and it ranks the networks backwards
    assert "rung A (" in lines["cost for 300 children"] and "tau -1.00" in lines["cost for 300 children"]
    assert "linear fit on the reference (leave-one-out)" in report(store, truth, ladder)

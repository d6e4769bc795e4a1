"""A study's results in words: the front table, the baselines' comparison, the noise, rank agreement."""

import dataclasses

from tests.scored import trials
from ulsam_nas.noise import NoiseEstimate
from ulsam_nas.present.study import agreement_lines, baseline_notes, comparison_lines, front_text, noise_line
from ulsam_nas.ranks import RankAgreement
from ulsam_nas.record import StudyMeta
from ulsam_nas.report import StudyResults, pareto_front
from ulsam_nas.study_records import SkippedBaseline


def results(*rows) -> StudyResults:
    return StudyResults("s", StudyMeta(objectives=("accuracy", "flops")), tuple(trials(*rows)))


def test_a_gain_is_worded_with_its_uncertainty_and_a_gain_within_noise_is_on_par():
    (line,) = comparison_lines(results({"accuracy": 0.90, "flops": 300, "baseline": "vanilla"},
                                       {"accuracy": 0.93, "flops": 200}, {"accuracy": 0.95, "flops": 400}).comparisons())
    assert "vs vanilla (trial 0" in line and "trial 1 reaches 93.0% (+3.0 points)" in line and "(-33.3%)" in line
    (line,) = comparison_lines(results({"accuracy": 0.900, "flops": 300, "baseline": "vanilla", "sigma": 0.01},
                                       {"accuracy": 0.914, "flops": 200, "sigma": 0.01},
                                       {"accuracy": 0.905, "flops": 100, "sigma": 0.01}).comparisons())
    assert "+1.4" not in line and "trial 2 is on par (within noise) at 90.5% ± 1.0, 100 FLOPs (-66.7%)" in line
    (line,) = comparison_lines(results({"accuracy": 0.90, "flops": 300, "baseline": "vanilla", "sigma": 0.01},
                                       {"accuracy": 0.95, "flops": 200, "sigma": 0.01}).comparisons())
    assert "trial 1 reaches 95.0% ± 1.0 (+5.0 ± 1.4 points)" in line


def test_the_front_table_shows_each_accuracy_with_its_uncertainty_and_marks_the_noise_kept():
    rows = trials({"accuracy": 0.90, "flops": 300e6, "params": 3e6, "baseline": "vanilla", "summary": "v2 w1",
                   "sigma": 0.01},
                  {"accuracy": 0.914, "flops": 150e6, "params": 1e6, "summary": "v2 w0.5", "sigma": 0.01})
    text = front_text(pareto_front(rows, ("accuracy", "flops")), versus=rows[0])
    assert "vs vanilla (points)" in text.splitlines()[0] and "-50.0%" in text
    assert "91.4% ± 1.0" in text and "on par (within noise)" in text and "(itself)" in text
    assert "+1.4" not in text and "~: another point is better on every objective" in text


def test_the_front_table_shows_latency_with_its_standard_error():
    rows = trials({"accuracy": 0.9, "flops": 100, "latency_ms": 8.5, "latency_sigma_ms": 0.12})
    assert "8.50 ± 0.12" in front_text(pareto_front(rows, ("accuracy", "latency")))


def test_the_noise_line_says_the_spread_or_that_it_was_not_measured():
    noise = NoiseEstimate(validation_images=359, accuracies=(0.322, 0.440, 0.280), seeds=(0, 1, 2))
    assert "seed std 8.3 points" in noise_line(noise) and "on par" in noise_line(noise)
    assert "not measured (--noise-seeds 1" in noise_line(NoiseEstimate(400, reason="--noise-seeds 1: fewer than 2 seeds"))
    assert "made before" in noise_line(NoiseEstimate.unmeasured(359))


def test_a_proxy_no_better_than_flops_is_warned_about():
    proxy, flops = RankAgreement("proxy accuracy", 0.1, -0.5, 0.6, 8), RankAgreement("FLOPs alone", -0.3, -0.8, 0.3, 8)
    lines = agreement_lines([proxy, flops])
    assert lines[0] == "  rank agreement with the refined accuracy (n = 8):" and lines[-1].startswith("warning:")
    assert "Kendall tau +0.10 (95% interval -0.50 to +0.60)" in lines[1]
    assert not agreement_lines([RankAgreement("proxy accuracy", 0.9, 0.5, 1.0, 8), flops])[-1].startswith("warning")


def test_a_skipped_baseline_says_why_and_names_the_ulsam_slots_the_search_leaves_out():
    lines = baseline_notes([SkippedBaseline("paper", outside_space=True, unsearched_ulsam=(15,)),
                            SkippedBaseline("wide", outside_space=True),
                            SkippedBaseline("vanilla", over_budget=("flops 300M > 200M",))], "mobilenet_v2")
    assert "ULSAM after block 15" in lines[0] and "leaves out" in lines[0]
    assert "outside the searched space mobilenet_v2" in lines[1] and "over budget (flops 300M > 200M)" in lines[2]


def test_a_supernet_study_says_its_scores_and_noise_are_the_supernets():
    flops = RankAgreement("FLOPs alone", 0.5, 0.1, 0.8, 6)
    weak = agreement_lines([RankAgreement("supernet score", 0.2, -0.3, 0.6, 6), flops])
    assert "supernet score: Kendall tau +0.20" in weak[1] and "--supernet-epochs" in weak[-1]
    assert "--proxy-epochs" in agreement_lines([RankAgreement("proxy accuracy", 0.2, -0.3, 0.6, 6), flops])[-1]
    noise = NoiseEstimate(500, (0.80, 0.81, 0.80), (0, 1, 2), "v2 w1")
    line = noise_line(noise, "supernet")
    assert "scored by the supernet with BatchNorm re-estimated" in line and "lower bound" in line
    assert "proxy-trained with seeds 0, 1, 2" in noise_line(noise)


def test_a_refined_supernet_front_names_the_supernets_score_beside_the_refined_accuracy():
    rows = [dataclasses.replace(t, refined_seeds=2, refined_accuracy=0.85, refined_sigma=0.01).as_refined()
            for t in trials({"accuracy": 0.70, "flops": 100, "sigma": 0.02})]
    front = pareto_front(rows, ("accuracy", "flops"))
    header = front_text(front, evaluator="supernet").splitlines()[0]
    assert "refined accuracy" in header and "supernet score" in header and "proxy" not in header
    assert "proxy accuracy" in front_text(front).splitlines()[0]

import pytest

from ulsam_nas.budgets import Budget, parse_budget
from ulsam_nas.costs import CostReport
from ulsam_nas.latency import Latency


@pytest.mark.parametrize("text,metric,limit", [
    ("300M-flops", "flops", 300e6), ("1.5G-flops", "flops", 1.5e9), ("2.5M-params", "params", 2.5e6),
    ("800K-params", "params", 800e3), ("15ms-latency", "latency", 15.0), ("7.5ms-latency", "latency", 7.5),
    (" 300m-FLOPS ", "flops", 300e6), ("1000000-params", "params", 1e6),
])
def test_parses_every_documented_form(text, metric, limit):
    assert parse_budget(text) == Budget(metric, limit)


@pytest.mark.parametrize("text", [
    "300", "300M", "flops", "300X-flops", "300M-macs", "-5M-flops", "0M-flops", "15-latency", "15s-latency",
    "300ms-flops", "M-flops", "1e6-flops", "",
])
def test_malformed_budgets_are_clear_value_errors(text):
    with pytest.raises(ValueError, match="budget"):
        parse_budget(text)


def test_error_says_what_would_be_valid():
    with pytest.raises(ValueError, match=r"use <number><K\|M\|G>-flops, <number><K\|M\|G>-params or <number>ms-latency"):
        parse_budget("300M")


def test_violation_is_relative_excess():
    report = CostReport(flops=330_000_000, params=2_000_000, resolution=224, latency=measured(9.0, 0.0))
    assert parse_budget("300M-flops").violation(report) == pytest.approx(0.1)
    assert parse_budget("4M-params").violation(report) == pytest.approx(-0.5)
    assert parse_budget("10ms-latency").violation(report) == pytest.approx(-0.1)
    assert parse_budget("300M-flops").describe_excess(report) == "flops 330.00M > 300M-flops budget"


def test_latency_budget_needs_a_measured_latency():
    with pytest.raises(ValueError, match="latency was not measured"):
        parse_budget("10ms-latency").violation(CostReport(flops=1, params=1, resolution=224))


def test_round_trips_through_text():
    for text in ("300M-flops", "2.5M-params", "15ms-latency"):
        assert str(parse_budget(text)) == text


def measured(ms: float, sigma: float) -> Latency:
    return Latency(ms, sigma, "onnxruntime", 1, "cpu", "interleaved")


def test_a_latency_budget_allows_for_the_measurement_noise():
    budget = parse_budget("10ms-latency")
    noisy = CostReport(flops=1, params=1, resolution=224, latency=measured(10.3, 0.2))
    assert budget.violation(noisy) <= 0  # 10.3 - 2 x 0.2 < 10: within noise of the limit
    clearly = CostReport(flops=1, params=1, resolution=224, latency=measured(10.6, 0.2))
    assert budget.violation(clearly) > 0 and "± 0.20ms" in budget.describe_excess(clearly)
    exact = CostReport(flops=1, params=1, resolution=224, latency=measured(10.3, 0.0))
    assert budget.violation(exact) == pytest.approx(0.03)  # no uncertainty recorded: the plain rule

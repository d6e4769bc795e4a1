"""The metric table: one definition per metric, shared by budgets, objectives, reports and plots."""

import pytest

from ulsam_nas.costs import CostReport
from ulsam_nas.latency import Latency
from ulsam_nas.metrics import COST_METRICS, METRICS, get_metric


def test_every_cost_metric_is_a_cost_report_field_and_minimised():
    report = CostReport(flops=1, params=2, resolution=224, latency=Latency(3.0, 0.1, "onnxruntime", 1, "cpu", "direct"))
    for name in COST_METRICS:
        metric = METRICS[name]
        assert not metric.maximise and metric.direction == "minimize"
        assert getattr(report, metric.column) is not None


def test_accuracy_is_maximised_and_losses_point_the_same_way():
    accuracy = get_metric("accuracy")
    assert accuracy.direction == "maximize" and accuracy.as_loss(0.9) < accuracy.as_loss(0.8)
    assert get_metric("flops").as_loss(1e6) < get_metric("flops").as_loss(2e6)


def test_flops_are_labelled_as_multiply_accumulates():
    assert "multiply-accumulates" in get_metric("flops").axis_label and get_metric("flops").unit == "MACs"


def test_unknown_metric_names_the_valid_ones():
    with pytest.raises(ValueError, match="--x: unknown metric 'speed'; valid: accuracy, flops, params, latency"):
        get_metric("speed", "--x")

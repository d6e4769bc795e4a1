"""What a search and a refinement print: the refinement's summary names what scored the trials before it."""

from ulsam_nas.present.runs import refine_report_text
from ulsam_nas.refine import RefineReport
from ulsam_nas.training.settings import RefineSettings


def report(evaluator: str) -> RefineReport:
    return RefineReport("s", RefineSettings(), 4, 12, (), 6, 0, 30.0, (), (), (), evaluator)


def test_the_refinement_summary_compares_with_the_proxys_epochs_or_names_the_supernet():
    assert "12 epochs against the proxy's 4, all the training images; 6 run(s)" in refine_report_text(report("proxy"))
    line = refine_report_text(report("supernet"))
    assert "12 epochs (the trials were scored with the supernet's weights)" in line and "proxy" not in line

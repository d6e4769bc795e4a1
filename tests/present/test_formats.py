"""How figures are written: counts, accuracies with their ±, differences worded against the noise, tables."""

import math

from ulsam_nas.present.formats import format_accuracy, format_count, format_table, word_difference


def test_a_gain_within_the_noise_is_on_par_never_a_number_of_points():
    # sigma 1.0 point each: the difference has 1.41 points of uncertainty and must exceed 2.83 points
    assert word_difference(0.014, 0.01, 0.01) == "on par (within noise)"
    assert word_difference(-0.02, 0.01, 0.01) == "on par (within noise)"
    assert word_difference(0.031, 0.01, 0.01) == "+3.1 ± 1.4 points"
    assert word_difference(-0.05, 0.01, 0.01) == "-5.0 ± 1.4 points"
    assert word_difference(0.014, math.nan, math.nan) == "+1.4 points"  # uncertainty unknown: the bare difference


def test_accuracy_is_shown_with_its_uncertainty():
    assert format_accuracy(0.932, 0.0123) == "93.2% ± 1.2"
    assert format_accuracy(0.932, math.nan) == "93.2%" and format_accuracy(math.nan, 0.01) == ""


def test_counts_and_tables():
    assert [format_count(v) for v in (999, 1234, 2_500_000, 3e9)] == ["999", "1.23K", "2.50M", "3.00G"]
    assert format_table([[1, None], ["long", "x"]], ["a", "b"]).splitlines() == ["a     b", "----  -", "1", "long  x"]

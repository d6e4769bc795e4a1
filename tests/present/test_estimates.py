"""Expected times in words: per trial, for the study, for a refinement."""

from tests.estimates import fixed, study
from ulsam_nas.present.estimates import refine_estimate_line, study_estimate_text
from ulsam_nas.present.formats import format_duration
from ulsam_nas.refine import RefineEstimate


def test_format_duration():
    assert [format_duration(s) for s in (4.4, 65, 3600 * 9.5)] == ["4s", "1m 05s", "9h 30m"]


def test_the_study_estimate_says_each_part():
    first, second = study_estimate_text(study(refine_images=2000)).splitlines()
    assert first.startswith("estimate: up to 40s per trial (largest candidate v2 w1")
    assert second.startswith("expected study time: up to 1h 12m (search 60 trials x 40s = 40m 00s, "
                             "noise runs 3 x 40s = 2m 00s, refinement 8 networks x 2 seeds x 1m 54s (6 epochs on "
                             "2000 images) = 30m 24s; an upper bound")
    assert "refinement 11 runs (8 networks x 2 seeds, 5 done) x 2m 00s" in study_estimate_text(study(refine_done=5))


def test_parts_not_run_are_left_out():
    line = study_estimate_text(study(noise_runs=0, refine_networks=0)).splitlines()[1]
    assert "noise" not in line and "refinement" not in line and "search 60 trials" in line
    after = study(remaining=0, noise_runs=0)  # the search is finished, the refinement is not
    assert study_estimate_text(after) == ("expected study time: up to 32m 00s (refinement 8 networks x 2 seeds x 2m 00s "
                                          "(12 epochs on 1000 images) = 32m 00s; an upper bound)")


def test_a_refinement_says_its_runs_and_time():
    line = refine_estimate_line(RefineEstimate(3, 2, 3, fixed(epochs=12), runs=3, processes=2))
    assert line.startswith("refinement: 3 run(s) to do (3 networks x 2 seeds; 3 of 6 done already) x up to 2m 00s, "
                           "2 side by side = up to 4m 00s (costliest network v2 w1: 12 epochs x 10 steps")

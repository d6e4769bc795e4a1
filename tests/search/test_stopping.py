from ulsam_nas.search.stopping import EarlierTrial, StoppingRule

RULE = StoppingRule(min_trials=3, margin=0.02, first_epoch=2)
CHEAP = [EarlierTrial((100.0,), (0.5, 0.9, 0.95)) for _ in range(3)]


def test_stops_a_candidate_clearly_below_no_costlier_peers():
    reason = RULE.check(2, 0.6, (200.0,), CHEAP)
    assert reason and "epoch 2" in reason and "median 90.0% of 3 earlier trials" in reason


def test_never_compares_with_costlier_trials():
    # The peers cost more than this candidate: it may be on the front whatever its accuracy.
    assert RULE.check(2, 0.1, (50.0,), CHEAP) is None


def test_needs_enough_peers_and_a_late_enough_epoch():
    assert RULE.check(2, 0.1, (200.0,), CHEAP[:2]) is None
    assert RULE.check(1, 0.1, (200.0,), CHEAP) is None


def test_within_the_margin_goes_on():
    assert RULE.check(2, 0.885, (200.0,), CHEAP) is None


def test_peers_that_did_not_reach_the_epoch_are_ignored():
    short = [EarlierTrial((100.0,), (0.9,)) for _ in range(5)]
    assert RULE.check(2, 0.1, (200.0,), short) is None


def test_all_cost_objectives_must_be_no_higher():
    mixed = [EarlierTrial((100.0, 9e6), (0.9, 0.9)) for _ in range(3)]
    assert RULE.check(2, 0.1, (200.0, 1e6), mixed) is None
    assert RULE.check(2, 0.1, (200.0, 9e6), mixed) is not None

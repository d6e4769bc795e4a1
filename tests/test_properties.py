"""Property-based: every generated config either builds and runs, or is rejected with a message; valid ones round-trip."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.costs import count_flops

placements = st.lists(st.fixed_dictionaries({"after": st.integers(-2, 21), "subspaces": st.integers(-1, 40)}), max_size=3)
configs = st.fixed_dictionaries({
    "backbone": st.sampled_from(["mobilenet_v1", "mobilenet_v2", "mobilenet_v3", ""]),
    "width": st.one_of(st.sampled_from([0.25, 0.35, 0.5, 0.75, 1.0, float("nan")]), st.floats(-1, 1.5)),
    "num_classes": st.integers(-1, 20),
    "drop": st.lists(st.integers(-1, 20), max_size=4),
    "ulsam": placements,
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_every_config_builds_and_runs_or_is_rejected_with_a_message(data):
    try:
        config = ArchConfig.from_dict(data)
    except ValueError as error:
        message = str(error)
        assert message and ":" in message  # names the field
        return
    assert ArchConfig.from_yaml(config.to_yaml()) == config
    assert ArchConfig.from_json(config.to_json()) == config
    model = build_model(config).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 32, 32))
    assert logits.shape == (1, config.num_classes) and torch.isfinite(logits).all()


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_config_or_a_value_error(text):
    try:
        ArchConfig.from_yaml(text)
    except ValueError as error:
        assert str(error)


V2_DROPPABLE = [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]


@pytest.mark.slow  # builds 30 full networks
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(V2_DROPPABLE)), st.sampled_from([0.35, 0.5, 1.0]),
       st.lists(st.tuples(st.integers(1, 17), st.sampled_from([1, 2, 4])), max_size=3, unique_by=lambda p: p[0]))
def test_any_drop_set_and_its_canonical_form_are_the_same_network(drop, width, placements):
    config = ArchConfig(width=width, num_classes=7, drop=sorted(drop),
                        ulsam=[{"after": after, "subspaces": g} for after, g in placements])
    try:
        canonical = config.canonical()
    except ValueError as error:  # two ULSAMs attending one block: refused, not silently changed
        assert "one ULSAM per block" in str(error)
        return
    assert canonical.canonical() == canonical and canonical.depths == config.depths
    ours, theirs = build_model(config), build_model(canonical)
    # the same layers in the same order: every parameter and buffer shape, hence FLOPs and params
    assert [t.shape for t in ours.state_dict().values()] == [t.shape for t in theirs.state_dict().values()]
    assert count_flops(ours, 64) == count_flops(theirs, 64)
    theirs.load_state_dict(dict(zip(theirs.state_dict(), ours.state_dict().values())))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(theirs.eval()(x), ours.eval()(x))  # with the same weights: the same outputs

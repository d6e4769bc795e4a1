"""Property-based: every generated config either builds and runs, or is rejected with a message; valid ones round-trip."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ulsam_nas import ArchConfig, build_model

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

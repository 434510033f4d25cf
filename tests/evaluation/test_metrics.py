"""The metric registry: keys, directions, protocols, errors."""

import pytest

from ganbench.evaluation.metrics import (
    Metric,
    checkpoint_mode,
    declare,
    get_metric,
    headline_metrics,
    higher_is_better,
    metrics_of,
)
from ganbench.registry import UnknownNameError


def test_toy_metrics_are_registered_with_directions_and_protocols():
    keys = [m.key for m in metrics_of("mixture")]
    assert keys == [
        "high_quality_fraction",
        "modes_captured",
        "reverse_kl",
        "modes_covered",
        "off_mode_mass",
        "wasserstein_1",
    ]
    assert headline_metrics() == ["modes_covered", "off_mode_mass", "wasserstein_1"]
    assert all(m.compute is not None and m.protocol for m in metrics_of("mixture"))
    lower = {m.key for m in metrics_of("mixture") if not m.higher_is_better}
    assert lower == {"reverse_kl", "off_mode_mass", "wasserstein_1"}
    assert not higher_is_better("fid") and higher_is_better("precision") and higher_is_better("classes_hit")
    assert higher_is_better("train/d_loss", default=True)  # undeclared: the caller's default


def test_checkpoint_mode_follows_the_direction():
    assert checkpoint_mode("eval/modes_captured") == "max"
    assert checkpoint_mode("eval/wasserstein_1") == "min"
    assert checkpoint_mode("final/fid") == "min"
    assert checkpoint_mode("train/g_loss") is None


def test_unknown_and_duplicate_metrics_are_one_line_errors():
    with pytest.raises(UnknownNameError) as info:
        get_metric("modes_coverd", field="--metrics")
    message = str(info.value)
    assert message.startswith("--metrics: unknown metric 'modes_coverd'; valid choices:")
    assert "modes_covered" in message and "\n" not in message
    with pytest.raises(ValueError, match="already registered"):
        declare(Metric("fid", False, "images", "again"))
    with pytest.raises(ValueError, match="valid choices: mixture, images"):
        declare(Metric("new_metric", True, "audio", "?"))

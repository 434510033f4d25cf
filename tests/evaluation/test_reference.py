"""Reference rows: data is the ceiling and uniform noise the floor of every headline metric."""

import pytest
import torch

from ganbench.data import DATASETS
from ganbench.evaluation.metrics import get_metric, headline_metrics
from ganbench.evaluation.reference import reference_scores, uniform_noise


@pytest.mark.parametrize(("name", "modes"), [("ring", 8), ("grid", 25)])
def test_data_beats_noise_on_every_headline_metric_in_every_draw(name, modes):
    mixture = DATASETS.build(name, {}, field="data.dataset")
    scores = reference_scores(mixture, 1000, draws=3)
    assert [len(v) for v in scores.values()] == [3, 3]
    for key in headline_metrics():
        sign = 1 if get_metric(key).higher_is_better else -1
        worst_data = min(sign * d[key] for d in scores["data"])
        best_noise = max(sign * d[key] for d in scores["noise"])
        assert worst_data > best_noise, key
    assert all(d["modes_covered"] == modes for d in scores["data"])
    # At 1,000 samples a grid mode needs 4 of them; uniform noise puts Poisson(0.7) there: rarely 4.
    assert all(d["modes_covered"] <= 1 for d in scores["noise"])
    again = reference_scores(mixture, 1000, draws=3)  # seeded: a table is reproducible
    assert again == scores


def test_noise_is_uniform_over_the_widened_box():
    mixture = DATASETS.build("grid", {}, field="data.dataset")
    noise = uniform_noise(mixture, 20000, torch.Generator().manual_seed(0))
    assert noise.min() >= -5 and noise.max() <= 5
    assert noise.mean(0).abs().max() < 0.1 and noise.var(0).tolist() == pytest.approx(
        [100 / 12] * 2, rel=0.05
    )

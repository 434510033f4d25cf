"""Scoring a generator on a toy mixture: every registered mixture metric, the plot, the dispatch."""

import pytest
import torch

from ganbench.data.toy import ring
from ganbench.evaluation.callback import evaluator_for
from ganbench.evaluation.metrics import metrics_of
from ganbench.evaluation.mixture import evaluate_mixture, score_mixture


class OnTheModes:
    """A 'generator' that returns samples of the data itself: it scores the metrics' ceiling."""

    def generate(self, n: int, seed: int) -> torch.Tensor:
        return ring().sample(n, torch.Generator().manual_seed(seed))


def test_evaluate_scores_every_mixture_metric_and_plots(tmp_path):
    metrics = evaluate_mixture(ring(), OnTheModes(), 500, 3, tmp_path / "s.png", "title")
    assert list(metrics) == [*(m.key for m in metrics_of("mixture")), "num_samples"]
    assert metrics["num_samples"] == 500 and isinstance(metrics["num_samples"], int)
    assert metrics["modes_covered"] == 8 and metrics["off_mode_mass"] < 0.03
    assert metrics == {**score_mixture(ring(), OnTheModes().generate(500, 3)), "num_samples": 500}
    assert (tmp_path / "s.png").stat().st_size > 0


def test_score_can_be_limited_to_some_keys():
    samples = OnTheModes().generate(200, 0)
    assert set(score_mixture(ring(), samples, {"modes_covered"})) == {"modes_covered", "num_samples"}


def test_each_dataset_kind_has_its_evaluator():
    assert evaluator_for(ring()) is evaluate_mixture
    with pytest.raises(ValueError, match="data.dataset: no evaluation for a str"):
        evaluator_for("ring")

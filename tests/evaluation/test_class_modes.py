"""Classifier-based mode metrics on hand-made predictions: coverage, classifier score, Stacked MNIST."""

import math

import pytest
import torch
from torch import nn

from ganbench.evaluation.class_modes import (
    class_coverage,
    classifier_score,
    classify,
    classify_stacked,
    stacked_mode_index,
    stacked_modes,
)


def one_hot(labels, k=10):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).float()


def test_coverage_uniform_one_hot():
    out = class_coverage(one_hot(torch.arange(100) % 10))
    assert out == {"classes_hit": 10.0, "class_kl": 0.0, "num_samples": 100.0}


def test_coverage_single_class_is_log_k():
    out = class_coverage(one_hot([7] * 50))
    assert out["classes_hit"] == 1.0
    assert out["class_kl"] == pytest.approx(math.log(10), abs=1e-12)


def test_coverage_three_to_one_over_two_classes():
    out = class_coverage(one_hot([0, 0, 0, 1] * 5))
    expected = 0.75 * math.log(0.75 * 10) + 0.25 * math.log(0.25 * 10)
    assert out["classes_hit"] == 2.0
    assert out["class_kl"] == pytest.approx(expected, abs=1e-12)


def test_coverage_non_finite_rows_get_no_class():
    probs = one_hot([0, 1, 2, 3])
    probs[1, 0] = float("nan")
    out = class_coverage(probs)
    assert out["classes_hit"] == 3.0 and out["num_samples"] == 4.0
    assert class_coverage(torch.full((3, 10), float("nan")))["class_kl"] == math.inf


def test_coverage_rejects_bad_shape():
    with pytest.raises(ValueError, match="^probs: "):
        class_coverage(torch.zeros(10))


def test_classifier_score_confident_balanced_is_k():
    logits = 100.0 * one_hot(torch.arange(1000) % 10)  # softmax is one-hot up to e^-100
    mean, std = classifier_score(logits, splits=10)
    assert mean == pytest.approx(10.0, abs=1e-4)
    assert std == pytest.approx(0.0, abs=1e-4)


def test_classifier_score_accepts_log_probabilities_with_zeros():
    log_probs = one_hot(torch.arange(20) % 10).log()  # -inf off the label
    mean, _ = classifier_score(log_probs, splits=2)
    assert mean == pytest.approx(10.0, abs=1e-12)


def test_classifier_score_identical_predictions_is_one():
    logits = torch.randn(1, 10).expand(60, 10)
    mean, std = classifier_score(logits, splits=3)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_classifier_score_matches_hand_computation():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 4, generator=gen, dtype=torch.float64) * 2
    scores = []
    for part in logits.split(4):  # splits=3 of 12 rows
        p = [[math.exp(v) for v in row] for row in part.tolist()]
        p = [[v / sum(row) for v in row] for row in p]
        py = [sum(row[k] for row in p) / len(p) for k in range(4)]
        kl = [sum(row[k] * math.log(row[k] / py[k]) for k in range(4)) for row in p]
        scores.append(math.exp(sum(kl) / len(kl)))
    mean = sum(scores) / 3
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / 3)
    assert classifier_score(logits, splits=3) == pytest.approx((mean, std), abs=1e-12)


def test_classifier_score_matches_torch_fidelity():
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = torch.randn(100, 10, generator=torch.Generator().manual_seed(1)) * 3
    ref = metric_isc.isc_features_to_metric(logits, splits=5, shuffle=False)
    mean, std = classifier_score(logits, splits=5)
    assert mean == pytest.approx(ref[metric_isc.KEY_METRIC_ISC_MEAN], rel=1e-9)
    assert std == pytest.approx(ref[metric_isc.KEY_METRIC_ISC_STD], rel=1e-9)


def test_classifier_score_rejects_too_many_splits():
    with pytest.raises(ValueError, match="^splits: "):
        classifier_score(torch.zeros(5, 10), splits=6)


def all_triples():
    d = torch.arange(1000)
    return torch.stack([d // 100, d // 10 % 10, d % 10], dim=1)


def test_stacked_mode_index_mapping():
    assert stacked_mode_index(torch.tensor([[3, 0, 7], [0, 0, 0], [9, 9, 9], [0, 4, 2]])).tolist() == [
        307,
        0,
        999,
        42,
    ]
    assert torch.equal(stacked_mode_index(all_triples()), torch.arange(1000))


def test_stacked_all_modes_equally():
    out = stacked_modes(all_triples().repeat(3, 1))
    assert out == {"modes_captured": 1000.0, "stacked_kl": 0.0, "num_samples": 3000.0}


def test_stacked_single_mode_is_log_1000():
    out = stacked_modes(torch.tensor([[1, 2, 3]]).repeat(26, 1))
    assert out["modes_captured"] == 1.0
    assert out["stacked_kl"] == pytest.approx(math.log(1000), abs=1e-12)


def test_stacked_rejects_bad_digits():
    with pytest.raises(ValueError, match="^digits: "):
        stacked_modes(torch.tensor([[1, 2, 10]]))
    with pytest.raises(ValueError, match="^digits: "):
        stacked_modes(torch.zeros(4, 2, dtype=torch.long))


class MeanBrightness(nn.Module):
    """A stand-in classifier: digit = round(4.5 * (mean pixel + 1)), as one-hot logits."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        digit = (4.5 * (x.mean(dim=(1, 2, 3)) + 1)).round().long().clamp(0, 9)
        return 10.0 * one_hot(digit)


def image_of(digit, channels=1):
    return torch.full((channels, 28, 28), digit / 4.5 - 1)


def test_classify_batches_and_restores_mode():
    clf = MeanBrightness().train()
    images = torch.stack([image_of(d % 10) for d in range(25)])
    logits = classify(clf, images, batch_size=4)
    assert logits.shape == (25, 10)
    assert logits.argmax(1).tolist() == [d % 10 for d in range(25)]
    assert clf.training
    with pytest.raises(ValueError, match="^images: "):
        classify(clf, torch.zeros(2, 3, 28, 28))


def test_classify_stacked_keeps_channel_order():
    triples = [(3, 0, 7), (9, 1, 4)]
    images = torch.stack([torch.cat([image_of(d) for d in t]) for t in triples])
    digits = classify_stacked(MeanBrightness(), images, batch_size=5)
    assert digits.tolist() == [list(t) for t in triples]
    assert stacked_mode_index(digits).tolist() == [307, 914]

"""The exact W1 of POT on sample sets with known distances."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from ganbench.evaluation.wasserstein import wasserstein_1


def test_w1_of_shifted_samples_is_the_shift():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor(
        [0.3, -0.4]
    )  # length 0.5: W1 >= |mean difference| = 0.5, and the identity plan costs 0.5
    assert wasserstein_1(x, x + shift) == pytest.approx(0.5, rel=1e-6)
    assert wasserstein_1(x, x) == pytest.approx(0.0, abs=1e-9)


def test_w1_in_1d_equals_scipys_with_unequal_sizes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.exponential(size=150)
    assert wasserstein_1(a[:, None], b[:, None]) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_nan_samples_are_infinitely_far_and_shapes_are_checked():
    x = torch.zeros(4, 2)
    assert wasserstein_1(torch.full((4, 2), math.nan), x) == math.inf
    with pytest.raises(ValueError, match="wasserstein_1"):
        wasserstein_1(torch.zeros(4, 3), x)
    with pytest.raises(ValueError, match="wasserstein_1"):
        wasserstein_1(torch.zeros(0, 2), x)

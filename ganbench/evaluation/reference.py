"""Reference rows for toy tables and plots: the metrics' ceiling (``data``) and floor (``noise``).

``data`` is a fresh draw of the true mixture and ``noise`` uniform samples over the means' bounding box
widened by 1 on every side. Each is scored by the same code as a generator (:func:`score_mixture`) on
the same number of samples, over ``draws`` independent draws (10 by default), so a table shows for
every metric what perfect and what useless samples score under the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import torch
from torch import Tensor

from ganbench.data.toy import GaussianMixture
from ganbench.evaluation.mixture import score_mixture

DRAWS = 10
NOISE_MARGIN = 1.0  # the box of the noise row: the means' bounding box widened by this on every side
SEED = 0  # the reference draws' seed; each row and draw gets its own stream from it

Sampler = Callable[[GaussianMixture, int, torch.Generator], Tensor]


def data_samples(mixture: GaussianMixture, n: int, generator: torch.Generator) -> Tensor:
    """n samples of the true mixture."""
    return mixture.sample(n, generator)


def uniform_noise(mixture: GaussianMixture, n: int, generator: torch.Generator) -> Tensor:
    """n samples uniform over the means' bounding box widened by ``NOISE_MARGIN`` on every side."""
    low, high = mixture.bounding_box()
    low, high = low - NOISE_MARGIN, high + NOISE_MARGIN
    return low + (high - low) * torch.rand((n, low.numel()), generator=generator)


# The reference rows, in table order: the ceiling, then the floor.
REFERENCES: dict[str, Sampler] = {"data": data_samples, "noise": uniform_noise}


def draw_generator(seed: int, row: int, draw: int) -> torch.Generator:
    """The generator of one reference draw: independent across rows and draws (numpy's SeedSequence)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, row, draw]).generate_state(1)[0]))


def reference_scores(
    mixture: GaussianMixture,
    num_samples: int,
    draws: int = DRAWS,
    seed: int = SEED,
    keys: Collection[str] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Every reference row's metrics (only ``keys`` if given) on ``draws`` draws of ``num_samples``
    samples: row name -> one dict of metrics a draw."""
    if draws < 1 or num_samples < 1:
        raise ValueError(f"reference rows: need draws >= 1 and num_samples >= 1, got {draws}, {num_samples}")
    return {
        name: [
            score_mixture(mixture, sampler(mixture, num_samples, draw_generator(seed, row, i)), keys)
            for i in range(draws)
        ]
        for row, (name, sampler) in enumerate(REFERENCES.items())
    }

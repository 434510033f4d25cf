"""Counter-based seeds: one independent stream per (seed, rank, index), whatever was drawn before."""

from __future__ import annotations

import numpy as np


def batch_seed(seed: int, rank: int, index: int) -> int:
    """A seed for batch ``index`` of ``rank``: batches are independent of each other and of prefetching."""
    return int(np.random.SeedSequence([seed, rank, index]).generate_state(1)[0])

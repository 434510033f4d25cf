"""Mode-coverage metrics for Gaussian-mixture toy data.

The protocol of the unrolled GAN (Metz et al., 2017), VEEGAN (Srivastava et al., 2017) and PacGAN
(Lin et al., 2018, section 5.1): assign each generated sample to its nearest mode; a sample is
"high quality" if it lies within 3 standard deviations of that mode; a mode is "captured" if some
high-quality sample is assigned to it; reverse KL compares the modes' share of high-quality samples
with the uniform distribution of the true mixture.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Rows of the (n, K) distance matrix computed at once: bounds memory for large evaluations.
_CHUNK = 65536


def _as_points(x: Tensor, name: str) -> Tensor:
    """(n,) -> (n, 1) so 1-D data may be passed flat; anything else must already be (n, d)."""
    if x.dim() == 1:
        x = x.unsqueeze(1)
    if x.dim() != 2:
        raise ValueError(f"{name}: expected shape (n, d) or (n,), got {tuple(x.shape)}")
    return x


def nearest_modes(samples: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
    """Index of each sample's nearest mode (Euclidean) and the distance to it, both shape (n,)."""
    samples = _as_points(samples, "samples").float()
    means = _as_points(means, "means").to(device=samples.device, dtype=torch.float32)
    if samples.shape[1] != means.shape[1]:
        raise ValueError(f"samples have dimension {samples.shape[1]} but the modes have {means.shape[1]}")
    dists, idxs = [], []
    for chunk in samples.split(_CHUNK):
        d, i = torch.cdist(chunk, means).min(dim=1)
        dists.append(d)
        idxs.append(i)
    if not dists:
        empty = samples.new_zeros(0)
        return empty.long(), empty
    return torch.cat(idxs), torch.cat(dists)


def mode_metrics(samples: Tensor, means: Tensor, sigma: float) -> dict[str, float]:
    """Mode coverage of ``samples`` (n, d) against a mixture with ``means`` (K, d) and std ``sigma``.

    With m(x) = argmin_k ||x - mu_k|| and "high quality" meaning ||x - mu_m(x)|| <= 3 sigma:

    - ``high_quality_fraction``: (# high-quality samples) / n.
    - ``modes_captured``: # modes k with m(x) = k for at least one high-quality x.
    - ``reverse_kl``: KL(q || U_K) = sum_k q_k log(q_k K) in nats, where q_k is the share of the
      high-quality samples assigned to mode k (0 log 0 = 0); 0 means perfectly balanced coverage,
      log K means all on one mode; ``inf`` if there is no high-quality sample.
    - ``num_samples``: n.

    Samples with NaN coordinates are never high quality.
    """
    if not sigma > 0:
        raise ValueError(f"sigma: {sigma} must be > 0")
    means = _as_points(means, "means")
    num_modes = means.shape[0]
    if num_modes < 1:
        raise ValueError("means: need at least one mode")
    idx, dist = nearest_modes(samples, means)
    n = idx.numel()
    if n == 0:
        raise ValueError("samples: need at least one sample")

    high = dist <= 3.0 * sigma
    counts = torch.bincount(idx[high], minlength=num_modes).double().cpu()
    num_high = int(counts.sum().item())
    if num_high == 0:
        reverse_kl = float("inf")
    else:
        q = counts / num_high
        q = q[q > 0]  # 0 log 0 = 0
        reverse_kl = float((q * torch.log(q * num_modes)).sum().item())
        reverse_kl = max(reverse_kl, 0.0)  # KL >= 0; clamps -1e-17 rounding on exact uniform counts
    return {
        "high_quality_fraction": num_high / n,
        "modes_captured": float((counts > 0).sum().item()),
        "reverse_kl": reverse_kl,
        "num_samples": float(n),
    }

"""Mode metrics for MNIST and Stacked MNIST from a pretrained digit classifier.

Each generated image is labelled by the classifier of :mod:`ganbench.evaluation.classifier`:

- MNIST: the classes hit and the KL divergence of the predicted-class histogram from uniform (the
  "number of modes" of Che et al., 2017, "Mode Regularized GANs"), and the classifier score, the Inception
  Score formula with the MNIST classifier in place of Inception (Salimans et al., 2016).
- Stacked MNIST: three digits stacked as the RGB channels, 10^3 = 1,000 modes; the modes captured and
  KL(generated mode histogram || uniform) (Metz et al., 2017, "Unrolled GANs"; Srivastava et al., 2017,
  "VEEGAN"; Lin et al., 2018, "PacGAN", section 5.2).

KL divergences are in nats with 0 log 0 = 0: 0 is perfectly balanced, log K all samples in one mode.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganbench.evaluation.metrics import Metric, declare

NUM_DIGITS = 10
NUM_STACKED_MODES = NUM_DIGITS**3
_BATCH = 256

_CLASSIFIED = "evaluation.final_num_samples generated images labelled by the MNIST classifier"
declare(Metric("classes_hit", True, "classifier", f"{_CLASSIFIED}: classes predicted at least once", (0, 10)))
declare(Metric("class_kl", False, "classifier", f"{_CLASSIFIED}: KL(class histogram || uniform)", (0, None)))
declare(Metric("classifier_score_mean", True, "classifier", f"{_CLASSIFIED}: IS formula, 10 splits", (1, 10)))
declare(Metric("classifier_score_std", False, "classifier", f"{_CLASSIFIED}: its std over splits", (0, None)))
declare(
    Metric(
        "stacked_kl",
        False,
        "stacked_mnist",
        "evaluation.final_num_samples images (26,000 in PacGAN), each channel classified: "
        "KL(histogram of the 1,000 digit triples || uniform)",
        (0, None),
    )
)


def _kl_from_uniform(counts: Tensor) -> float:
    """KL(q || U_K) = sum_k q_k log(q_k K) for q = counts / sum(counts); ``inf`` if there are no counts."""
    total = float(counts.sum())
    if total == 0:
        return float("inf")
    q = counts.double() / total
    q = q[q > 0]  # 0 log 0 = 0
    kl = float((q * torch.log(q * counts.numel())).sum())
    return max(kl, 0.0)  # KL >= 0; clamps -1e-17 rounding on exact uniform counts


def _check_2d(x: Tensor, name: str) -> Tensor:
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty (N, K) tensor, got shape {tuple(x.shape)}")
    return x


def class_coverage(probs: Tensor) -> dict[str, float]:
    """Class coverage of predictions ``probs`` (N, K): probabilities, or logits (same argmax).

    With c(x) = argmax_k probs[x, k] and q_k = #{x : c(x) = k} / N:

    - ``classes_hit``: # classes k with q_k > 0.
    - ``class_kl``: KL(q || U_K) = sum_k q_k log(q_k K) in nats (0 log 0 = 0); 0 to log K.
    - ``num_samples``: N.

    Rows with a NaN or infinite entry (e.g. from a diverged generator) count in N but get no class; if no
    row is finite ``class_kl`` is ``inf``.
    """
    probs = _check_2d(probs, "probs")
    finite = torch.isfinite(probs).all(dim=1)
    labels = probs[finite].argmax(dim=1)
    counts = torch.bincount(labels.cpu(), minlength=probs.shape[1])
    return {
        "classes_hit": float((counts > 0).sum()),
        "class_kl": _kl_from_uniform(counts),
        "num_samples": float(probs.shape[0]),
    }


def classifier_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception Score with the MNIST classifier: (mean, std) of exp(E_x KL(p(y|x) || p(y))) over splits.

    Salimans et al. (2016), "Improved Techniques for Training GANs": IS = exp(E_x KL(p(y|x) || p(y))),
    p(y) = E_x p(y|x), computed on each of ``splits`` consecutive equal parts of the samples; std is the
    population std (ddof 0). This is torch-fidelity's ``isc`` (Obukhov et al.) with ``shuffle=False``.
    It ranges from 1 (every sample gets the same prediction) to K (confident and balanced).

    ``logits`` (N, K) are unnormalised log-probabilities (log-probabilities work too: log_softmax keeps
    them); p(y|x) = softmax, log p(y|x) = log_softmax, so confident predictions give no log(0).
    """
    logits = _check_2d(logits, "logits")
    n = logits.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits: {splits} must be between 1 and the number of samples {n}")
    log_p = torch.log_softmax(logits.double(), dim=1)
    p = log_p.exp()
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_i, log_p_i = p[lo:hi], log_p[lo:hi]
        log_py = torch.log(p_i.mean(dim=0, keepdim=True))
        # p log(p / p(y)) with 0 log 0 = 0: a class with p(y) = 0 has p(y|x) = 0 for every x of the split.
        terms = torch.where(p_i > 0, p_i * (log_p_i - log_py), torch.zeros_like(p_i))
        scores.append(math.exp(float(terms.sum(dim=1).mean())))
    values = torch.tensor(scores, dtype=torch.float64)
    return float(values.mean()), float(values.std(unbiased=False))


def stacked_mode_index(digits: Tensor) -> Tensor:
    """Mode of each Stacked MNIST image from its digits (N, 3): 100 d0 + 10 d1 + d2, in 0..999."""
    if digits.dim() != 2 or digits.shape[1] != 3:
        raise ValueError(f"digits: expected shape (N, 3), got {tuple(digits.shape)}")
    if digits.dtype.is_floating_point or digits.dtype == torch.bool:
        raise ValueError(f"digits: expected an integer tensor, got {digits.dtype}")
    if digits.numel() and (int(digits.min()) < 0 or int(digits.max()) >= NUM_DIGITS):
        raise ValueError(f"digits: values must be in 0..{NUM_DIGITS - 1}")
    digits = digits.long()
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def stacked_modes(digits: Tensor) -> dict[str, float]:
    """Mode coverage on Stacked MNIST from the classified digits (N, 3) of each generated image.

    With m(x) = 100 d0 + 10 d1 + d2 and q_m = #{x : m(x) = m} / N over the 1,000 modes:

    - ``modes_captured``: # modes with q_m > 0 (out of 1,000).
    - ``stacked_kl``: KL(q || U_1000) = sum_m q_m log(1000 q_m) in nats; 0 to log 1000.
    - ``num_samples``: N.

    As in PacGAN (Lin et al., 2018) and VEEGAN (Srivastava et al., 2017), evaluated on 26,000 samples.
    """
    modes = stacked_mode_index(digits)
    if modes.numel() == 0:
        raise ValueError("digits: need at least one sample")
    counts = torch.bincount(modes.cpu(), minlength=NUM_STACKED_MODES)
    return {
        "modes_captured": float((counts > 0).sum()),
        "stacked_kl": _kl_from_uniform(counts),
        "num_samples": float(modes.numel()),
    }


@torch.no_grad()
def classify(classifier: nn.Module, images: Tensor, batch_size: int = _BATCH) -> Tensor:
    """Logits (N, 10) of ``images`` (N, 1, 28, 28) in [-1, 1], in batches, in eval mode, on the CPU.

    Each batch is moved to the classifier's device; the classifier's train/eval mode is restored after.
    """
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images: expected shape (N, 1, 28, 28), got {tuple(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size: {batch_size} must be >= 1")
    param = next(classifier.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = classifier.training
    classifier.eval()  # dropout off: predictions must not depend on the batch or the RNG
    try:
        out = [
            classifier(x.to(device=device, dtype=torch.float32)).float().cpu()
            for x in images.split(batch_size)
        ]
    finally:
        classifier.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, NUM_DIGITS)


def classify_stacked(classifier: nn.Module, images: Tensor, batch_size: int = _BATCH) -> Tensor:
    """Digits (N, 3) of Stacked MNIST ``images`` (N, 3, 28, 28) in [-1, 1]: each channel classified alone.

    Channel c holds digit d_c, so the mode is 100 d0 + 10 d1 + d2 (:func:`stacked_mode_index`).
    """
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, 28, 28):
        raise ValueError(f"images: expected shape (N, 3, 28, 28), got {tuple(images.shape)}")
    n = images.shape[0]
    # (N, 3, 28, 28) -> (3N, 1, 28, 28): rows n*3 + c, so argmax reshapes back to (N, 3) in channel order.
    logits = classify(classifier, images.reshape(n * 3, 1, 28, 28), batch_size)
    return logits.argmax(dim=1).reshape(n, 3)


def mnist_mode_metrics(
    classifier: nn.Module, images: Tensor, splits: int = 10, batch_size: int = _BATCH
) -> dict[str, float]:
    """:func:`class_coverage` and :func:`classifier_score` of ``images`` (N, 1, 28, 28) in [-1, 1].

    Keys: ``classes_hit``, ``class_kl``, ``classifier_score_mean``, ``classifier_score_std``,
    ``num_samples``.
    """
    logits = classify(classifier, images, batch_size)
    metrics = class_coverage(logits)
    mean, std = classifier_score(logits, splits)
    metrics["classifier_score_mean"] = mean
    metrics["classifier_score_std"] = std
    return metrics

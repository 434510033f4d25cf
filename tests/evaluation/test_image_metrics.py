"""The image evaluator: what it hands torch-fidelity (reference split, cache key), class metrics, grids.

torch-fidelity itself is replaced by a recorder here; the real one runs in tests/data/test_images.py's
CLI test and in test_fidelity.py.
"""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torch import nn

from ganbench.data.images import ImageSource, TensorImages
from ganbench.evaluation import image_metrics
from ganbench.evaluation.image_metrics import evaluate_images


class FakeGAN:
    """What evaluate needs of the GAN module: a generator, latent_dim, device, generate()."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int = 4) -> None:
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(latent_dim, math.prod(shape)), nn.Tanh(), nn.Unflatten(1, shape))
        self.hparams = SimpleNamespace(latent_dim=latent_dim)
        self.device = torch.device("cpu")

    def evaluation_generator(self) -> nn.Module:
        return self.net

    @torch.no_grad()
    def generate(self, n: int, seed: int) -> torch.Tensor:
        noise = torch.randn(n, self.hparams.latent_dim, generator=torch.Generator().manual_seed(seed))
        return self.net(noise)


def images(n: int, shape: tuple[int, ...], seed: int) -> TensorImages:
    return TensorImages(
        torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    )


def mnist_like(reference_limit: int | None = None) -> ImageSource:
    splits = {"train": images(64, (1, 28, 28), 0), "test": images(20, (1, 28, 28), 1)}
    return ImageSource("mnist", splits, reference_limit=reference_limit)


@pytest.fixture
def fidelity_calls(monkeypatch, tmp_path):
    """compute_image_metrics replaced by a recorder."""
    calls = []

    def fake(generator, latent_dim, real, num_samples, **kwargs):
        calls.append({"real": real, "num_samples": num_samples, **kwargs})
        return {"fid": 1.0, "num_samples": num_samples, "num_real": len(real)}

    monkeypatch.setattr(image_metrics, "compute_image_metrics", fake)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    return calls


def write_classifier(path: Path) -> Path:
    """A valid (untrained) classifier checkpoint, as ``classifier fit`` writes it."""
    classifier = pytest.importorskip("ganbench.evaluation.classifier")
    torch.manual_seed(0)
    state = classifier.MNISTClassifier().state_dict()
    torch.save({**dict.fromkeys(classifier.CHECKPOINT_KEYS, 0), "state_dict": state}, path)
    return path


def test_evaluate_passes_the_reference_and_adds_class_metrics(fidelity_calls, tmp_path):
    source = mnist_like(reference_limit=10)
    plot = tmp_path / "samples" / "eval.png"
    checkpoint = write_classifier(tmp_path / "classifier.pt")
    metrics = evaluate_images(source, FakeGAN((1, 28, 28)), 30, 7, plot, "t", classifier=str(checkpoint))
    (call,) = fidelity_calls
    assert call["num_samples"] == 30 and call["seed"] == 7 and call["device"] == torch.device("cpu")
    assert call["cache_root"] == tmp_path / "cache" / "fidelity"
    assert call["cache_key"].startswith("ganbench-mnist-") and len(call["real"]) == 10
    assert call["real"][0].shape == (3, 28, 28)  # torch-fidelity gets uint8 RGB
    assert metrics["reference_split"] == "test" and metrics["num_real"] == 10
    assert metrics["num_samples"] == 30  # the int count, not the classifier's float
    assert {"classes_hit", "class_kl", "classifier_score_mean", "classifier_score_std"} <= set(metrics)
    assert Image.open(plot).size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)  # 8x8 grid, 2 px padding

    evaluate_images(source, FakeGAN((1, 28, 28)), 30, 7, None, "t", reference_split="train")
    train_key = fidelity_calls[-1]["cache_key"]
    assert train_key != call["cache_key"]  # split, limit and pixels are in the key
    evaluate_images(mnist_like(reference_limit=11), FakeGAN((1, 28, 28)), 30, 7, None, "t")
    assert fidelity_calls[-1]["cache_key"] not in (call["cache_key"], train_key)


def test_evaluate_without_a_test_split_records_the_split_used(fidelity_calls):
    source = ImageSource("folder", {"train": images(8, (3, 28, 28), 0)})
    metrics = evaluate_images(
        source, FakeGAN((3, 28, 28)), 8, 0, None, "t", reference_split="test", classifier="x"
    )
    assert metrics["reference_split"] == "train"
    assert "1x28x28" in metrics["classifier_unavailable"]  # the digit classifier is not for RGB data

"""Stacked MNIST: the fixed set of digit triples, its 1,000 modes, batches, reference and mode metrics."""

from types import SimpleNamespace

import pytest
import torch
import torchvision.datasets
from torch import Tensor, nn

from ganbench.data import images
from ganbench.data.module import batch_seed
from ganbench.data.registry import DATASETS
from ganbench.data.stacked_mnist import NUM_IMAGES, TEST_IMAGES, StackedDigits, stacked_mnist
from ganbench.evaluation import image_metrics
from ganbench.evaluation.image_metrics import evaluate_images


@pytest.fixture(scope="module")
def source(mnist_root):
    return stacked_mnist(root=str(mnist_root), download=False)


@pytest.fixture(scope="module")
def mnist_train(mnist_root):
    return torchvision.datasets.MNIST(str(mnist_root), train=True, download=False)


def test_registered_with_the_pacgan_defaults(source):
    assert DATASETS.get("stacked_mnist") is stacked_mnist
    assert source.sample_shape == (3, 28, 28)
    assert len(source.splits["train"]) == NUM_IMAGES == 128_000
    assert len(source.splits["test"]) == TEST_IMAGES


def test_channel_c_of_item_i_is_the_digit_of_triple_i_c(source, mnist_train):
    train: StackedDigits = source.splits["train"]
    for i in (0, 1, 12345, NUM_IMAGES - 1):
        item = train[i]
        assert item.shape == (3, 28, 28) and item.dtype == torch.uint8
        for c in range(3):
            assert torch.equal(item[c], mnist_train.data[train.triples[i, c]])
    batch = train.__getitems__([5, 6, 7])
    assert torch.equal(batch[1], train[6])


def test_modes_follow_the_label_formula_and_cover_the_thousand(source, mnist_train):
    train: StackedDigits = source.splits["train"]
    modes, digits = train.modes, mnist_train.targets[train.triples]  # (M,), (M, 3)
    assert torch.equal(modes, 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    assert int(modes.min()) >= 0 and int(modes.max()) < 1000
    counts = torch.bincount(modes, minlength=1000)
    assert int((counts > 0).sum()) == 1000  # 128 images a mode on average
    assert int(counts.min()) > 64 and int(counts.max()) < 256  # nearly uniform (balanced subset)


def test_the_set_depends_on_its_own_seed_only(source, mnist_root):
    again = stacked_mnist(root=str(mnist_root), download=False, num_images=1000)
    assert torch.equal(again.splits["train"].triples, source.splits["train"].triples[:1000])
    other = stacked_mnist(root=str(mnist_root), download=False, num_images=1000, seed=1)
    assert not torch.equal(other.splits["train"].triples, again.splits["train"].triples)
    assert not torch.equal(again.splits["test"].triples[:100], again.splits["train"].triples[:100])


def test_items_are_built_on_the_fly(source):
    train: StackedDigits = source.splits["train"]
    held = sum(t.numel() * t.element_size() for t in vars(train).values() if isinstance(t, Tensor))
    assert held < 8 * 1024**2  # 4k digits + 128k index triples, not 128k images (0.3 GB as uint8)


def test_training_batches(source):
    loader = iter(source.train_dataloader(64, 3, 0, 0))
    batch = next(loader)
    assert batch.shape == (64, 3, 28, 28) and batch.dtype == torch.float32
    assert -1.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    # Batch 0 is the first 64 of the epoch-0 permutation seeded by (seed, rank, epoch).
    order = torch.randperm(NUM_IMAGES, generator=torch.Generator().manual_seed(batch_seed(3, 0, 0)))
    assert torch.equal(batch, images.scale(source.splits["train"].__getitems__(order[:64].tolist())))


def test_reference_splits(mnist_root):
    small = stacked_mnist(root=str(mnist_root), download=False, num_images=500, reference_limit=50)
    test, train = small.reference_dataset("test"), small.reference_dataset("train")
    assert len(test) == 50 and len(train) == 50
    assert test[0].shape == (3, 28, 28) and test[0].dtype == torch.uint8
    mnist_test = torchvision.datasets.MNIST(str(mnist_root), train=False, download=False)
    assert torch.equal(test[0][2], mnist_test.data[small.splits["test"].triples[0, 2]])


def test_options_are_checked(tmp_path, mnist_root):
    with pytest.raises(ValueError, match=r"^data\.dataset_options\.num_images: 0 must be"):
        stacked_mnist(root=str(mnist_root), download=False, num_images=0)
    with pytest.raises(ValueError, match=r"^data\.dataset_options\.reference_limit: 1 must be"):
        stacked_mnist(root=str(mnist_root), download=False, reference_limit=1)
    with pytest.raises(ValueError) as info:
        stacked_mnist(root=str(tmp_path), download=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith("data.dataset_options.root: no usable MNIST")
    assert "MNIST/raw/train-images-idx3-ubyte" in message and "mnist_idx.py" in message


class FakeGAN:
    def __init__(self) -> None:
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 3 * 28 * 28), nn.Tanh(), nn.Unflatten(1, (3, 28, 28)))
        self.hparams = SimpleNamespace(latent_dim=4)
        self.device = torch.device("cpu")

    def evaluation_generator(self) -> nn.Module:
        return self.net

    @torch.no_grad()
    def generate(self, n: int, seed: int) -> Tensor:
        return self.net(torch.randn(n, 4, generator=torch.Generator().manual_seed(seed)))


def test_evaluate_adds_the_stacked_mode_metrics(source, monkeypatch, tmp_path):
    classifier = pytest.importorskip("ganbench.evaluation.classifier")
    pytest.importorskip("ganbench.evaluation.class_modes")
    calls = []

    def fake(generator, latent_dim, real, num_samples, **kwargs):
        calls.append(kwargs["cache_key"])
        return {"fid": 1.0, "num_samples": num_samples, "num_real": len(real)}

    monkeypatch.setattr(
        image_metrics, "compute_image_metrics", fake
    )  # Inception runs in test_images' CLI test
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    torch.manual_seed(0)
    path = tmp_path / "classifier.pt"
    state = classifier.MNISTClassifier().state_dict()
    torch.save({**dict.fromkeys(classifier.CHECKPOINT_KEYS, 0), "state_dict": state}, path)
    metrics = evaluate_images(source, FakeGAN(), 100, 0, tmp_path / "grid.png", "t", classifier=str(path))
    assert calls[0].startswith("ganbench-stacked_mnist-test-")
    assert (metrics["num_samples"], metrics["num_real"], metrics["reference_split"]) == (
        100,
        TEST_IMAGES,
        "test",
    )
    assert 1 <= metrics["modes_captured"] <= 100 and metrics["stacked_kl"] >= 0
    assert (tmp_path / "grid.png").is_file()

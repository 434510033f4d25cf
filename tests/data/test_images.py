"""Image datasets: training batches, reference splits, offline errors, image folders, configs, and a
few GAN iterations on real MNIST digits through the CLI (no downloads: files are written here)."""

import json
import math
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
import torchvision.datasets.mnist
from PIL import Image

from ganbench.data import GANDataModule
from ganbench.data.images import cifar10, fashion_mnist, image_folder, mnist, scale
from ganbench.data.registry import DATASETS
from ganbench.evaluation.fidelity import UInt8Dataset

REPO = Path(__file__).resolve().parents[2]
CONFIGS = ("mnist/dcgan", "fashion_mnist/dcgan", "cifar10/dcgan", "cifar10/resnet", "stacked_mnist/dcgan")


# ---------------------------------------------------------------------- files written for the tests
def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file as torchvision reads it: 0, 0, type 0x08 (uint8), ndim, big-endian dims, the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def write_mnist_like(root: Path, folder: str, train: int, test: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random distinct images under ROOT/FOLDER/raw; returns them by split."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, prefix, n in (("train", "train", train), ("test", "t10k", test)):
        pixels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", pixels)
        write_idx(
            root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8)
        )
        out[split] = pixels
    return out


@pytest.fixture
def tiny_mnist(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, write_mnist_like(tmp_path, "MNIST", train=64, test=20)


def write_cifar(root: Path, per_batch: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """CIFAR-10's pickle layout with random images: rows of 3072 = R, G, B planes of 32x32."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rows = {"train": [], "test": []}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(base / name, "wb") as f:
            pickle.dump({"data": data, "labels": [0] * per_batch}, f)
        rows["test" if name == "test_batch" else "train"].append(data)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    return {split: np.concatenate(r).reshape(-1, 3, 32, 32) for split, r in rows.items()}


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch) -> tuple[Path, dict[str, np.ndarray]]:
    # torchvision checks the md5 sums of the real CIFAR-10 files even with download=False: the fake
    # files pass only with its integrity checks patched out.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    return tmp_path, write_cifar(tmp_path)


def batches(source, batch_size: int, count: int, seed: int = 0, start: int = 0) -> list[torch.Tensor]:
    loader = iter(source.train_dataloader(batch_size, seed, 0, start))
    return [next(loader) for _ in range(count)]


# ---------------------------------------------------------------------- torchvision datasets
def test_registry_lists_the_image_datasets():
    assert {"mnist", "fashion_mnist", "cifar10", "image_folder"} <= set(DATASETS.names())
    assert DATASETS.get("mnist") is mnist


def test_mnist_batches_are_images_in_minus_one_one(tiny_mnist):
    root, pixels = tiny_mnist
    source = mnist(root=str(root), download=False)
    assert source.sample_shape == (1, 28, 28)
    epoch = batches(source, 16, 4)  # 64 images: one epoch is 4 batches
    for batch in epoch:
        assert isinstance(batch, torch.Tensor)  # not (image, label): the GAN chunks it into n_critic parts
        assert batch.shape == (16, 1, 28, 28) and batch.dtype == torch.float32
        assert -1.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    seen = torch.cat(epoch)
    expected = scale(torch.from_numpy(pixels["train"])).unsqueeze(1)
    # An epoch is a permutation of the training set: every image once.
    order = [int(torch.nonzero((expected == x).flatten(1).all(1))[0]) for x in seen]
    assert sorted(order) == list(range(64))
    assert order != list(range(64))  # shuffled


def test_batches_are_seeded_resumable_and_drop_the_remainder(tiny_mnist):
    root, _ = tiny_mnist
    source = mnist(root=str(root), download=False)
    first = batches(source, 24, 6)  # 64 // 24 = 2 full batches an epoch; 16 images dropped each
    assert all(b.shape[0] == 24 for b in first)
    assert torch.equal(torch.cat(batches(source, 24, 6)), torch.cat(first))  # same seed, same batches
    assert not torch.equal(batches(source, 24, 1, seed=1)[0], first[0])
    resumed = batches(source, 24, 3, start=3)  # a run resumed at iteration 3
    assert all(torch.equal(a, b) for a, b in zip(resumed, first[3:], strict=True))
    workers = mnist(root=str(root), download=False, num_workers=2)
    assert all(torch.equal(a, b) for a, b in zip(batches(workers, 24, 6), first, strict=True))


def test_a_batch_larger_than_the_set_is_refused(tiny_mnist):
    source = mnist(root=str(tiny_mnist[0]), download=False)
    with pytest.raises(ValueError, match=r"^data\.batch_size: 65 .* 64 training images"):
        source.train_dataloader(65, 0, 0, 0)


def test_reference_split_is_uint8_rgb_and_can_be_limited(tiny_mnist):
    root, pixels = tiny_mnist
    source = mnist(root=str(root), download=False)
    test = source.reference_dataset("test")
    assert len(test) == 20 and len(source.reference_dataset("train")) == 64
    assert test[0].shape == (1, 28, 28) and test[0].dtype == torch.uint8
    rgb = UInt8Dataset(test)  # what torch-fidelity is given
    assert rgb[3].shape == (3, 28, 28) and rgb[3].dtype == torch.uint8
    assert torch.equal(rgb[3][1], torch.from_numpy(pixels["test"][3]))  # grey copied to 3 channels
    limited = mnist(root=str(root), download=False, reference_limit=5)
    assert len(limited.reference_dataset("test")) == 5
    assert torch.equal(limited.reference_dataset("test")[4], test[4])  # the first images


def test_fashion_mnist_reads_its_own_folder(tmp_path):
    pixels = write_mnist_like(tmp_path, "FashionMNIST", train=32, test=10)
    source = fashion_mnist(root=str(tmp_path), download=False)
    assert source.sample_shape == (1, 28, 28)
    batch = batches(source, 8, 1)[0]
    assert batch.shape == (8, 1, 28, 28) and batch.dtype == torch.float32
    ref = source.reference_dataset("test")
    assert torch.equal(ref[0][0], torch.from_numpy(pixels["test"][0]))


def test_cifar10_images_keep_their_channel_layout(fake_cifar):
    root, pixels = fake_cifar
    source = cifar10(root=str(root), download=False)
    assert source.sample_shape == (3, 32, 32)
    assert torch.equal(source.splits["train"].images, torch.from_numpy(pixels["train"]))
    batch = batches(source, 8, 1)[0]
    assert batch.shape == (8, 3, 32, 32) and -1 <= float(batch.min()) and float(batch.max()) <= 1
    ref = source.reference_dataset("test")
    assert len(ref) == 8 and torch.equal(ref[0], torch.from_numpy(pixels["test"][0]))


# ---------------------------------------------------------------------- absent data, offline
def _one_line_error(factory, **options) -> str:
    with pytest.raises(ValueError) as info:
        factory(**options)
    message = str(info.value)
    assert "\n" not in message and message.startswith("data.dataset_options.root: ")
    return message


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_absent_mnist_files_without_download(tmp_path, name):
    message = _one_line_error(DATASETS.get(name), root=str(tmp_path), download=False)
    folder = "MNIST" if name == "mnist" else "FashionMNIST"
    assert f"{tmp_path}/{folder}/raw/train-images-idx3-ubyte" in message
    assert "t10k-labels-idx1-ubyte" in message and "download is false" in message
    assert ("mnist_idx.py --root" in message) == (name == "mnist")
    assert not (tmp_path / folder).exists()  # nothing was downloaded or created


def test_mnist_download_without_network(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    message = _one_line_error(mnist, root=str(tmp_path), download=True)
    assert "the download failed" in message and "name resolution" in message
    assert "MNIST/raw/train-images-idx3-ubyte" in message and "mnist_idx.py" in message


def test_cifar10_absent_or_offline(tmp_path, monkeypatch):
    message = _one_line_error(cifar10, root=str(tmp_path), download=False)
    assert f"{tmp_path}/cifar-10-batches-py/data_batch_1" in message and "batches.meta" in message

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    message = _one_line_error(cifar10, root=str(tmp_path), download=True)
    assert "the download failed" in message and "cifar-10-batches-py" in message


def test_the_data_module_fails_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"^data\.dataset_options\.root: no usable MNIST"):
        GANDataModule(dataset="mnist", dataset_options={"root": str(tmp_path), "download": False})
    with pytest.raises(ValueError, match=r"^data\.dataset_options: mnist has no option size"):
        GANDataModule(dataset="mnist", dataset_options={"root": str(tmp_path), "size": 3})


# ---------------------------------------------------------------------- image folders
def _band_image(path: Path, width: int, height: int) -> None:
    """Black, with a white vertical band over the middle half of the width."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, width // 4 : 3 * width // 4] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def test_image_folder_resizes_and_center_crops(tmp_path):
    _band_image(tmp_path / "a.png", 40, 20)  # flat files and class folders alike
    _band_image(tmp_path / "cats" / "b.jpg", 80, 40)
    (tmp_path / "notes.txt").write_text("not an image")
    source = image_folder(root=str(tmp_path), size=10)
    assert source.sample_shape == (3, 10, 10) and len(source.splits["train"]) == 2
    image = source.splits["train"][0]
    assert image.dtype == torch.uint8 and type(image) is torch.Tensor
    # 20x40 -> 10x20 (shorter side 10) -> the centre 10x10, which is the white band.
    assert int(image[:, :, 1:-1].min()) >= 200
    gray = image_folder(root=str(tmp_path), size=16, channels=1)
    assert gray.sample_shape == (1, 16, 16)
    batch = batches(gray, 2, 1)[0]
    assert batch.shape == (2, 1, 16, 16) and batch.dtype == torch.float32
    assert gray.reference_dataset("test")[0].shape == (1, 16, 16)  # test falls back to the same folder
    assert gray.resolve_split("test") == "train"


def test_image_folder_errors(tmp_path):
    message = _one_line_error(image_folder, root=str(tmp_path / "nowhere"))
    assert "is not a folder" in message
    assert "no images" in _one_line_error(image_folder, root=str(tmp_path))
    with pytest.raises(ValueError, match=r"^data\.dataset_options\.channels: 2 must be 1 or 3"):
        image_folder(root=str(tmp_path), channels=2)
    with pytest.raises(ValueError, match=r"^data\.dataset_options\.size: 0"):
        image_folder(root=str(tmp_path), size=0)


# ---------------------------------------------------------------------- configs and the CLI
def test_every_config_instantiates(mnist_root, fake_cifar, tmp_path):
    pytest.importorskip("ganbench.data.stacked_mnist")
    from ganbench.cli import lightning_main

    cifar_root, _ = fake_cifar
    write_mnist_like(tmp_path / "fashion", "FashionMNIST", train=8, test=8)
    roots = {"mnist": mnist_root, "stacked_mnist": mnist_root, "cifar10": cifar_root}
    for config in CONFIGS:
        dataset = config.split("/")[0]
        root = roots.get(dataset, tmp_path / "fashion")
        cli = lightning_main(
            [
                "--config",
                str(REPO / "configs" / f"{config}.yaml"),
                f"--data.dataset_options.root={root}",
                "--data.dataset_options.download=false",
                "--trainer.logger=false",
            ],
            run=False,
        )
        shape = {"stacked_mnist": (3, 28, 28), "cifar10": (3, 32, 32)}.get(dataset, (1, 28, 28))
        assert cli.datamodule.sample_shape == shape, config
        assert tuple(cli.model.hparams.sample_shape) == shape, config
        image = cli.model.generate(2, 0)
        assert image.shape == (2, *shape), config


def test_a_few_gan_iterations_on_mnist_through_the_cli(mnist_root, inception_weights, tmp_path, monkeypatch):
    from ganbench.cli import main

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    code = main(
        [
            "fit",
            "--config",
            str(REPO / "configs" / "mnist" / "dcgan.yaml"),
            f"--data.dataset_options.root={mnist_root}",
            "--data.dataset_options.download=false",
            "--data.dataset_options.reference_limit=16",  # CPU Inception: ~0.3 s an image
            "--data.batch_size=16",
            "--trainer.max_steps=3",
            "--trainer.logger=false",
            "--trainer.accelerator=cpu",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={run}",
            "--evaluation.every_n_iterations=0",
            "--evaluation.final_num_samples=16",
            f"--evaluation.inception_weights={inception_weights}",
            "--model.net_options={generator_width: 8, discriminator_width: 8}",
            "--model.latent_dim=16",
        ]
    )
    assert code == 0
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "completed" and record["iterations"] == 3
    metrics = record["metrics"]
    assert math.isfinite(metrics["fid"]) and math.isfinite(metrics["kid_mean"])
    assert metrics["is_mean"] is None and "classifier head" in metrics["is_unavailable"]
    assert (metrics["num_samples"], metrics["num_real"], metrics["reference_split"]) == (16, 16, "test")
    assert (run / "samples" / "final_0000003.png").is_file()
    assert list((tmp_path / "cache" / "fidelity").glob("ganbench-mnist-test_first16-*"))


def _fit_mnist(root: Path, run: Path, *extra: str) -> int:
    from ganbench.cli import main

    return main(
        ["fit", "--config", str(REPO / "configs" / "mnist" / "dcgan.yaml"),
         f"--data.dataset_options.root={root}", "--data.dataset_options.download=false",
         "--data.batch_size=8", "--trainer.max_steps=1", "--trainer.logger=false",
         "--trainer.accelerator=cpu", f"--trainer.default_root_dir={run}", *extra]
    )  # fmt: skip


def test_bad_data_settings_through_the_cli_lose_nothing(tiny_mnist, tmp_path, capsys):
    root, _ = tiny_mnist
    run = tmp_path / "earlier-run"
    run.mkdir()
    earlier = '{"status": "completed", "metrics": {"fid": 12.5}}'
    (run / "metrics.json").write_text(earlier)
    # More reference images than the test split holds (20): refused before anything is written.
    assert _fit_mnist(root, run, "--data.dataset_options.reference_limit=50") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data.dataset_options.reference_limit: 50 exceeds the 20 images")
    assert "valid range: 2 to 20" in err and "\n" not in err
    # A missing data root with downloads off (offline).
    assert _fit_mnist(tmp_path / "nowhere", run) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data.dataset_options.root: ") and "\n" not in err
    assert sorted(p.name for p in run.iterdir()) == ["metrics.json"]
    assert (run / "metrics.json").read_text() == earlier


def test_downloads_hold_a_lock_so_ranks_do_not_race(tmp_path, monkeypatch):
    import filelock

    held = []

    def fake_download(url, download_root, *args, **kwargs):
        # Another process (a second DDP rank) cannot take the lock while this one downloads.
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(str(tmp_path / ".mnist.download.lock"), timeout=0).acquire()
        held.append(url)
        if not (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists():
            write_mnist_like(tmp_path, "MNIST", train=16, test=8)

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", fake_download)
    source = mnist(root=str(tmp_path), download=True)
    assert held and len(source.reference_dataset("test")) == 8

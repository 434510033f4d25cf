"""The MNIST classifier, trained on real digits, and the mode metrics it gives on real test digits."""

import json
import math
from pathlib import Path

import pytest
import torch

from ganbench.evaluation.class_modes import classify, mnist_mode_metrics
from ganbench.evaluation.classifier import (
    CHECKPOINT_KEYS,
    RAW_FILES,
    fit_classifier,
    load_classifier,
    main,
    scale_images,
)


@pytest.fixture(scope="module")
def trained(mnist_root, tmp_path_factory):
    """One epoch on the 4,000 train digits (about 4 s on one thread): (checkpoint path, report)."""
    out = tmp_path_factory.mktemp("classifier") / "mnist_classifier.pt"
    report = fit_classifier(mnist_root, out, epochs=1, batch_size=16, seed=0, download=False)
    return out, report


@pytest.fixture(scope="module")
def test_digits(mnist_root):
    from torchvision.datasets import MNIST

    test = MNIST(str(mnist_root), train=False, download=False)
    return scale_images(test.data), test.targets


def test_one_epoch_reaches_high_test_accuracy(trained):
    _, report = trained
    # Measured 0.953 (seeds 0-2: 0.953-0.961); chance is 0.1 and a broken pipeline gives far less.
    assert report["test_accuracy"] >= 0.93
    assert (report["num_train"], report["num_test"]) == (4000, 1000)


def test_checkpoint_loads_weights_only_and_gives_identical_logits(trained, test_digits):
    path, report = trained
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(checkpoint)
    assert checkpoint["test_accuracy"] == report["test_accuracy"]
    assert json.loads(Path(f"{path}.json").read_text()) == report
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temp file

    model = load_classifier(path)
    assert not model.training
    images, _ = test_digits
    again = load_classifier(path)
    assert torch.equal(classify(model, images[:64]), classify(again, images[:64]))
    manual = type(model)()
    manual.load_state_dict(checkpoint["state_dict"])
    with torch.no_grad():
        assert torch.equal(classify(model, images[:64]), manual.eval()(images[:64]))


def test_mode_metrics_on_real_test_digits(trained, test_digits):
    model = load_classifier(trained[0])
    images, labels = test_digits
    out = mnist_mode_metrics(model, images, splits=10)
    assert out["classes_hit"] == 10.0
    assert out["class_kl"] < 0.05
    assert out["num_samples"] == 1000.0
    assert 7.0 < out["classifier_score_mean"] <= 10.0  # measured 7.99: confident and balanced

    threes = mnist_mode_metrics(model, images[labels == 3], splits=5)
    assert threes["classes_hit"] <= 5
    # KL(q || U) = log 10 - H(q); the few 3s a 95% classifier sends elsewhere make H(q) about 0.1 nats
    # (measured 2.19 against log 10 = 2.30).
    assert threes["class_kl"] == pytest.approx(math.log(10), abs=0.25)
    assert threes["classifier_score_mean"] < 1.5


def test_offline_without_files_is_one_line_error(tmp_path):
    with pytest.raises(RuntimeError) as info:
        fit_classifier(tmp_path / "empty", tmp_path / "c.pt", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert "--root" in message and "mnist_idx.py" in message
    assert all(name in message for name in RAW_FILES)
    assert not (tmp_path / "c.pt").exists()


def test_main_reports_missing_data_in_one_line(tmp_path, capsys):
    code = main(["fit", "--root", str(tmp_path), "--out", str(tmp_path / "c.pt"), "--no-download"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("classifier fit: --root ")
    assert "train-images-idx3-ubyte" in err and "Traceback" not in err


def test_main_rejects_bad_epochs(tmp_path, capsys):
    assert main(["fit", "--root", str(tmp_path), "--out", str(tmp_path / "c.pt"), "--epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "classifier fit: epochs: 0 must be >= 1"


def test_load_classifier_rejects_other_files(tmp_path):
    not_torch = tmp_path / "x.pt"
    not_torch.write_text("hello")
    with pytest.raises(ValueError, match=r"^classifier: .* is not an MNIST classifier checkpoint \(not "):
        load_classifier(not_torch)
    wrong = tmp_path / "w.pt"
    torch.save({"weight": torch.zeros(3)}, wrong)
    with pytest.raises(ValueError, match="no key 'state_dict'"):
        load_classifier(wrong)
    with pytest.raises(ValueError, match="no such file"):
        load_classifier(tmp_path / "absent.pt")

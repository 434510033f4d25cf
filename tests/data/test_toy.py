"""Gaussian-mixture toy datasets: mode layouts, sampling, determinism, validation, density."""

import math
import re
from pathlib import Path

import pytest
import torch

from ganbench.data.registry import DATASETS
from ganbench.data.toy import GaussianMixture, gaussian1d, grid, ring


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registry_lists_the_toy_datasets():
    assert {"ring", "grid", "gaussian1d"} <= set(DATASETS.names())
    assert DATASETS.get("ring") is ring
    assert DATASETS.get("grid") is grid
    assert DATASETS.get("gaussian1d") is gaussian1d


def test_ring_has_eight_distinct_modes_on_the_unit_circle():
    data = ring()
    assert isinstance(data, GaussianMixture)
    assert data.num_modes == 8
    assert data.sample_shape == (2,)
    assert data.sigma == 0.01
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    expected = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).float()
    torch.testing.assert_close(data.means, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(data.means.norm(dim=1), torch.ones(8), atol=1e-6, rtol=0)
    # No repeated mode (linspace(0, 2 pi, 8) would put the last mode on the first): neighbours on a
    # unit 8-gon are 2 sin(pi / 8) apart.
    gaps = torch.cdist(data.means, data.means) + 10 * torch.eye(8)
    assert gaps.min().item() == pytest.approx(2 * math.sin(math.pi / 8), abs=1e-6)


def test_ring_options():
    data = ring(num_modes=3, radius=2.0, sigma=0.02)
    expected = torch.tensor([[2.0, 0.0], [-1.0, math.sqrt(3)], [-1.0, -math.sqrt(3)]])
    torch.testing.assert_close(data.means, expected, atol=1e-6, rtol=0)
    assert data.sigma == 0.02


def test_grid_has_25_modes_on_the_centered_grid():
    data = grid()
    assert data.num_modes == 25
    assert data.sample_shape == (2,)
    assert data.sigma == 0.05
    got = sorted(tuple(round(v, 6) for v in row) for row in data.means.tolist())
    expected = sorted((float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4))
    assert got == expected


def test_grid_options():
    data = grid(side=2, spacing=1.0)
    got = sorted(tuple(row) for row in data.means.tolist())
    assert got == [(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)]


def test_gaussian1d_defaults():
    data = gaussian1d()
    assert data.sample_shape == (1,)
    assert data.num_modes == 2
    assert data.means.tolist() == [[-2.0], [2.0]]
    assert data.sigma == 0.5


@pytest.mark.parametrize("factory", [ring, grid, gaussian1d])
def test_sample_shape_and_dtype(factory):
    data = factory()
    x = data.sample(100, _gen(0))
    assert x.shape == (100, *data.sample_shape)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("factory", [ring, grid, gaussian1d])
def test_sampling_is_deterministic_given_the_generator(factory):
    data = factory()
    assert torch.equal(data.sample(500, _gen(3)), data.sample(500, _gen(3)))
    assert not torch.equal(data.sample(500, _gen(3)), data.sample(500, _gen(4)))
    # Successive draws from one generator differ (the state advances).
    g = _gen(3)
    assert not torch.equal(data.sample(500, g), data.sample(500, g))


@pytest.mark.parametrize(("factory", "num_modes"), [(ring, 8), (grid, 25), (gaussian1d, 2)])
def test_modes_are_uniform_and_spread_is_sigma(factory, num_modes):
    data = factory()
    n = 40_000
    x = data.sample(n, _gen(0))
    nearest = torch.cdist(x, data.means).argmin(dim=1)
    freq = torch.bincount(nearest, minlength=num_modes).float() / n
    # Binomial std of a frequency is sqrt(p (1 - p) / n) <= 0.0025 here; allow ~5 of them.
    assert (freq - 1.0 / num_modes).abs().max().item() < 0.012
    residual = x - data.means[nearest]
    assert residual.mean().abs().max().item() < 0.05 * data.sigma
    assert residual.std().item() == pytest.approx(data.sigma, rel=0.02)


@pytest.mark.parametrize(
    ("factory", "options", "field"),
    [
        (ring, {"sigma": -1.0}, "data.dataset_options.sigma: -1.0 must be > 0"),
        (ring, {"sigma": 0.0}, "data.dataset_options.sigma"),
        (ring, {"num_modes": 0}, "data.dataset_options.num_modes: 0"),
        (ring, {"radius": -2.0}, "data.dataset_options.radius"),
        (grid, {"side": 0}, "data.dataset_options.side: 0"),
        (grid, {"spacing": 0.0}, "data.dataset_options.spacing"),
        (grid, {"sigma": float("nan")}, "data.dataset_options.sigma"),
        (gaussian1d, {"sigma": -0.5}, "data.dataset_options.sigma"),
        (gaussian1d, {"means": ()}, "data.dataset_options.means"),
    ],
)
def test_bad_options_raise_value_error_naming_the_field(factory, options, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")) as info:
        factory(**options)
    assert "\n" not in str(info.value)


def test_log_density_of_gaussian1d_integrates_to_one():
    data = gaussian1d()
    x = torch.linspace(-10.0, 10.0, 20_001, dtype=torch.float64)
    p = data.log_density(x.unsqueeze(1)).exp()
    assert p.shape == (20_001,)
    assert torch.trapezoid(p, x).item() == pytest.approx(1.0, abs=1e-6)
    # At a mode, the other mode 8 sigma away adds only phi(8) ~ 5e-15: p(2) = 1/2 N(0; 0, 0.5^2).
    peak = data.log_density(torch.tensor([[2.0]], dtype=torch.float64)).exp().item()
    assert peak == pytest.approx(0.5 / (0.5 * math.sqrt(2 * math.pi)), rel=1e-9)


def test_log_density_in_2d_matches_the_formula():
    data = ring()
    x = data.means[:1].double()  # exactly at mode 0; all other modes are >= 76 sigma away
    expected = -math.log(8) - math.log(2 * math.pi * 0.01**2)
    assert data.log_density(x).item() == pytest.approx(expected, rel=1e-5)


def test_bounding_box_holds_every_mean():
    low, high = grid().bounding_box()
    assert low.tolist() == [-4.0, -4.0] and high.tolist() == [4.0, 4.0]
    low, high = ring().bounding_box()
    assert low.tolist() == pytest.approx([-1.0, -1.0], abs=1e-6) and high.tolist() == [1.0, 1.0]


def test_data_imports_nothing_from_evaluation():
    """Datasets expose what metrics need; they never import the metrics (issue 11)."""
    import ganbench.data

    for path in Path(ganbench.data.__file__).parent.glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+(ganbench\.\w+)", path.read_text(), re.MULTILINE)
        assert "ganbench.evaluation" not in imports, path.name

"""Mode-coverage metrics and the scatter plot on hand-made sample sets."""

import math

import pytest
import torch

from ganbench.evaluation.modes import mode_metrics, nearest_modes
from ganbench.evaluation.scatter import scatter_plot

SIGMA = 0.01
ANGLES = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
RING = torch.stack([torch.cos(ANGLES), torch.sin(ANGLES)], dim=1).float()


def test_all_modes_equally_covered():
    samples = RING.repeat(5, 1)  # 40 samples, 5 exactly on each mode
    m = mode_metrics(samples, RING, SIGMA)
    assert m["high_quality_fraction"] == 1.0
    assert m["modes_captured"] == 8
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-6)
    assert m["num_samples"] == 40


def test_all_samples_on_one_mode():
    samples = RING[3].repeat(100, 1)
    m = mode_metrics(samples, RING, SIGMA)
    assert m["high_quality_fraction"] == 1.0
    assert m["modes_captured"] == 1
    assert m["reverse_kl"] == pytest.approx(math.log(8), abs=1e-6)


def test_half_the_samples_far_from_every_mode():
    far = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.5, 0.0], [-3.0, 1.0]]).repeat(2, 1)
    samples = torch.cat([RING, far])  # 8 on the modes, 8 off
    m = mode_metrics(samples, RING, SIGMA)
    assert m["high_quality_fraction"] == 0.5
    assert m["modes_captured"] == 8
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-6)  # only high-quality samples enter q
    assert m["num_samples"] == 16


def test_three_sigma_threshold():
    # Offsets along the radius and tangentially: every other mode is >= 0.76 away, far beyond 3 sigma.
    radial = RING
    tangent = torch.stack([-RING[:, 1], RING[:, 0]], dim=1)
    inside = torch.cat([RING + 2.9 * SIGMA * radial, RING - 2.9 * SIGMA * tangent])
    outside = torch.cat([RING + 3.1 * SIGMA * radial, RING - 3.1 * SIGMA * tangent])
    assert mode_metrics(inside, RING, SIGMA)["high_quality_fraction"] == 1.0
    assert mode_metrics(outside, RING, SIGMA)["high_quality_fraction"] == 0.0
    m = mode_metrics(torch.cat([inside[:8], outside[:8]]), RING, SIGMA)
    assert m["high_quality_fraction"] == 0.5
    assert m["modes_captured"] == 8


def test_counts_three_to_one_give_the_closed_form_kl():
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[-1.0, 0.0]] * 3 + [[1.0, 0.0]])
    m = mode_metrics(samples, means, 0.1)
    # q = (3/4, 1/4), K = 2: 3/4 log(3/2) + 1/4 log(1/2) = 0.130812...
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert m["reverse_kl"] == pytest.approx(expected, abs=1e-9)
    assert m["reverse_kl"] == pytest.approx(0.1308121, abs=1e-6)
    assert m["modes_captured"] == 2
    # The same counts against the 8-mode ring: q = (3/4, 1/4, 0, ...), KL = 3/4 log 6 + 1/4 log 2.
    ring_samples = torch.cat([RING[0].repeat(3, 1), RING[5].unsqueeze(0)])
    m8 = mode_metrics(ring_samples, RING, SIGMA)
    assert m8["reverse_kl"] == pytest.approx(0.75 * math.log(6) + 0.25 * math.log(2), abs=1e-6)
    assert m8["modes_captured"] == 2


def test_no_high_quality_sample():
    samples = torch.full((10, 2), 7.0)
    m = mode_metrics(samples, RING, SIGMA)
    assert m["high_quality_fraction"] == 0.0
    assert m["modes_captured"] == 0
    assert m["reverse_kl"] == float("inf")
    assert m["num_samples"] == 10


def test_one_dimensional_samples_flat_or_column():
    means = torch.tensor([[-2.0], [2.0]])
    column = torch.tensor([[-2.0], [-2.1], [2.0], [0.0]])  # sigma 0.5: 0.0 is 4 sigma from both
    for samples in (column, column.squeeze(1)):
        m = mode_metrics(samples, means, 0.5)
        assert m["high_quality_fraction"] == 0.75
        assert m["modes_captured"] == 2
        assert m["reverse_kl"] == pytest.approx(2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3), abs=1e-6)


def test_nan_samples_are_never_high_quality():
    samples = torch.cat([RING, torch.full((8, 2), float("nan"))])
    m = mode_metrics(samples, RING, SIGMA)
    assert m["high_quality_fraction"] == 0.5
    assert m["modes_captured"] == 8


def test_bad_inputs():
    with pytest.raises(ValueError, match="sigma"):
        mode_metrics(RING, RING, 0.0)
    with pytest.raises(ValueError, match="dimension"):
        mode_metrics(torch.zeros(4, 3), RING, SIGMA)
    with pytest.raises(ValueError, match="at least one sample"):
        mode_metrics(torch.zeros(0, 2), RING, SIGMA)


def test_scatter_plot_2d_writes_png(tmp_path):
    samples = RING.repeat(50, 1) + SIGMA * torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    path = scatter_plot(samples, RING, SIGMA, tmp_path / "sub" / "ring.png", title="ring")
    assert path == tmp_path / "sub" / "ring.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


def test_scatter_plot_1d_writes_png_and_pdf(tmp_path):
    means = torch.tensor([[-2.0], [2.0]])
    samples = torch.cat([torch.full((100, 1), -2.0), torch.full((100, 1), 2.0)])
    samples = samples + 0.5 * torch.randn(200, 1, generator=torch.Generator().manual_seed(0))
    png = scatter_plot(samples, means, 0.5, str(tmp_path / "g.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = scatter_plot(samples.squeeze(1), means, 0.5, tmp_path / "g.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_scatter_plot_leaves_no_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    scatter_plot(RING, RING, SIGMA, tmp_path / "a.png")
    assert plt.get_fignums() == before


def test_scatter_plot_rejects_3d(tmp_path):
    with pytest.raises(ValueError, match="1-D or 2-D"):
        scatter_plot(torch.zeros(5, 3), torch.zeros(2, 3), 0.1, tmp_path / "x.png")


# ---------------------------------------------------------------------- modes_covered, off_mode_mass
def _score(mixture, samples):
    from ganbench.evaluation.mixture import score_mixture

    keys = ("high_quality_fraction", "modes_captured", "modes_covered", "off_mode_mass")
    return score_mixture(mixture, samples, keys)


def test_high_quality_probability_is_the_chi_square_closed_form():
    from ganbench.evaluation.modes import high_quality_probability

    assert high_quality_probability(2) == pytest.approx(1 - math.exp(-4.5), rel=1e-12)
    assert high_quality_probability(1) == pytest.approx(math.erf(3 / math.sqrt(2)), rel=1e-12)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_data_covers_every_mode_and_uniform_or_gaussian_noise_none(name):
    from ganbench.data import DATASETS

    mixture = DATASETS.build(name, {}, field="data.dataset")
    k = mixture.num_modes
    g = torch.Generator().manual_seed(0)
    data = _score(mixture, mixture.sample(2500, g))
    assert data["modes_covered"] == k and data["modes_captured"] == k
    assert data["off_mode_mass"] == pytest.approx(math.exp(-4.5), abs=0.006)  # 1 - P(chi_2 <= 3)
    assert data["off_mode_mass"] == pytest.approx(1 - data["high_quality_fraction"], abs=1e-12)
    low, high = mixture.bounding_box()
    uniform = low - 1 + (high - low + 2) * torch.rand(2500, 2, generator=g)
    # Isotropic Gaussian noise covering the modes (the means' centre and spread): the shape that
    # fooled modes_captured most (it "captures" modes with a few stray samples).
    blob = mixture.means.mean(0) + mixture.means.std(0) * torch.randn(2500, 2, generator=g)
    for noise in (uniform, blob):
        scores = _score(mixture, noise)
        assert scores["modes_covered"] <= 0.1 * k and scores["off_mode_mass"] > 0.95


def test_dropping_k_modes_covers_k_fewer():
    from ganbench.data.toy import grid

    mixture = grid()
    samples = mixture.sample(5000, torch.Generator().manual_seed(1))
    nearest, _ = nearest_modes(samples, mixture.means)
    for dropped in (0, 1, 7, 24):
        kept = samples[nearest >= dropped]  # modes 0 .. dropped-1 get nothing
        scores = _score(mixture, kept)
        assert scores["modes_covered"] == 25 - dropped and scores["modes_captured"] == 25 - dropped


def test_a_mode_needs_its_share_of_the_expected_mass():
    from ganbench.evaluation.modes import COVERAGE_SHARE, MixtureSamples, modes_covered

    # 8 modes, n = 1000: a mode expects 125 x 0.9889 = 123.6 high-quality samples; the share is 12.36.
    per_mode = [300, 300, 200, 100, 50, 13, 12, 25]
    samples = torch.cat([RING[i].repeat(c, 1) for i, c in enumerate(per_mode)])
    scored = MixtureSamples(samples, RING, SIGMA)
    threshold = COVERAGE_SHARE * 1000 / 8 * (1 - math.exp(-4.5))
    assert 12 < threshold < 13
    assert modes_covered(scored) == sum(c >= threshold for c in per_mode) == 7

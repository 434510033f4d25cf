"""``figure1``: Goodfellow et al.'s fig. 1 drawn from a 1-D run's traces, and its refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from ganbench.cli import lightning_main, main
from ganbench.evaluation.discriminator_trace import record_trace
from ganbench.runs.goodfellow_figure import default_iterations, density_estimate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory holding traces of iterations 0, 500, 1000 and 1500 (an untrained pair: the
    figure reads files, it does not care how the weights got there)."""
    config = str(REPO / "configs" / "toy" / "gaussian1d.yaml")
    cli = lightning_main(["--config", config, "--trainer.logger=false"], run=False)
    path = tmp_path_factory.mktemp("figure1") / "run"
    for iteration in (0, 500, 1000, 1500):
        record_trace(path, cli.datamodule.dataset, cli.model, 400, 1234, iteration, "eval")
    return path


def test_figure_has_one_panel_per_iteration_as_pdf_and_png(run_dir, tmp_path):
    from matplotlib.image import imread

    def drawn(out: Path) -> list[int]:
        assert (out / "figure1.pdf").read_bytes().startswith(b"%PDF")
        record = json.loads((out / "figure1.json").read_text())
        assert record["d_output"] == "probability" and record["panels"][0]["num_samples"] == 400
        panels = [p["iteration"] for p in record["panels"]]
        width = imread(out / "figure1.png").shape[1]
        assert width / 300 == pytest.approx(2.6 * len(panels) + 0.9, abs=0.05)  # 300 dpi, 2.6 in a panel
        return panels

    assert main(["figure1", str(run_dir), "--iterations", "0", "1500", "--out", str(tmp_path / "two")]) == 0
    assert drawn(tmp_path / "two") == [0, 1500]
    assert main(["figure1", str(run_dir), "--out", str(tmp_path / "default")]) == 0
    assert drawn(tmp_path / "default") == [0, 500, 1000, 1500]  # four panels, as Goodfellow's


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_traces", "holds no discriminator traces"),
        ("missing_dir", "is not a directory"),
        ("unrecorded", "700 not recorded"),
        ("repeated", "repeats an iteration"),
        ("out_is_a_file", "--out:"),
        ("not_an_integer", "--iterations"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path, capsys, case, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "file").write_text("x")
    argv = {
        "no_traces": [str(empty)],
        "missing_dir": [str(tmp_path / "nowhere")],
        "unrecorded": [str(run_dir), "--iterations", "0", "700"],
        "repeated": [str(run_dir), "--iterations", "500", "500"],
        "out_is_a_file": [str(run_dir)],
        "not_an_integer": [str(run_dir), "--iterations", "ten"],
    }[case]
    out = tmp_path / ("file" if case == "out_is_a_file" else "out")
    assert main(["figure1", *argv, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
    if case == "unrecorded":
        assert error.endswith("recorded: 0, 500, 1000, 1500")
    assert not (tmp_path / "out").exists()


def test_default_iterations_spread_over_the_recorded_ones():
    assert default_iterations(list(range(0, 4001, 100))) == [0, 1300, 2700, 4000]
    assert default_iterations([0, 10]) == [0, 10]


def test_density_estimate_is_a_density_and_survives_a_point_mass():
    x = np.linspace(-6, 6, 801)
    samples = norm.rvs(size=10_000, random_state=np.random.default_rng(0))
    density, h = density_estimate(samples, x, sigma=2.0)
    assert h == pytest.approx(10_000 ** (-1 / 5), rel=0.02)  # Scott's width for unit spread, below sigma / 4
    assert np.trapezoid(density, x) == pytest.approx(1.0, abs=1e-3)
    assert np.abs(density - norm.pdf(x)).max() < 0.03  # KDE noise and bias at the peak (0.4)
    narrow, h = density_estimate(samples, x, sigma=0.2)
    assert h == pytest.approx(0.05)  # capped at sigma / 4: the data's modes are not smeared
    point, h = density_estimate(np.full(100, 1.5), x, sigma=0.4)
    assert h == pytest.approx(0.1) and x[point.argmax()] == pytest.approx(1.5, abs=0.01)
    assert np.trapezoid(point, x) == pytest.approx(1.0, abs=1e-3)


def test_mean_d_weighs_d_by_the_data_density_and_by_the_samples():
    from ganbench.runs.goodfellow_figure import mean_d

    x = np.linspace(-5, 5, 1001)
    trace = {
        "x": x,
        "d": np.where(x < 0, 0.9, 0.1),  # D = 0.9 left of 0, 0.1 right of it
        "data_density": 0.5 * norm.pdf(x, -2, 0.5) + 0.5 * norm.pdf(x, 2, 0.5),
        "samples": np.array([-3.0, 1.0, 2.0, 4.0, 9.0]),  # 9 is off the frame: D's edge value
    }
    on_data, on_samples = mean_d(trace)
    assert on_data == pytest.approx(0.5, abs=1e-3)
    assert on_samples == pytest.approx((0.9 + 4 * 0.1) / 5)

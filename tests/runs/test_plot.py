"""``ganbench plot``: curves over seeds computed exactly, written as PNG and PDF without pyplot state."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.runs.plot import curves, main
from ganbench.runs.table import find_runs


def write_run(root: Path, name: str, objective: str, values: list, status: str = "completed", dataset="ring"):
    directory = root / name
    directory.mkdir(parents=True)
    history = [
        {"iteration": 1000 * (i + 1), "modes_captured": v, "num_samples": 100} for i, v in enumerate(values)
    ]
    record = {
        "status": status,
        "seed": 0,
        "metrics": history[-1] if history else {},
        "history": history,
        "config": {"model": {"objective": objective}, "data": {"dataset": dataset}},
    }
    (directory / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    write_run(tmp_path, "a", "minimax", [2.0, 4.0, 8.0])
    write_run(tmp_path, "b", "minimax", [4.0, None, 6.0])  # a null: left out at 2000, counted
    write_run(tmp_path, "c", "minimax", [6.0, 6.0], status="diverged")  # stops early
    write_run(tmp_path, "d", "minimax", [0.0, 0.0, 0.0], status="crashed")  # not drawn
    write_run(tmp_path, "e", "hinge", [8.0, 8.0, 8.0])
    return tmp_path


def test_mean_and_bands_over_seeds(bench):
    (panel,) = curves(find_runs([bench]), "modes_captured", band="std").values()
    hinge, minimax = panel  # sorted by group
    assert (minimax.group, minimax.runs, minimax.diverged, minimax.omitted) == ("minimax", 3, 1, 1)
    np.testing.assert_array_equal(minimax.iterations, [1000, 2000, 3000])
    np.testing.assert_array_equal(minimax.counts, [3, 2, 2])
    np.testing.assert_allclose(minimax.mean, [4.0, 5.0, 7.0])
    std = [np.std([2, 4, 6], ddof=1), np.std([4, 6], ddof=1), np.std([8, 6], ddof=1)]
    np.testing.assert_allclose(minimax.low, np.array([4.0, 5.0, 7.0]) - std)
    np.testing.assert_allclose(minimax.high, np.array([4.0, 5.0, 7.0]) + std)
    assert minimax.legend == "minimax (n=3, 1 diverged, 1 non-finite values omitted)"
    np.testing.assert_allclose(hinge.low, hinge.high)  # one run: no band
    (panel,) = curves(find_runs([bench]), "modes_captured", band="minmax").values()
    np.testing.assert_allclose(panel[1].low, [2.0, 4.0, 6.0])
    np.testing.assert_allclose(panel[1].high, [6.0, 6.0, 8.0])
    (panel,) = curves(find_runs([bench]), "modes_captured").values()  # default: 95% t CI of the mean
    half = [
        4.302653 * 2 / np.sqrt(3),
        12.706205 * np.sqrt(2) / np.sqrt(2),
        12.706205 * np.sqrt(2) / np.sqrt(2),
    ]
    np.testing.assert_allclose(panel[1].high - panel[1].mean, half, rtol=1e-5)


def test_writes_png_and_pdf_per_panel_without_pyplot_figures(bench, tmp_path, capsys):
    write_run(bench, "f", "hinge", [1.0, 2.0, 3.0], dataset="grid")
    pyplot = sys.modules.get("matplotlib.pyplot")
    before = pyplot.get_fignums() if pyplot else []
    out = tmp_path / "plots"
    assert main([str(bench), "--metric", "modes_captured", "--by", "data.dataset", "--out", str(out)]) == 0
    assert (out / "modes_captured.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "modes_captured.pdf").read_bytes()[:5] == b"%PDF-"
    assert "1 run(s) not drawn (status crashed)" in capsys.readouterr().err
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert (pyplot.get_fignums() if pyplot else []) == before


@pytest.mark.parametrize(
    ("argv", "field", "choices"),
    [
        (["--metric", "fid"], "--metric", "modes_captured"),
        (["--band", "iqr"], "--band", "std, minmax"),
        (["--group", "model.objectve"], "--group", "model.objective"),
    ],
)
def test_bad_input_is_one_line_exit_2(bench, tmp_path, capsys, argv, field, choices):
    assert main([str(bench), "--out", str(tmp_path / "p"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and choices in err
    assert not (tmp_path / "p").exists()


def test_saturation_signal_from_the_training_csv(tmp_path):
    """``--metric train/...`` reads DIR/train_log/metrics.csv (Lightning's 0-based step + 1 = iteration)."""
    for name, objective, values in [("m", "minimax", [0.1, 0.05]), ("n", "nonsaturating", [0.9, 0.95])]:
        write_run(tmp_path, name, objective, [1.0])
        log = tmp_path / name / "train_log"
        log.mkdir()
        rows = ["epoch,eval/modes_captured,step,train/g_logit_grad"]
        rows += [f"0,,{50 * (i + 1) - 1},{v}" for i, v in enumerate(values)] + [",1.0,100,"]
        (log / "metrics.csv").write_text("\n".join(rows) + "\n")
    panels = curves(find_runs([tmp_path]), "train/g_logit_grad")
    (lines,) = panels.values()
    assert [line.group for line in lines] == ["minimax", "nonsaturating"]
    np.testing.assert_array_equal(lines[0].iterations, [50, 100])
    np.testing.assert_allclose(lines[0].mean, [0.1, 0.05])
    np.testing.assert_allclose(lines[1].mean, [0.9, 0.95])
    assert main([str(tmp_path), "--metric", "train/g_logit_grad", "--out", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "train_g_logit_grad.png").stat().st_size > 0


def test_samples_grid_has_a_cell_per_group_and_seed(tmp_path):
    from matplotlib.image import imread

    from ganbench.data.toy import ring
    from ganbench.evaluation.scatter import scatter_plot
    from ganbench.runs.plot import last_samples

    mixture = ring()
    for objective in ("minimax", "hinge"):
        for seed in (0, 1, 2):
            name = f"{objective}{seed}"
            write_run(tmp_path, name, objective, [float(seed)])
            record = json.loads((tmp_path / name / "metrics.json").read_text())
            record["seed"] = seed
            (tmp_path / name / "metrics.json").write_text(json.dumps(record))
            samples = mixture.sample(200, torch.Generator().manual_seed(seed))
            for iteration in (1000, 2000):
                path = tmp_path / name / "samples" / f"eval_{iteration:07d}.png"
                scatter_plot(samples, mixture.means, mixture.sigma, path)
    runs = find_runs([str(tmp_path)])
    assert last_samples(runs[0]).name == "eval_0002000.png"
    out = tmp_path / "plots"
    assert main([str(tmp_path), "--samples", "--out", str(out)]) == 0
    image = imread(out / "samples.png")
    height, width = image.shape[:2]
    assert width / height == pytest.approx((3 * 2.2) / (2 * 2.4), rel=0.05)  # 3 seeds x 2 objectives
    assert (out / "samples.pdf").stat().st_size > 0
    assert main([str(tmp_path / "minimax0"), "--samples", "--out", str(out / "none"), "--group", "nope"]) == 2


def test_reference_lines_are_the_data_and_noise_rows_and_labels_carry_direction(bench, tmp_path):
    from ganbench.runs.plot import axis_label, reference_lines

    lines = reference_lines(find_runs([bench]), "modes_captured", [], draws=3)
    (panel,) = lines.values()
    data, noise = panel
    assert (data.name, noise.name, data.draws) == ("data", "noise", 3)
    assert data.mean == 8.0 and data.std == 0.0  # 100 samples of the ring hit all 8 modes every time
    assert noise.mean < 8.0
    assert axis_label("modes_captured") == "modes captured (↑ better)"
    assert axis_label("wasserstein_1") == "Wasserstein-1 (↓ better)"
    assert axis_label("train/d_loss") == "d loss"
    out = tmp_path / "plots"
    assert main([str(bench), "--metric", "modes_captured", "--reference", "3", "--out", str(out)]) == 0
    assert (out / "modes_captured.png").stat().st_size > 0


def test_bands_stay_inside_the_metrics_range(tmp_path):
    for name, value in (("a", 0.0), ("b", 0.05), ("c", 1.0)):
        directory = tmp_path / name
        directory.mkdir()
        history = [{"iteration": 1000, "high_quality_fraction": value}]
        record = {"status": "completed", "seed": 0, "metrics": history[0], "history": history,
                  "config": {"model": {"objective": "minimax"}}}  # fmt: skip
        (directory / "metrics.json").write_text(json.dumps(record))
    ((line,),) = curves(find_runs([tmp_path]), "high_quality_fraction", band="std").values()
    std = np.std([0.0, 0.05, 1.0], ddof=1)
    assert line.mean[0] - std < 0 and line.low[0] == 0.0  # clipped to the declared range [0, 1]
    assert line.mean[0] + std < 1 and line.high[0] == pytest.approx(line.mean[0] + std)
    ((line,),) = curves(find_runs([tmp_path]), "high_quality_fraction").values()  # the 95% CI: both ends
    assert line.low[0] == 0.0 and line.high[0] == 1.0


def test_samples_grid_from_checkpoints_is_one_vector_figure(tmp_path):
    import lightning

    from ganbench.module import GAN

    for objective in ("hinge", "minimax"):
        for seed in (0, 1):
            directory = tmp_path / f"{objective}-{seed}"
            torch.manual_seed(seed)
            module = GAN(objective=objective, net="mlp", sample_shape=(2,))
            checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
            checkpoint["pytorch-lightning_version"] = lightning.__version__
            module.on_save_checkpoint(checkpoint)
            (directory / "checkpoints").mkdir(parents=True)
            torch.save(checkpoint, directory / "checkpoints" / "final.ckpt")
            record = {
                "status": "completed",
                "seed": seed,
                "metrics": {"num_samples": 300},
                "history": [],
                "config": {
                    "model": {"objective": objective},
                    "data": {"dataset": "ring"},
                    "evaluation": {"seed": 1234, "num_samples": 300},
                },
            }
            (directory / "metrics.json").write_text(json.dumps(record))
    out = tmp_path / "plots"
    assert main([str(tmp_path), "--samples", "--out", str(out)]) == 0
    pdf = (out / "samples.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # vector: no pasted raster
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"


def test_at_iteration_draws_unfinished_runs_up_to_it(tmp_path, capsys):
    write_run(tmp_path, "a", "minimax", [2.0, 4.0, 8.0])
    write_run(tmp_path, "b", "minimax", [4.0, 6.0], status="running")
    write_run(tmp_path, "c", "minimax", [1.0], status="interrupted")  # not at 2000 yet
    assert curves(find_runs([tmp_path]), "modes_captured")[()][0].runs == 1  # only the finished one
    out = tmp_path / "plots"
    assert main([str(tmp_path), "--at_iteration", "2000", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "2 of 3 runs reached it" in err and "1 run(s) not drawn" in err
    from ganbench.runs.table import at_iteration

    runs, _ = at_iteration(find_runs([tmp_path]), 2000)
    (line,) = curves(runs, "modes_captured")[()]
    np.testing.assert_array_equal(line.iterations, [1000, 2000])
    np.testing.assert_allclose(line.mean, [3.0, 5.0])


def test_samples_grids_are_one_per_by_value(tmp_path):
    from matplotlib.image import imread

    from ganbench.data.toy import grid, ring
    from ganbench.evaluation.scatter import scatter_plot

    for dataset, mixture, seeds in (("ring", ring(), (0, 1, 2)), ("grid", grid(), (0, 1))):
        for seed in seeds:
            name = f"{dataset}{seed}"
            write_run(tmp_path, name, "minimax", [1.0], dataset=dataset)
            record = json.loads((tmp_path / name / "metrics.json").read_text())
            record["seed"] = seed
            (tmp_path / name / "metrics.json").write_text(json.dumps(record))
            samples = mixture.sample(100, torch.Generator().manual_seed(seed))
            picture = tmp_path / name / "samples" / "eval_0001000.png"
            scatter_plot(samples, mixture.means, mixture.sigma, picture)
    out = tmp_path / "plots"
    assert main([str(tmp_path), "--samples", "--by", "data.dataset", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["samples_grid.png", "samples_ring.png"]
    ring_image, grid_image = imread(out / "samples_ring.png"), imread(out / "samples_grid.png")
    assert ring_image.shape[1] > grid_image.shape[1]  # 3 seeds against 2: each figure holds its dataset only

"""benchmarks/performance.py end to end on a CPU with the tiniest settings (a smoke test, not a timing)."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "performance.py"
SAMPLES = 4  # images a side: the FID arithmetic (2048-d) costs the same, each image ~0.3 s of Inception


def _table_rows(report: str, heading: str) -> list[list[str]]:
    """The body rows (cells) of the first Markdown table after ``heading``."""
    section = report.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(scope="module")
def smoke(inception_weights, tmp_path_factory) -> tuple[subprocess.CompletedProcess, str]:
    out = tmp_path_factory.mktemp("perf") / "perf.md"
    args = [
        sys.executable, str(SCRIPT), "--device", "cpu", "--iterations", "2", "--warmup", "1",
        "--batch-sizes", "4", "--variants", "eager,channels_last", "--eval-samples", str(SAMPLES),
        "--real-samples", str(SAMPLES), "--eval-batch-size", str(SAMPLES),
        "--inception-weights", str(inception_weights), "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.is_file()
    return result, out.read_text()


def test_report_has_both_tables_and_is_printed_last(smoke):
    result, report = smoke
    assert result.stdout.rstrip().endswith(report.rstrip())
    assert "Command: `python " in report and "--batch-sizes 4" in report
    assert re.search(r"torch [\w.+]+, lightning [\w.]+, torch-fidelity [\w.]+", report)
    train = _table_rows(report, "## Training loop")
    assert [row[:2] for row in train] == [["eager", "4"], ["channels_last", "4"]]
    for row in train:
        assert all(float(cell) > 0 for cell in row[2:]), row  # no variant failed
    assert len(_table_rows(report, "## Evaluation")) == 1
    assert "strict fp32" in report
    assert "## Targets" in report


def test_plain_and_ganbench_compute_the_same_iteration(smoke):
    _, report = smoke
    match = re.search(r"Same iteration: max abs difference .*?: ([-+.\deE]+)", report)
    assert match, report
    assert float(match.group(1)) < 1e-4


def test_both_evaluation_paths_give_the_same_fid(smoke):
    _, report = smoke
    (row,) = _table_rows(report, "## Evaluation")
    assert row[0] == str(SAMPLES) and row[1] == str(SAMPLES)
    ganbench_fid, png_fid = float(row[5]), float(row[6])
    assert math.isfinite(ganbench_fid) and math.isfinite(png_fid)
    # PNG is lossless for uint8 images and the noise is the same, so the images are the same.
    assert png_fid == pytest.approx(ganbench_fid, rel=1e-2)
    assert float(row[2]) > 0 and float(row[3]) > 0

"""``ganbench table`` on hand-written run records: every number checked against a hand computation."""

import csv
import io
import json
import math
import re
import statistics
from pathlib import Path

import pytest
from scipy import integrate, stats

from ganbench.runs.table import (
    Threshold,
    at_iteration,
    build_table,
    find_runs,
    main,
    normalized_auc,
    render_csv,
    render_latex,
    render_markdown,
)

ITERATIONS = [1000, 2000, 4000]


def write_run(
    root: Path,
    name: str,
    objective: str,
    seed: int,
    status: str = "completed",
    hqf: float = 0.5,
    modes: float = 8.0,
    kl: float | None = 0.1,
    history: list[dict] | None = None,
    dataset: str = "ring",
) -> Path:
    """A metrics.json as RunRecord writes it, with known values."""
    directory = root / name
    directory.mkdir(parents=True)
    final = {"high_quality_fraction": hqf, "modes_captured": modes, "reverse_kl": kl, "num_samples": 2500}
    if history is None:
        history = [{"iteration": i, **final} for i in ITERATIONS]
    record = {
        "status": status,
        "iterations": ITERATIONS[-1],
        "seed": seed,
        "objective": f"{objective}()",
        "metrics": final,
        "history": history,
        "diverged_at": 1500 if status == "diverged" else None,
        "wall_time_s": 1.0,
        "device": "cpu",
        "config": {"seed_everything": seed, "model": {"objective": objective}, "data": {"dataset": dataset}},
        "versions": {},
        "git_commit": None,
    }
    (directory / "metrics.json").write_text(json.dumps(record))
    return directory


MINIMAX_HQF = [0.5, 0.6, 0.8]
NONSAT_HQF = [0.9, 0.95, 0.85, 0.92]
MINIMAX_KL = [1.0, 1.1, 1.3]
NONSAT_KL = [0.1, 0.2, 0.3, 0.4]


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """minimax: 3 completed + 1 diverged + 1 crashed + 1 interrupted + 1 running; nonsaturating: 4."""
    root = tmp_path / "bench"
    for seed, hqf in enumerate(MINIMAX_HQF):
        write_run(
            root / "minimax", f"s{seed}", "minimax", seed, hqf=hqf, modes=6.0 + seed, kl=MINIMAX_KL[seed]
        )
    write_run(root / "minimax", "s3", "minimax", 3, status="diverged", hqf=0.0)
    write_run(root / "minimax", "s4", "minimax", 4, status="crashed")
    write_run(root / "minimax", "s5", "minimax", 5, status="interrupted")
    write_run(root / "minimax", "s6", "minimax", 6, status="running")
    for seed, hqf in enumerate(NONSAT_HQF):
        write_run(root / "nonsat", f"s{seed}", "nonsaturating", seed, hqf=hqf, modes=8.0, kl=NONSAT_KL[seed])
    return root


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    return {row["model.objective"]: row for row in csv.DictReader(io.StringIO(text))}


def test_mean_std_and_t_interval_equal_hand_computation(bench):
    rows = csv_rows(render_csv(build_table(find_runs([bench]), metrics=["high_quality_fraction"])))
    mm = rows["minimax"]
    mean, std = statistics.mean(MINIMAX_HQF), statistics.stdev(MINIMAX_HQF)
    half = stats.t.ppf(0.975, df=2) * std / math.sqrt(3)
    assert int(mm["n"]) == 3
    assert float(mm["high_quality_fraction_mean"]) == pytest.approx(mean, rel=1e-12)
    assert float(mm["high_quality_fraction_std"]) == pytest.approx(std, rel=1e-12)
    assert float(mm["high_quality_fraction_ci_low"]) == pytest.approx(mean - half, rel=1e-12)
    assert float(mm["high_quality_fraction_ci_high"]) == pytest.approx(mean + half, rel=1e-12)
    assert mm["seeds"] == "0 1 2"


def test_failures_are_counted_and_running_runs_noted(bench):
    table = build_table(find_runs([bench]))
    mm = next(row for row in table.rows if row.group == "minimax")
    assert mm.n == 3
    assert dict(mm.failures) == {"diverged": 1, "crashed": 1, "interrupted": 1}
    text = render_markdown(table)
    assert "| minimax | 3 | 3 (1 crashed, 1 diverged, 1 interrupted) |" in text
    assert any("1 run(s) not counted" in note and "running: minimax" in note for note in table.notes)
    row = csv_rows(render_csv(table))["minimax"]
    assert (row["failures"], row["diverged"], row["crashed"], row["interrupted"]) == ("3", "1", "1", "1")


def test_best_is_bold_per_direction(bench):
    table = build_table(find_runs([bench]), metrics=["high_quality_fraction", "reverse_kl"], auc=False)
    cells = {row.group: row.cells for row in table.rows}
    assert cells["nonsaturating"]["high_quality_fraction"].best  # higher is better
    # 0.63 vs 0.905 on 3 and 4 seeds: Welch p = 0.08, not significantly worse, so also marked.
    assert stats.ttest_ind(NONSAT_HQF, MINIMAX_HQF, equal_var=False).pvalue > 0.05
    assert cells["minimax"]["high_quality_fraction"].best
    assert cells["nonsaturating"]["reverse_kl"].best  # 0.25 < 1.5: lower is better
    assert not cells["minimax"]["reverse_kl"].best  # and clearly apart (p < 0.01)
    text = render_markdown(table)
    assert f"**{statistics.mean(NONSAT_KL):.3g}**" in text
    assert f"**{statistics.mean(MINIMAX_KL):.3g}**" not in text
    # --lower-is-better replaces the default list: reverse_kl becomes higher-is-better.
    flipped = build_table(find_runs([bench]), metrics=["reverse_kl"], lower_is_better=[], auc=False)
    assert next(r for r in flipped.rows if r.group == "minimax").cells["reverse_kl"].best


@pytest.mark.parametrize(
    ("test", "scipy_p"),
    [
        ("welch", lambda a, b: stats.ttest_ind(a, b, equal_var=False).pvalue),
        ("mannwhitney", lambda a, b: stats.mannwhitneyu(a, b, alternative="two-sided").pvalue),
    ],
)
def test_p_value_is_scipys_and_marked(bench, test, scipy_p):
    metrics = ["high_quality_fraction", "reverse_kl"]
    table = build_table(find_runs([bench]), metrics=metrics, baseline="nonsaturating", test=test, auc=False)
    rows = csv_rows(render_csv(table))
    samples = {"high_quality_fraction": (NONSAT_HQF, MINIMAX_HQF), "reverse_kl": (NONSAT_KL, MINIMAX_KL)}
    minimax_line = next(line for line in render_markdown(table).splitlines() if line.startswith("| minimax"))
    cells = minimax_line.split(" | ")[-2:]
    for metric, cell in zip(metrics, cells, strict=True):
        expected = scipy_p(*samples[metric])
        assert float(rows["minimax"][f"{metric}_p_value"]) == pytest.approx(expected, rel=1e-12)
        assert rows["nonsaturating"][f"{metric}_p_value"] == ""  # the baseline itself
        assert ("†" in cell) == (expected < 0.05)
    if test == "welch":  # 1.0 .. 1.3 against 0.1 .. 0.4: clearly apart
        assert rows["minimax"]["reverse_kl_p_value"] and float(rows["minimax"]["reverse_kl_p_value"]) < 0.05
    assert {"welch": "Welch's t-test", "mannwhitney": "Mann-Whitney U"}[test] in render_markdown(table)


def test_iterations_to_threshold_and_auc_exact(tmp_path):
    def history(values):
        return [{"iteration": i, "modes_captured": v} for i, v in zip(ITERATIONS, values, strict=True)]

    write_run(tmp_path, "a", "minimax", 0, modes=6.0, history=history([2.0, 8.0, 6.0]))
    write_run(tmp_path, "b", "minimax", 1, modes=8.0, history=history([8.0, 8.0, 8.0]))
    write_run(tmp_path, "c", "minimax", 2, modes=3.0, history=history([1.0, 2.0, 3.0]))
    table = build_table(
        find_runs([tmp_path]), metrics=["modes_captured"], thresholds=[Threshold.parse("modes_captured>=8")]
    )
    row = table.rows[0]
    reach = row.cells["iters_modes_captured_ge_8"]
    assert (reach.values, reach.reached, reach.total, reach.mean) == ([2000.0, 1000.0], 2, 3, 1500.0)
    # Trapezoids by hand: (2+8)/2*1000 + (8+6)/2*2000 = 19000 over a span of 3000.
    aucs = [19000 / 3000, 8.0, ((1 + 2) / 2 * 1000 + (2 + 3) / 2 * 2000) / 3000]
    assert row.cells["auc_modes_captured"].values == pytest.approx(aucs, rel=1e-12)
    assert aucs[0] == pytest.approx(integrate.trapezoid([2, 8, 6], ITERATIONS) / 3000)
    assert "**1500** ± 707 (2/3)" in render_markdown(table)  # the only row: best
    below = Threshold.parse("modes_captured<=2")
    low = build_table(find_runs([tmp_path]), metrics=["modes_captured"], thresholds=[below]).rows[0]
    assert low.cells["iters_modes_captured_le_2"].values == [1000.0, 1000.0]


def test_auc_of_one_evaluation_is_its_value_and_none_without_any():
    assert normalized_auc([{"iteration": 5, "m": 3.0}], "m", math.inf) == 3.0
    assert normalized_auc([], "m", math.inf) is None


def test_null_reverse_kl_is_infinite_and_counted(tmp_path):
    for seed, kl in enumerate([0.2, None, 0.4]):
        write_run(tmp_path, f"s{seed}", "minimax", seed, kl=kl)
    table = build_table(find_runs([tmp_path]), metrics=["reverse_kl"])
    cell = table.rows[0].cells["reverse_kl"]
    assert (cell.mean, cell.n_null) == (math.inf, 1)
    assert "inf (1/3 null)" in render_markdown(table)
    row = csv_rows(render_csv(table))["minimax"]
    assert (row["reverse_kl_mean"], row["reverse_kl_n_null"], row["reverse_kl_std"]) == ("inf", "1", "")
    assert float(row["reverse_kl_mean"]) == math.inf
    assert table.rows[0].cells["auc_reverse_kl"].n_null == 1  # the history held the null too


def test_latex_has_booktabs_escapes_and_blocks(tmp_path):
    for dataset in ("ring", "grid"):
        for objective, hqf in (("minimax", 0.4), ("least_squares", 0.6)):
            for seed in range(2):
                write_run(
                    tmp_path / dataset,
                    f"{objective}-{seed}",
                    objective,
                    seed,
                    hqf=hqf + seed / 10,
                    dataset=dataset,
                )
    table = build_table(
        find_runs([tmp_path]),
        by=["data.dataset"],
        baseline="minimax",
        thresholds=[Threshold.parse("modes_captured>=8")],
    )
    text = render_latex(table)
    body = [line for line in text.splitlines() if not line.startswith("%")]
    joined = "\n".join(body)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\end{table}"):
        assert rule in joined
    assert joined.count(r"\midrule") == 2  # after the header and between the two datasets
    assert re.search(r"(?<!\\)_", joined) is None  # every underscore escaped
    assert r"least\_squares" in joined and r"high quality fraction $\uparrow$" in joined
    assert r"$\geq$" in joined and r"\textbf{" in joined and r"$\pm$" in joined
    assert joined.count("{") == joined.count("}") and text.isascii()
    caption = next(line for line in body if line.startswith(r"\caption"))
    assert "Welch" in caption and len(caption) < 300  # short; the long legend is in the comments
    assert r"\resizebox" not in joined and "AUC" not in joined  # fits a column: no AUC unless asked
    assert "Cells: mean" in text  # the long explanation, as a comment
    table.latex_auc, table.latex_ci = True, True
    wide = render_latex(table)
    assert "AUC" in wide and "[" in wide.split(r"\midrule")[1]


@pytest.mark.parametrize(
    ("mean", "spread", "expected"),
    [
        (0.24, 0.248, ("0.24", "0.25")),
        (0.2404, 0.0621, ("0.240", "0.062")),
        (7.6, 0.52, ("7.60", "0.52")),
        (1234.5, 250.0, ("1234", "250")),
        (0.5, 0.0996, ("0.50", "0.10")),
        (0.5, float("nan"), ("0.5", None)),
    ],
)
def test_spread_has_two_significant_digits_and_the_mean_its_decimals(mean, spread, expected):
    from ganbench.runs.table import mean_and_spread

    assert mean_and_spread(mean, spread, 3) == expected


def test_latex_compiles_with_pdflatex(bench, tmp_path):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    table = render_latex(build_table(find_runs([bench]), baseline="nonsaturating"))
    document = "\\documentclass[twocolumn]{article}\\usepackage{booktabs}\\begin{document}\n"
    (tmp_path / "t.tex").write_text(document + table + "\\end{document}\n")
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Overfull \\hbox" not in result.stdout  # fits one column


def test_csv_parses_one_row_per_group(bench):
    text = render_csv(build_table(find_runs([bench]), baseline="nonsaturating"))
    reader = list(csv.DictReader(io.StringIO(text)))
    assert [row["model.objective"] for row in reader] == ["minimax", "nonsaturating"]
    for row in reader:
        for key, value in row.items():
            if key.endswith(("_mean", "_std", "_ci_low", "_ci_high", "_p_value")) and value:
                float(value)
        int(row["n"]), int(row["failures"])


def test_main_writes_out_atomically_with_footer(bench, tmp_path, capsys):
    out = tmp_path / "table.md"
    argv = [str(bench), "--baseline", "nonsaturating", "--threshold", "modes_captured>=8", "--out", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    footer = text.strip().splitlines()[-1]
    assert footer.startswith("Command: python -m ganbench table ")
    assert "11 runs (7 completed, 1 crashed, 1 diverged, 1 interrupted, 1 running)" in footer
    assert "seeds: 0, 1, 2, 3, 4, 5, 6" in footer and "num_samples: 2500 (11 runs)" in footer
    assert list(out.parent.glob(".table.md.*")) == []
    capsys.readouterr()
    assert main([str(bench / "nonsat" / "s0"), "--format", "csv"]) == 0  # a run dir itself works too
    assert capsys.readouterr().out.startswith("model.objective,n,failures")


@pytest.mark.parametrize(
    ("argv", "field", "choices"),
    [
        (["--format", "html"], "--format", "md, latex, csv"),
        (["--group", "model.objectiv"], "--group", "model.objective"),
        (["--by", "data.datset"], "--by", "data.dataset"),
        (["--baseline", "hinge"], "--baseline", "minimax, nonsaturating"),
        (["--test", "ttest"], "--test", "welch, mannwhitney"),
        (["--metrics", "fid"], "--metrics", "high_quality_fraction, modes_captured, reverse_kl"),
        (["--threshold", "modes_captured=8"], "--threshold", "METRIC>=VALUE"),
        (["--alpha", "x"], "--alpha", "invalid float"),
    ],
)
def test_bad_input_is_one_line_exit_2(bench, capsys, argv, field, choices):
    assert main([str(bench), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and choices in err and "Traceback" not in err


def test_missing_run_dir_is_one_line_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "RUN_DIRS" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2  # exists, but holds no metrics.json
    assert "no metrics.json" in capsys.readouterr().err


def test_rows_that_mix_settings_are_noted(tmp_path):
    write_run(tmp_path, "a", "minimax", 0, dataset="ring")
    write_run(tmp_path, "b", "minimax", 1, dataset="grid")
    table = build_table(find_runs([tmp_path]))
    assert table.notes == ["minimax: its runs also differ in data.dataset"]
    assert "Note: minimax: its runs also differ in data.dataset" in render_markdown(table)
    assert build_table(find_runs([tmp_path]), by=["data.dataset"]).notes == []


# ---------------------------------------------------------------------- statistics, provenance, references
def test_holm_by_hand_and_bh_is_scipys():
    from ganbench.runs.table import adjust, benjamini_hochberg, holm

    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-12)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    ps = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert benjamini_hochberg(ps) == pytest.approx(list(stats.false_discovery_control(ps)), rel=1e-12)
    adjusted = adjust([0.01, math.nan, 0.04], "holm")  # NaN: no test, not in the family
    assert (
        adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    )


def test_marks_are_corrected_over_the_tables_comparisons(bench):
    metrics = ["high_quality_fraction", "reverse_kl"]
    table = build_table(find_runs([bench]), metrics=metrics, baseline="nonsaturating", auc=False)
    cells = next(r for r in table.rows if r.group == "minimax").cells
    raw = [stats.ttest_ind(NONSAT_HQF, MINIMAX_HQF, equal_var=False).pvalue]
    raw.append(stats.ttest_ind(NONSAT_KL, MINIMAX_KL, equal_var=False).pvalue)
    assert table.comparisons == 2
    for metric, p in zip(metrics, raw, strict=True):
        assert cells[metric].p_value == pytest.approx(p, rel=1e-12)
    # Holm over 2: the smaller p doubled, the larger kept (it is above the doubled one).
    assert cells["reverse_kl"].p_adjusted == pytest.approx(2 * raw[1], rel=1e-12)
    assert cells["high_quality_fraction"].p_adjusted == pytest.approx(raw[0], rel=1e-12)
    text = render_markdown(table)
    assert "Holm's step-down correction" in text and "over the 2 comparisons" in text
    bh = build_table(
        find_runs([bench]), metrics=metrics, baseline="nonsaturating", auc=False, correction="bh"
    )
    assert "Benjamini-Hochberg" in render_markdown(bh)
    row = csv_rows(render_csv(table))["minimax"]
    assert float(row["reverse_kl_p_adjusted"]) == pytest.approx(2 * raw[1], rel=1e-12)


def test_spread_std_or_se_is_stated_and_shown(bench):
    se = build_table(find_runs([bench]), metrics=["high_quality_fraction"], auc=False, spread="se")
    text = render_markdown(se)
    std = statistics.stdev(MINIMAX_HQF)
    assert f"± {std / math.sqrt(3):.3g}" in text and f"± {std:.3g}" not in text
    assert "standard error of the mean" in text.splitlines()[-1]  # the footer says it too
    assert (
        "standard deviation" in render_markdown(build_table(find_runs([bench]), auc=False)).splitlines()[-1]
    )
    with pytest.raises(ValueError, match="--spread: unknown spread 'var'; valid choices: std, se"):
        build_table(find_runs([bench]), spread="var")


def test_footer_reports_commits_and_flags_dirty_and_mixed(tmp_path):
    for seed, (commit, dirty) in enumerate(
        [("a" * 40, False), ("a" * 40 + "-dirty", None), ("b" * 40, True)]
    ):
        directory = write_run(tmp_path, f"s{seed}", "minimax", seed)
        record = json.loads((directory / "metrics.json").read_text())
        record.update(git_commit=commit, git_dirty=dirty)
        (directory / "metrics.json").write_text(json.dumps(record))
    footer = render_markdown(build_table(find_runs([tmp_path]))).strip().splitlines()[-1]
    assert f"commits: {'a' * 12} (2 runs), {'b' * 12} (1 runs)." in footer
    assert "MIXED: the runs come from 2 commits" in footer and "DIRTY: 2 of 3 runs" in footer
    clean = tmp_path / "clean"
    write_run(clean, "s0", "minimax", 0)
    assert "runs record no commit" in render_markdown(build_table(find_runs([clean])))


def test_reference_rows_come_from_the_runs_dataset_and_take_no_marks(tmp_path):
    for seed, hqf in enumerate([0.5, 0.6, 0.7]):
        write_run(tmp_path, f"s{seed}", "minimax", seed, hqf=hqf, modes=8.0)
    metrics = ["high_quality_fraction", "modes_captured"]
    table = build_table(find_runs([tmp_path]), metrics=metrics, reference=3)
    assert [(r.group, r.n, bool(r.reference)) for r in table.rows] == [
        ("minimax", 3, False),
        ("data", 3, True),
        ("noise", 3, True),
    ]
    data, noise = table.rows[1].cells, table.rows[2].cells
    assert data["high_quality_fraction"].mean > 0.97 and noise["high_quality_fraction"].mean < 0.01
    assert data["modes_captured"].values == [8.0, 8.0, 8.0]
    assert table.rows[0].cells["high_quality_fraction"].best and not data["high_quality_fraction"].best
    assert data["auc_high_quality_fraction"].values == []  # a reference sampler has no curve
    text = render_markdown(table)
    assert "| data (reference) | 3 | - |" in text and "noise = samples uniform" in text
    assert "Reference check passed" in text  # hqf 0.6 ± 0.058 (se) vs noise's ~0.001; 8 modes every time
    for seed, hqf in enumerate([0.0, 0.001, 0.002]):  # a group no better than noise
        write_run(tmp_path / "poor", f"s{seed}", "hinge", seed, hqf=hqf, modes=8.0)
    poor = render_markdown(build_table(find_runs([tmp_path]), metrics=metrics, reference=3, auc=False))
    assert "Reference check FAILED (1): hinge not 3 se better than noise on high_quality_fraction" in poor
    assert [r["reference"] for r in csv.DictReader(io.StringIO(render_csv(table)))] == ["0", "1", "1"]


def test_reference_rows_refuse_image_runs(tmp_path, capsys):
    write_run(tmp_path, "s0", "minimax", 0, dataset="mnist")
    assert main([str(tmp_path), "--reference"]) == 2
    err = capsys.readouterr().err
    assert "--reference: data.dataset=mnist has no reference rows; valid choices: ring, grid" in err


def test_at_iteration_reads_each_runs_evaluation_there(tmp_path, capsys):
    root = tmp_path / "long"
    curve = [0.2, 0.4, 0.7]  # high_quality_fraction at ITERATIONS
    for seed in range(3):
        history = [
            {"iteration": i, "high_quality_fraction": v + seed / 100, "modes_captured": 8.0}
            for i, v in zip(ITERATIONS, curve, strict=True)
        ]
        status = ("completed", "running", "interrupted")[seed]
        write_run(root, f"s{seed}", "nonsaturating", seed, status=status, history=history)
    short = [{"iteration": 1000, "high_quality_fraction": 0.9, "modes_captured": 8.0, "reverse_kl": 0.1}]
    write_run(root, "s3", "nonsaturating", 3, status="running", history=short)  # not at 2000 yet
    write_run(root, "s4", "nonsaturating", 4, status="diverged", history=short)  # diverged at 1500

    runs, note = at_iteration(find_runs([root]), 2000)
    table = build_table(runs, metrics=["high_quality_fraction"], auc=False)
    (row,) = table.rows
    assert row.n == 3 and dict(row.failures) == {"diverged": 1}  # running and interrupted runs count
    assert row.cells["high_quality_fraction"].mean == pytest.approx(0.4 + 0.01)
    assert "3 of 5 runs reached it" in note
    assert main([str(root), "--at_iteration", "2000", "--metrics", "high_quality_fraction"]) == 0
    out = capsys.readouterr().out
    assert "Metrics at iteration 2000" in out and "short of 2000: nonsaturating" in out
    assert main([str(root), "--at_iteration", "0"]) == 2
    assert "--at_iteration" in capsys.readouterr().err

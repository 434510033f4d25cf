"""``table --reference``: the ``data`` and ``noise`` rows of a toy table, from the runs' own config.

Each block's completed runs name their dataset (``data.dataset``, ``data.dataset_options``) and their
sample count (``metrics.num_samples``); the reference rows are that dataset's data and noise samples
scored by the same metric code (:func:`ganbench.evaluation.reference.reference_scores`) on the same
count, over several draws. They show each metric's ceiling and floor; they take no part in tests or
best marks.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from ganbench.runs.table import MISSING, Row, Summary, Table, TableError, _blocks, lookup, summarize


def _dataset(runs: list[Any], block: tuple[str, ...]) -> tuple[Any, int]:
    """The block's toy dataset and sample count; TableError if the runs disagree or it is not a toy."""
    from ganbench.data import DATASETS
    from ganbench.data.toy import MIXTURES

    where = f" (block {', '.join(block)})" if block else ""

    def setting(run: Any, key: str) -> Any:
        value = lookup(run.record, key)
        return None if value is MISSING else value

    configs = {json.dumps([setting(r, "data.dataset"), setting(r, "data.dataset_options")]) for r in runs}
    if not runs:
        raise TableError(f"--reference: no completed run{where} to take the dataset from")
    if len(configs) > 1:
        raise TableError(
            f"--reference: the runs{where} use {len(configs)} dataset configurations; "
            "give each its own block, e.g. --by data.dataset"
        )
    name, options = json.loads(configs.pop())
    if name is None:
        raise TableError(f"--reference: the runs{where} record no data.dataset")
    if name not in MIXTURES:  # image sets: refused before they are opened (or downloaded)
        raise TableError(
            f"--reference: data.dataset={name} has no reference rows; valid choices: {', '.join(MIXTURES)}"
        )
    try:
        dataset = DATASETS.build(name, options or {}, field="data.dataset")
    except (TypeError, ValueError) as error:
        raise TableError(f"--reference: {str(error).splitlines()[0]}") from None
    counts = Counter(int(run.metrics["num_samples"]) for run in runs if run.metrics.get("num_samples"))
    if len(counts) != 1:
        raise TableError(
            f"--reference: the runs{where} were scored on {len(counts) or 'no'} different sample counts "
            f"({', '.join(map(str, sorted(counts)))}); reference rows need one"
        )
    return dataset, next(iter(counts))


SEPARATION = 3.0  # standard errors by which every group must beat the noise row (issue 13)


def separation_check(table: Table) -> str:
    """Whether, on every final column, each group beats noise by >= 3 of its standard errors and data
    is at least as good as every group; the failures are listed."""
    failures = []
    for rows in _blocks(table).values():
        ref = {row.group: row for row in rows if row.reference}
        for column in (c for c in table.columns if c.kind == "final"):
            if not all(column.key in r.cells and r.cells[column.key].values for r in ref.values()):
                continue
            sign = 1.0 if column.higher_is_better else -1.0
            noise, data = ref["noise"].cells[column.key].mean, ref["data"].cells[column.key].mean
            for row in (r for r in rows if not r.reference):
                cell = row.cells[column.key]
                where = ", ".join([*row.block, row.group])
                if not (sign * (cell.mean - noise) >= SEPARATION * cell.se):  # NaN se (n < 2) fails too
                    failures.append(f"{where} not {SEPARATION:g} se better than noise on {column.metric}")
                if sign * (data - cell.mean) < 0:
                    failures.append(f"{where} better than data on {column.metric}")
    if not failures:
        return (
            f"Reference check passed: every group beats noise by >= {SEPARATION:g} of its standard errors "
            "on every metric column, and data is at least as good as every group."
        )
    return f"Reference check FAILED ({len(failures)}): " + "; ".join(failures) + "."


def add_reference_rows(table: Table, draws: int) -> None:
    """Append the data and noise rows to every block of ``table``, each over ``draws`` draws."""
    from ganbench.evaluation.reference import NOISE_MARGIN, reference_scores

    if draws < 2:
        raise TableError(f"--reference: need at least 2 draws for a spread, got {draws}")
    rows: list[Row] = []
    sizes = set()
    for block, block_rows in _blocks(table).items():
        rows += block_rows
        dataset, num_samples = _dataset([run for row in block_rows for run in row.runs], block)
        sizes.add(num_samples)
        keys = {c.metric for c in table.columns if c.kind == "final"}
        for name, scores in reference_scores(dataset, num_samples, draws, keys=keys).items():
            row = Row(block, name, reference=draws)
            for column in table.columns:
                if column.kind == "final" and column.metric in scores[0]:  # a toy metric
                    values = [s[column.metric] for s in scores]
                    cell = summarize([v if math.isfinite(v) else None for v in values], column.worst)
                else:  # no curve, no threshold: a reference sampler does not train
                    cell = Summary(values=[])
                cell.total = draws
                row.cells[column.key] = cell
            rows.append(row)
    table.rows = rows
    table.reference_note = (
        f"Reference rows (no tests, no best marks): data = fresh samples of the true mixture, noise = "
        f"samples uniform over the means' bounding box widened by {NOISE_MARGIN:g} on every side; "
        f"{' / '.join(f'{n:,}' for n in sorted(sizes))} samples a draw (the runs' num_samples), "
        f"{draws} draws, scored by the same metric code as the runs. {separation_check(table)}"
    )

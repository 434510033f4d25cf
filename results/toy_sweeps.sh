#!/usr/bin/env bash
# Shared by results/toy/regenerate.sh and results/toy_core/regenerate.sh: run a toy sweep per dataset
# (completed runs skipped, failed ones retried), then its tables, plots and provenance.
# Usage: bash results/toy_sweeps.sh OUT SWEEP_SUFFIX   (DATASETS="ring8" limits it to one dataset)
# The datasets' sweeps run side by side, one process each, every configuration's seeds trained together
# as a seed ensemble (sweep --ensemble); ENSEMBLE= (empty) runs one process per run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
suffix=$2
ensemble=${ENSEMBLE---ensemble}
declare -A threshold=([ring8]='modes_captured>=8' [grid25]='modes_captured>=25')
mkdir -p "$out"
pids=()
for d in ${DATASETS:-ring8 grid25}; do
  python -m ganbench sweep "configs/sweeps/${d}${suffix}.yaml" --workers 1 $ensemble --root "$out/$d" \
    --retry-failed > "$out/$d.sweep.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for d in ${DATASETS:-ring8 grid25}; do
  for fmt in md latex csv; do
    python -m ganbench table "$out/$d" --group model.objective --baseline nonsaturating \
      --threshold "${threshold[$d]}" --format "$fmt" --out "$out/$d.${fmt/latex/tex}"
  done
  for metric in modes_captured high_quality_fraction reverse_kl; do
    python -m ganbench plot "$out/$d" --metric "$metric" --group model.objective --out "$out/plots/$d"
  done
  for metric in train/g_logit_grad train/d_fake; do  # the saturation signal
    python -m ganbench plot "$out/$d" --metric "$metric" --group model.objective --out "$out/plots/$d"
  done
  python -m ganbench plot "$out/$d" --samples --group model.objective --out "$out/plots/$d"
done
# Where and with what each run was made, read from the runs' own metrics.json.
python - "$out" <<'PY'
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
rows = ["| run | status | seed | iterations | wall time (s) | ensemble | device | python | torch | lightning | ganbench | commit |",
        "|---|---|--:|--:|--:|--:|---|---|---|---|---|---|"]
processes = {}  # one entry per training process: an ensemble's members share its wall time
for path in sorted(root.glob("*/*/metrics.json")):
    r = json.loads(path.read_text())
    v = r["versions"]
    size = r.get("ensemble", {}).get("size", 1)
    key = (path.parent.parent.name, r["config"]["model"]["objective"]) if size > 1 else str(path)
    processes[key] = max(processes.get(key, 0.0), r["wall_time_s"])
    rows.append(f"| {path.parent.relative_to(root)} | {r['status']} | {r['seed']} | {r['iterations']} | "
                f"{r['wall_time_s']:.0f} | {size} | {r['device']} | {v['python']} | {v['torch']} | {v['lightning']} | "
                f"{v['ganbench']} | {(r.get('git_commit') or '')[:12]} |")
total = sum(processes.values())
rows += ["", f"Training processes: {len(processes)}, {total:.0f} s of process wall time in all "
         f"({total / 3600:.2f} h; the datasets' sweeps ran side by side, one process each). Wall time of an "
         "ensemble member is its ensemble's."]
(root / "provenance.md").write_text("\n".join(rows) + "\n")
PY

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
started=$(date +%s)
pids=()
for d in ${DATASETS:-ring8 grid25}; do
  python -m ganbench sweep "configs/sweeps/${d}${suffix}.yaml" --workers 1 $ensemble --root "$out/$d" \
    --retry-failed > "$out/$d.sweep.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "sweeps: $(( $(date +%s) - started )) s wall on $(nproc) cores ($(uname -m)), $(date -u +%F)" > "$out/timing.txt"
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
rows = ["| run | status | seed | iterations | wall time (s) | device | python | torch | lightning | ganbench | commit |",
        "|---|---|--:|--:|--:|---|---|---|---|---|---|"]
for path in sorted(root.glob("*/*/metrics.json")):
    r = json.loads(path.read_text())
    v = r["versions"]
    rows.append(f"| {path.parent.relative_to(root)} | {r['status']} | {r['seed']} | {r['iterations']} | "
                f"{r['wall_time_s']:.0f} | {r['device']} | {v['python']} | {v['torch']} | {v['lightning']} | "
                f"{v['ganbench']} | {(r.get('git_commit') or '')[:12]} |")
(root / "provenance.md").write_text("\n".join(rows) + "\n")
PY

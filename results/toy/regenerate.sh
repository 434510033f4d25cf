#!/usr/bin/env bash
# Regenerates everything under results/toy: six objectives (minimax, nonsaturating, least_squares, hinge,
# wasserstein_gp, relativistic) x seeds 0-4 on ring8 and grid25 at the default config settings (10k
# iterations, 2,500 evaluation samples). Completed runs are skipped; delete the run folders to retrain.
# Run from anywhere: bash results/toy/regenerate.sh   (DATASETS="ring8" limits it to one dataset)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/toy
declare -A threshold=([ring8]='modes_captured>=8' [grid25]='modes_captured>=25')
for d in ${DATASETS:-ring8 grid25}; do
  python -m ganbench sweep "configs/sweeps/${d}.yaml" --workers 2 --root "$out/$d" --retry-failed
  for fmt in md latex csv; do
    python -m ganbench table "$out/$d" --group model.objective --baseline nonsaturating \
      --threshold "${threshold[$d]}" --format "$fmt" --out "$out/$d.${fmt/latex/tex}"
  done
  for metric in modes_captured high_quality_fraction reverse_kl; do
    python -m ganbench plot "$out/$d" --metric "$metric" --group model.objective --out "$out/plots/$d"
  done
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

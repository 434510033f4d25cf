#!/usr/bin/env bash
# Pilot: would an R1 penalty on D (gamma 1) as a shared toy setting keep the other objectives' ring8
# results? (It rescues the relativistic objective: ../ring8-relativistic.) The weakest passing objective
# (nonsaturating, 6.5 modes covered at the shared settings) and the strongest (minimax, 8), seeds 0-3,
# ring8's full budget, everything else configs/toy/ring8.yaml; the two ensembles side by side.
# Usage, from a clean checkout: bash results/toy/pilots/ring8-r1-shared/run.sh ROOT
# (TABLE_ONLY=1 skips training); writes ROOT/table.md (mean ± SE, data and noise rows).
set -euo pipefail
root=${1:?ROOT}
if [ -z "${TABLE_ONLY:-}" ]; then
  for objective in nonsaturating minimax; do
    dirs=()
    for s in 0 1 2 3; do dirs+=(--run_dir "$root/model.objective=$objective,seed_everything=$s"); done
    python -m ganbench ensemble --seeds 0-3 "${dirs[@]}" --config configs/toy/ring8.yaml \
      --model.objective="$objective" '--model.regularizers=[{"name": "r1", "options": {"gamma": 1.0}}]' \
      > "$root/$objective.log" 2>&1 &
  done
  wait
fi
python -m ganbench table "$root" --group model.objective --spread se --reference --out "$root/table.md"

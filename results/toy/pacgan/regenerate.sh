#!/usr/bin/env bash
# PacGAN's Table 1 rows under PacGAN's protocol (configs/toy/pacgan/grid25.yaml: its nets, Adam 1e-4,
# beta1 0.8, batch 100, simultaneous updates, 400,000 iterations): GAN (packing 1) and PacGAN2 (packing 2)
# on grid25, seeds 0-9, each packing's seeds as one seed ensemble. PACKINGS="1 2 3 4" runs all four rows.
# The runs resume: run this again after an interruption and each ensemble continues from its members'
# checkpoints/ensemble_last.ckpt (saved every 1,000 iterations). On a GPU the same runs are
#   python -m ganbench sweep configs/sweeps/pacgan_grid25.yaml --ensemble --root results/toy/pacgan/grid25
# The tables read the runs where they stand: TABLE_ONLY=1 skips training; AT=K reads them at iteration K
# (default: the last evaluation every run reached).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=results/toy/pacgan/grid25
if [ -z "${TABLE_ONLY:-}" ]; then
  for m in ${PACKINGS:-1 2}; do
    dirs=()
    for s in $(seq 0 9); do dirs+=(--run_dir "$out/model.packing=$m,seed_everything=$s"); done
    python -m ganbench ensemble --seeds 0-9 "${dirs[@]}" --config configs/toy/pacgan/grid25.yaml \
      --model.packing="$m" --checkpoint.every_n_train_steps=1000
  done
fi
at=${AT:-$(python - "$out" <<'PY'
import sys
from ganbench.runs.table import find_runs
print(min(max((h["iteration"] for h in r.history), default=0) for r in find_runs([sys.argv[1]])))
PY
)}
python results/toy/pacgan/side_by_side.py "$out" grid25 --at_iteration "$at" --out results/toy/pacgan/grid25_side_by_side.md
python -m ganbench table "$out" --group model.packing --spread se --reference --at_iteration "$at" \
  --out results/toy/pacgan/grid25.md
for metric in modes_captured high_quality_fraction reverse_kl modes_covered off_mode_mass wasserstein_1; do
  python -m ganbench plot "$out" --metric "$metric" --group model.packing --reference --at_iteration "$at" \
    --out results/toy/pacgan/plots
done

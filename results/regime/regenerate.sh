#!/usr/bin/env bash
# Regenerates results/regime (issue 15 item 2): a regime where the minimax GAN's generator stops learning.
# ring8 with a strong D (configs/toy/ring8_strong_d.yaml: 5 D steps per iteration) next to the default
# regime (configs/toy/ring8.yaml: 1 D step), the same budget (1,000 G iterations, evaluations every 250),
# minimax and non-saturating, seeds 0-9, one seed ensemble per cell, CPU, one thread.
# Run from a clean checkout: bash results/regime/regenerate.sh
#   REPO: the checkout to run (default: this script's); RUNS: where the run directories go (ignored);
#   STAGE: runs (train only), report (tables and plots of existing runs) or all (default).
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$REPO"
RUNS=${RUNS:-runs/regime}
OUT=results/regime
STAGE=${STAGE:-all}
COMMON=(--trainer.max_steps=1000 --evaluation.every_n_iterations=250 --checkpoint.every_n_train_steps=1000)
[ "$STAGE" = report ] || for objective in minimax nonsaturating; do
  nice -n 10 python -m ganbench ensemble --seeds 0-9 --root "$RUNS/strong_d/$objective" \
    --config configs/toy/ring8_strong_d.yaml --model.objective=$objective
  nice -n 10 python -m ganbench ensemble --seeds 0-9 --root "$RUNS/default/$objective" \
    --config configs/toy/ring8.yaml --model.objective=$objective "${COMMON[@]}"
done
[ "$STAGE" = runs ] && exit 0
mkdir -p "$OUT"
# Final metrics (evaluation at iteration 1,000), one block per regime (n_critic 1 = default, 5 = strong D).
python -m ganbench table "$RUNS" --group model.objective --by model.n_critic --baseline nonsaturating \
  --spread se --reference --out "$OUT/table.md"
python -m ganbench table "$RUNS" --group model.objective --by model.n_critic --baseline nonsaturating \
  --spread se --reference --metrics high_quality_fraction modes_captured reverse_kl --out "$OUT/table_pacgan_metrics.md"
# The same runs as they stood at iteration 250: are the metrics moving or stuck?
python -m ganbench table "$RUNS" --group model.objective --by model.n_critic --baseline nonsaturating \
  --spread se --reference --at_iteration 250 --out "$OUT/table_at_250.md"
# The saturation signal from each run's train_log/metrics.csv, and the headline metrics over iterations.
for metric in train/g_logit_grad train/d_fake modes_covered off_mode_mass wasserstein_1; do
  python -m ganbench plot "$RUNS" --metric $metric --group model.objective --by model.n_critic --out "$OUT/plots"
done
for regime in strong_d default; do  # --samples draws one block of rows: one figure per regime
  python -m ganbench plot "$RUNS/$regime" --samples --group model.objective --out "$OUT/plots/samples_$regime"
done
python "$OUT/saturation_table.py" "$RUNS" --out "$OUT/saturation.md"

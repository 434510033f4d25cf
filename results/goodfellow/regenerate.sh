#!/usr/bin/env bash
# Regenerates results/goodfellow (issue 15 item 3): Goodfellow et al. (2014), fig. 1, from two fit runs on
# the 1-D two-mode mixture (configs/toy/gaussian1d.yaml, seed 0): one minimax, one non-saturating. Each run
# keeps D on a grid, G's 2,500 evaluation samples and z -> G(z) every 100 iterations (runs/goodfellow/,
# not committed); figure1 draws the same four iterations of both. CPU, one thread, a few minutes a run.
# Run from the repository root: bash results/goodfellow/regenerate.sh   (OBJECTIVES=minimax for one)
set -euo pipefail
cd "$(dirname "$0")/../.."
ITERATIONS="0 200 400 4000"  # the start, one-mode phase, spreading, end (picked on the non-saturating run)
# Everything is written under runs/ (ignored) first and copied into results/ at the end, so that every
# run and figure records a clean git commit when this is run from a clean checkout.
OBJECTIVES=${OBJECTIVES:-"minimax nonsaturating"}
for objective in $OBJECTIVES; do
  # W&B off, the CSV log of the training scalars (train/d_real, d_fake, g_logit_grad) kept.
  WANDB_MODE=disabled nice -n 10 python -m ganbench fit --config configs/toy/gaussian1d.yaml \
    --model.objective="$objective" --trainer.default_root_dir="runs/goodfellow/$objective" \
    --trainer.enable_progress_bar=false --overwrite=true
done
for objective in $OBJECTIVES; do
  run=runs/goodfellow/$objective
  python -m ganbench figure1 "$run" --iterations $ITERATIONS --out "runs/goodfellow/figures/$objective"
done
# The final metrics next to the data (ceiling) and noise (floor) reference rows, 10 draws each.
runs=()
for objective in $OBJECTIVES; do runs+=("runs/goodfellow/$objective"); done
nice -n 10 python -m ganbench table "${runs[@]}" --reference 10 --out runs/goodfellow/table.md
cp runs/goodfellow/table.md results/goodfellow/table.md
for objective in $OBJECTIVES; do
  run=runs/goodfellow/$objective
  out=results/goodfellow/$objective
  mkdir -p "$out/trace"
  cp "runs/goodfellow/figures/$objective"/figure1.* "$out/"
  # The run's record (device, versions, git commit, config, metric history), its training scalars and
  # the drawn traces, so that `python -m ganbench figure1 results/goodfellow/OBJECTIVE --out DIR` redraws
  # the figure.
  cp "$run/metrics.json" "$out/run_metrics.json"
  cp "$run/train_log/metrics.csv" "$out/run_train_log.csv"
  for iteration in $ITERATIONS; do
    cp "$run/trace/$(printf 'eval_%07d.npz' "$iteration")" "$out/trace/"
  done
done

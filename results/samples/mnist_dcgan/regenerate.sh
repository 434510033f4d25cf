#!/usr/bin/env bash
# Regenerates results/samples/mnist_dcgan (issue 17: image runs commit a sample grid): a short DCGAN run
# on real MNIST digits, offline, then 64 samples of its generator as a PNG grid.
#
#   git worktree add /tmp/img COMMIT      # a clean checkout: the run records its commit, not "-dirty"
#   REPO=/tmp/img bash results/samples/mnist_dcgan/regenerate.sh
#
# REPO is the checkout whose code runs (default: the repository holding this script); the run, the data
# and the Inception weights go under REPO/runs/ (ignored by git), the results next to this script.
# Budget: a few hundred iterations on one CPU thread (ITERATIONS), not a trained DCGAN (the config's
# 20,000 iterations); the final evaluation is a cheap one (64 samples against 64 test digits) because
# Inception-v3 features cost ~0.4 s per image on one CPU thread: its FID is not a benchmark number.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "${REPO:-$HERE/../../..}" && pwd)"
ITERATIONS=${ITERATIONS:-300}
SEED=${SEED:-0}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 WANDB_MODE=disabled
cd "$REPO"
work=runs/samples-mnist_dcgan
run=$work/run-s$SEED
mkdir -p "$work"
# 5,000 real MNIST digits (4,000 train / 1,000 test) in torchvision's raw layout, no download.
MNIST_IDX=${MNIST_IDX:-/work/shared/tools/mnist_idx.py}  # the shared tools' writer of the subset
[ -f "$work/data/MNIST/raw/train-images-idx3-ubyte" ] || python "$MNIST_IDX" --root "$work/data"
# Offline Inception-v3 weights for the (cheap) final evaluation.
[ -f "$work/inception.pth" ] || nice -n 10 python -m ganbench inception export --out "$work/inception.pth" >/dev/null
nice -n 10 python -m ganbench fit --config configs/mnist/dcgan.yaml --seed_everything="$SEED" \
  --trainer.max_steps="$ITERATIONS" --trainer.accelerator=cpu --num_threads=1 --trainer.logger=false \
  --trainer.default_root_dir="$run" --overwrite=true \
  --checkpoint.every_n_train_steps="$ITERATIONS" \
  --evaluation.every_n_iterations=0 --evaluation.num_samples=64 --evaluation.final_num_samples=64 \
  --evaluation.inception_weights="$work/inception.pth" \
  --data.dataset_options.root="$work/data" --data.dataset_options.download=false \
  --data.dataset_options.reference_limit=64
nice -n 10 python -m ganbench sample --ckpt_path "$run/checkpoints/last.ckpt" --num_samples 64 --seed 0 \
  --out "$HERE"
cp "$run/metrics.json" "$run/config.yaml" "$HERE/"

#!/usr/bin/env bash
# Regenerates results/saturation (issue 15 item 1; Arjovsky & Bottou 2017, fig. 2): G frozen at
# initialization and after some iterations of one fit run (seed 0, the config's objective), then a
# fresh D per seed (0-4) trained alone with the minimax D loss while ||grad_G|| is probed under the
# minimax and the non-saturating generator losses. CPU, one thread per process.
# Run from the repository root: bash results/saturation/regenerate.sh   (STUDIES="ring8" for one)
set -euo pipefail
cd "$(dirname "$0")/../.."
STUDIES=${STUDIES:-"ring8 grid25 mnist"}
for study in $STUDIES; do
  case $study in
    ring8) nice -n 10 python -m ganbench saturation --config configs/toy/ring8.yaml --out results/saturation/ring8 \
      --d_steps 1000 --every 20 --seeds 0-4 --train_iterations 0,500,2000 ;;
    grid25) nice -n 10 python -m ganbench saturation --config configs/toy/grid25.yaml --out results/saturation/grid25 \
      --d_steps 1000 --every 20 --seeds 0-4 --train_iterations 0,500,2000 ;;
    mnist)
      # Real MNIST offline: the 5,000-digit subset of the shared tools (4,000 train digits), outside the
      # tree so that the run's git commit stays clean.
      root=${MNIST_ROOT:-/tmp/ganbench-mnist5k}
      [ -f "$root/MNIST/raw/train-images-idx3-ubyte" ] || python ../shared/tools/mnist_idx.py --root "$root"
      nice -n 10 python -m ganbench saturation --config configs/mnist/dcgan.yaml --out results/saturation/mnist \
        --d_steps 200 --every 20 --seeds 0-4 --train_iterations 0,200 --probe_batch 64 \
        --data.dataset_options.root="$root" --data.dataset_options.download=false \
        --trainer.accelerator=cpu --num_threads=1 ;;
    *) echo "unknown study $study (valid: ring8 grid25 mnist)" >&2; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# Regenerates results/divergences (issue 18). Step 1 (a few minutes): every objective's generator loss at
# the optimal D, its optimal Gaussian q for p = N(-2, 0.5^2)/2 + N(2, 0.5^2)/2 and the separation sweep.
# Step 2: the Gaussian generator trained adversarially, 10 seeds per objective (one seed ensemble each,
# run directories under runs/divergences/, not committed), then step 1 again with the trained (mu, sigma).
# Run from the repository root: bash results/divergences/regenerate.sh   (TRAIN=0 for step 1 only;
# OBJECTIVES="minimax hinge" to train some objectives only)
set -euo pipefail
cd "$(dirname "$0")/../.."
P="-2,0.5;2,0.5"
OUT=results/divergences
if [ "${TRAIN:-1}" = 0 ]; then
  nice -n 10 python -m ganbench theory divergences --p "$P" --out "$OUT"
  exit 0
fi
for objective in ${OBJECTIVES:-minimax nonsaturating least_squares hinge relativistic wasserstein_gp}; do
  nice -n 10 python -m ganbench ensemble --seeds 0-9 --root "runs/divergences/$objective" \
    --config configs/divergences/gaussian1d.yaml --model.objective="$objective"
done
nice -n 10 python -m ganbench theory divergences --p "$P" --out "$OUT" --runs runs/divergences

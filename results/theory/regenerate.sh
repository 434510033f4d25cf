#!/usr/bin/env bash
# Regenerates results/theory: the theory lab (D* and V(D*) = -log 4 + 2 JSD by quadrature, and a
# discriminator trained with the minimax D loss against D*) on the default pair and on pairs that the
# tests do not use: narrow far-apart modes, a 5% narrow mode, narrow modes inside wide ones.
# Each folder holds theory.json (mean_abs_error_d, max_abs_error_d_core, value_gap, versions) and the plot.
# Run from the repository root: bash results/theory/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
run() { nice -n 10 python -m ganbench theory --p "$2" --q "$3" --out "results/theory/$1"; }
run default "-1.5,0.6;1.5,0.6" "0,1.5"
run narrow_far "-6,0.2;0,1;6,0.2" "0,3"
run small_mode "0,1,0.95;3,0.1,0.05" "1,1.5"
run nested "-1,0.05;1,0.05" "-1,0.5;1,0.5"

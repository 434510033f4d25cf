#!/usr/bin/env bash
# Regenerates everything under results/toy: six objectives (minimax, nonsaturating, least_squares, hinge,
# wasserstein_gp, relativistic) x seeds 0-9 on ring8 and grid25 at the default settings of
# configs/toy/ring8.yaml and configs/toy/grid25.yaml (wasserstein_gp and relativistic with their documented rules,
# configs/toy/rules/) (2,500 evaluation samples), each objective's 10 seeds
# trained as one seed ensemble. Run it from a clean checkout (e.g. a git worktree) so every record names
# the commit that made it.
# Completed runs are skipped; delete the run folders to retrain.
# Run from anywhere: bash results/toy/regenerate.sh   (DATASETS="ring8" limits it to one dataset)
set -euo pipefail
exec bash "$(dirname "$0")/../toy_sweeps.sh" results/toy ""

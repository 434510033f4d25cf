#!/usr/bin/env bash
# Regenerates everything under results/toy_core: minimax vs non-saturating on ring8 and grid25 at the
# default config settings (10k iterations, 2,500 evaluation samples), seeds 0-2. Completed runs are
# skipped; delete the run folders to retrain. Run from anywhere: bash results/toy_core/regenerate.sh
set -euo pipefail
# These results were made with one process per run (before seed ensembles existed): ENSEMBLE= keeps it so.
ENSEMBLE= exec bash "$(dirname "$0")/../toy_sweeps.sh" results/toy_core "_core"

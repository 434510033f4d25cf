#!/usr/bin/env bash
# Pilot: what rescues the relativistic (RaSGAN) objective on ring8, where at the shared settings 9 of 10
# seeds collapse onto one clump (results/toy/ring8.md). Three changes that a shared setting could adopt,
# each on seeds 0-3 at ring8's budget (10,000 iterations), everything else configs/toy/ring8.yaml:
#   ttur      G's learning rate 1e-4, D's 1e-3 (a two time-scale rule: D ten times faster)
#   ncritic5  five D steps per iteration
#   r1        an R1 penalty on D (gamma 1; Mescheder et al. 2018)
# Usage, from a clean checkout: bash results/toy/pilots/ring8-relativistic/run.sh ROOT
# then TABLE_ONLY=1 ... ROOT writes ROOT/VARIANT/table.md (mean ± SE, data and noise rows).
set -euo pipefail
root=${1:?ROOT}
declare -A options=(
  [ttur]="--model.lr_generator=1.0e-4"
  [ncritic5]="--model.n_critic=5"
  [r1]='--model.regularizers=[{"name": "r1", "options": {"gamma": 1.0}}]'
)
for variant in ${VARIANTS:-ttur r1 ncritic5}; do
  if [ -z "${TABLE_ONLY:-}" ]; then
    dirs=()
    for s in 0 1 2 3; do dirs+=(--run_dir "$root/$variant/model.objective=relativistic,seed_everything=$s"); done
    python -m ganbench ensemble --seeds 0-3 "${dirs[@]}" --config configs/toy/ring8.yaml \
      --model.objective=relativistic "${options[$variant]}" > "$root/$variant.log" 2>&1
  fi
  python -m ganbench table "$root/$variant" --group model.objective --spread se --reference \
    --out "$root/$variant/table.md"
done

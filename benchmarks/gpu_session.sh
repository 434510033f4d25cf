#!/usr/bin/env bash
# The prepared work for a lent GPU machine, in one call that fits a 15-minute device budget:
#   1. benchmarks/performance.py, training part (eager, channels_last, bf16; DCGAN-32 at batch 64, 256);
#   2. PacGAN's Table 1 rows on grid25 under its protocol (configs/toy/pacgan/grid25.yaml): packing 1 (GAN)
#      and 2 (PacGAN2), seeds 0-9 each as one seed ensemble, the two ensembles side by side on the GPU,
#      until PACGAN_SECONDS have passed (SIGTERM: each member is recorded "interrupted" at its last
#      evaluation, every 1,000 iterations as in PacGAN), or to the full 400,000 iterations if they get there.
#      (The first run, 2026-11-26, evaluated every 5,000: members were then scored one after another, ~16 s
#      a time; they are now scored in threads, one per core. It also ran alternating updates: the rule
#      did not reach the step until commit 781451f; rerun these rows.)
# Everything comes back as files in $OUT (performance.md, the logs, pacgan_grid25.tgz of the run
# directories without checkpoints).
#
# Here, at a clean commit (the GPU machine gets the tree without .git, and its records prove their commit
# by a manifest: ganbench.runs.record.manifest_provenance):
#   bash ../shared/tools/device_wheels.sh POT==0.9.5 && echo /.devsrc/ >> .git/info/exclude
#   mkdir -p .devsrc && (git rev-parse HEAD && git ls-files -s) > .devsrc/manifest
# then the device call, carrying .whl and .devsrc:
#   PACGAN_SECONDS=400 bash benchmarks/gpu_session.sh
# (POT 0.9.5: 0.9.7's wheel is 33 MB, over what a call carries beside the tree; ot.emd is the same.)
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
export GANBENCH_SOURCE_MANIFEST=$PWD/.devsrc/manifest
OUT=${OUT:-/tmp/gpu_session_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, lightning, ot; from ganbench.runs.record import provenance; \
print(torch.__version__, lightning.__version__, ot.__version__, provenance())" | tee -a "$OUT/device.txt"

timeout 150 python3 benchmarks/performance.py --parts train --variants eager,channels_last,bf16 \
  --iterations 300 --warmup 30 --out "$OUT/performance.md" >"$OUT/performance.log" 2>&1
echo "performance.py: exit $?"

# compile_step (the whole simultaneous iteration as one graph: far fewer kernel launches, which bound the
# tiny nets' GPU rate) where a 40-iteration probe of it runs here; eager otherwise. PACGAN_COMPILE=0: eager.
compiled=()
if [ "${PACGAN_COMPILE:-1}" = 1 ]; then
  probe=(--run_dir /tmp/probe/m0 --run_dir /tmp/probe/m1)
  if timeout 240 python3 -m ganbench ensemble --seeds 0-1 "${probe[@]}" --config configs/toy/pacgan/grid25.yaml \
      --model.packing=2 --trainer.accelerator=gpu --trainer.max_steps=40 --evaluation.every_n_iterations=0 \
      --model.compile_step=true >"$OUT/compile_probe.log" 2>&1; then
    compiled=(--model.compile_step=true)
  fi
  echo "compile_step probe -> ${compiled[*]:-eager} (compile_probe.log)"
fi

root=runs/pacgan/grid25
for m in ${PACKINGS:-1 2}; do
  dirs=()
  for s in $(seq 0 9); do dirs+=(--run_dir "$root/model.packing=$m,seed_everything=$s"); done
  timeout -s TERM -k 30 "${PACGAN_SECONDS:-400}" python3 -m ganbench ensemble --seeds 0-9 "${dirs[@]}" \
    --config configs/toy/pacgan/grid25.yaml --model.packing="$m" --trainer.accelerator=gpu \
    --checkpoint.every_n_train_steps=50000 "${compiled[@]}" \
    >"$OUT/pacgan_m$m.log" 2>&1 &
done
wait
tail -n 5 "$OUT"/pacgan_m*.log
tar czf "$OUT/pacgan_grid25.tgz" --exclude=checkpoints runs
ls -la "$OUT"

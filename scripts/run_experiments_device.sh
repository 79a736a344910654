#!/usr/bin/env bash
# The training experiments at full size on a GPU machine (docs/method.md#experiments, items
# 3 and 9), run concurrently: one process per (experiment, target, seed), `&` + `wait`, then
# one summarising call per experiment (--resume: it only reads the finished runs). Every
# run is resumable: run the script again after an interruption.
#
#   SC_VIZ_DATA=/data  OUT=/results  scripts/run_experiments_device.sh
#
# SC_VIZ_DATA must hold cifar10/{train,test}; Fashion-MNIST is found in
# $SC_VIZ_FASHION_MNIST, $SC_VIZ_DATA/fashion-mnist or /usr/share/datasets/fashion-mnist.
# Results (json, md, png; models and logs under $OUT/runs) go to $OUT/<experiment>/, the
# layout of reports/cifar10-resnet20/experiments/. Knobs (environment):
#   SEEDS="0 1 2"  VARIANTS="standard c adv advc"  TRANSFER_EPOCHS=15  TRANSFER_PATIENCE=3
#   TARGETS="fashion-mnist cifar10-lowres"  SWEEP_EPOCHS=1  SWEEP_TRAIN=  (empty: all 50,000)
#   TRANSFER_TRAIN=  TEST_LIMIT=0  SALIENCY_IMAGES=50   (smaller for a smoke run)
#   FROM_SCRATCH=1  also c (and lambda 0 = standard) trained from scratch with the pack's
#                   standard schedule, read from its manifest (SCRATCH_EPOCHS overrides the epochs)
#   JOBS=8          at most this many training processes at once
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SC_VIZ_DATA:?point SC_VIZ_DATA at a folder holding cifar10/train and cifar10/test}"
export SC_VIZ_DATA
PY=${PY:-.venv/bin/python}
PACK=${PACK:-checkpoints/cifar10-resnet20}
OUT=${OUT:-runs/device-experiments}
RUNS="$OUT/runs"
read -r -a SEEDS <<< "${SEEDS:-0 1 2}"
VARIANTS=${VARIANTS:-standard c adv advc}
TARGETS=${TARGETS:-fashion-mnist cifar10-lowres}
TRANSFER_EPOCHS=${TRANSFER_EPOCHS:-15}
TRANSFER_PATIENCE=${TRANSFER_PATIENCE:-3}
SWEEP_EPOCHS=${SWEEP_EPOCHS:-1}
SWEEP_TRAIN=${SWEEP_TRAIN:-}
TRANSFER_TRAIN=${TRANSFER_TRAIN:-}  # empty: every training image not held out for validation
TEST_LIMIT=${TEST_LIMIT:-0}         # 0: the whole test split
SALIENCY_IMAGES=${SALIENCY_IMAGES:-50}
JOBS=${JOBS:-8}
NP=--no-progress
mkdir -p "$RUNS/logs"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}  # many processes share the CPU cores

throttle() { while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done; }

arch=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['arch'])" "$PACK/manifest.json")
limits=(--test-limit "$TEST_LIMIT")
sweep_args=(--arch "$arch" --init "$PACK/standard.safetensors" --lambdas 0 0.01 0.1 1 --epochs "$SWEEP_EPOCHS"
  --saliency-images "$SALIENCY_IMAGES" "${limits[@]}")
[ -n "$SWEEP_TRAIN" ] && sweep_args+=(--train-limit "$SWEEP_TRAIN")
transfer_args=(--variants $VARIANTS --probe --epochs "$TRANSFER_EPOCHS" --patience "$TRANSFER_PATIENCE"
  --val-fraction 0.1 "${limits[@]}")
[ -n "$TRANSFER_TRAIN" ] && transfer_args+=(--train-limit "$TRANSFER_TRAIN")
scratch_args=()
if [ "${FROM_SCRATCH:-0}" = 1 ]; then
  # the pack's standard schedule (epochs, optimiser, lr, schedule, batch size, weight decay)
  schedule=$("$PY" -c "
import json, sys
c = json.load(open(sys.argv[1]))['variants']['standard']['config']
print(f\"--epochs {c['epochs']} --optimizer {c['optimizer']} --lr {c['lr']} --schedule {c['schedule']} \"
      f\"--batch-size {c['batch_size']} --weight-decay {c['weight_decay']}\")" "$PACK/manifest.json")
  read -r -a standard_schedule <<< "$schedule"  # (an assignment, so that set -e stops on a failure)
  scratch_args=(--arch "$arch" --lambdas 0 0.1 "${standard_schedule[@]}" --saliency-images "$SALIENCY_IMAGES"
    "${limits[@]}")
  [ -n "$SWEEP_TRAIN" ] && scratch_args+=(--train-limit "$SWEEP_TRAIN")
  [ -n "${SCRATCH_EPOCHS:-}" ] && scratch_args+=(--epochs "$SCRATCH_EPOCHS")
fi

# decode the data sets once, before the processes that read them start together
"$PY" -c "
from sc_viz.data import data_root, load_split
for name in ('cifar10', 'cifar10-lowres', 'fashion-mnist'):
    for split in ('train', 'test'):
        load_split(name, split, data_root(), 32)
"

start=$(date +%s)
for seed in "${SEEDS[@]}"; do
  for target in $TARGETS; do
    throttle
    "$PY" -m sc_viz transfer --pack "$PACK" --target "$target" "${transfer_args[@]}" --seeds "$seed" \
      --out "$RUNS/transfer-$target" --resume $NP > "$RUNS/logs/transfer-$target-$seed.log" 2>&1 &
  done
  throttle
  "$PY" -m sc_viz sweep-lambda "${sweep_args[@]}" --seeds "$seed" --out "$RUNS/sweep-lambda" --resume $NP \
    > "$RUNS/logs/sweep-lambda-$seed.log" 2>&1 &
  if [ "${FROM_SCRATCH:-0}" = 1 ]; then
    throttle
    "$PY" -m sc_viz sweep-lambda "${scratch_args[@]}" --seeds "$seed" --out "$RUNS/sweep-lambda-scratch" \
      --resume $NP > "$RUNS/logs/sweep-lambda-scratch-$seed.log" 2>&1 &
  fi
done
failed=0
for pid in $(jobs -rp); do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { echo "a run failed: see $RUNS/logs/" >&2; exit 1; }
echo "runs done in $(( $(date +%s) - start )) s"

# the summaries over all seeds (nothing is trained again)
for target in $TARGETS; do
  "$PY" -m sc_viz transfer --pack "$PACK" --target "$target" "${transfer_args[@]}" --seeds "${SEEDS[@]}" \
    --out "$RUNS/transfer-$target" --resume $NP
done
"$PY" -m sc_viz sweep-lambda "${sweep_args[@]}" --seeds "${SEEDS[@]}" --out "$RUNS/sweep-lambda" --resume $NP
names="sweep-lambda $(for t in $TARGETS; do printf 'transfer-%s ' "$t"; done)"
if [ "${FROM_SCRATCH:-0}" = 1 ]; then
  "$PY" -m sc_viz sweep-lambda "${scratch_args[@]}" --seeds "${SEEDS[@]}" --out "$RUNS/sweep-lambda-scratch" \
    --resume $NP
  names="$names sweep-lambda-scratch"
fi
for name in $names; do
  mkdir -p "$OUT/$name"
  find "$RUNS/$name" -maxdepth 1 -type f \( -name '*.json' -o -name '*.md' -o -name '*.png' \) \
    -exec cp {} "$OUT/$name/" \;
done
echo "results in $OUT (all runs: $(( $(date +%s) - start )) s)"

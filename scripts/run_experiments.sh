#!/usr/bin/env bash
# The training experiments of the evaluation suite on the demo pack (docs/method.md#experiments,
# items 3, 9, 10) on this machine's CPU, one after the other, with the seeded settings of the
# report (three training seeds; schedules cut to fit a 2-core CPU: see the numbers below and
# scripts/run_experiments_device.sh for the full-size runs on a GPU). Runs go to
# runs/experiments/ (models, logs, per-run scores; resumable: run again after an interruption
# and finished runs are kept); the result files (json, md, png) are copied next to the report.
# Nothing here is part of the test command.
#   SEEDS="0 1 2"  TRANSFER_TRAIN=5000  LOWRES_TRAIN=2500  TRANSFER_EPOCHS=4  SWEEP_TRAIN=10000 \
#   scripts/run_experiments.sh
# (the settings of the committed results: about 70 min of CPU for the sweep, 90 for
# Fashion-MNIST and 45 for cifar10-lowres, one thread each; on two cores run the sweep and
# the transfers as separate processes)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then export SC_VIZ_DATA=$(cd ../shared/datasets && pwd); fi
PY=${PY:-.venv/bin/python}
PACK=${PACK:-checkpoints/cifar10-resnet20}
RUNS=${RUNS:-runs/experiments}
DEST=${DEST:-reports/cifar10-resnet20/experiments}
read -r -a SEEDS <<< "${SEEDS:-0 1 2}"
VARIANTS=${VARIANTS:-standard c adv advc}
TRANSFER_TRAIN=${TRANSFER_TRAIN:-5000}   # fine-tuning images per run (the rest of the split is unused)
LOWRES_TRAIN=${LOWRES_TRAIN:-2500}  # cifar10-lowres: same classes, fewer images needed
TRANSFER_EPOCHS=${TRANSFER_EPOCHS:-4}
SWEEP_TRAIN=${SWEEP_TRAIN:-10000}
NP=--no-progress

# Fig. 5 + saliency smoothness: c fine-tuned from the demo pack's standard model, one epoch
"$PY" -m sc_viz sweep-lambda --init "$PACK/standard.safetensors" --lambdas 0 0.01 0.1 1 \
  --seeds "${SEEDS[@]}" --epochs 1 --train-limit "$SWEEP_TRAIN" --test-limit 2000 \
  --out "$RUNS/sweep-lambda" --resume $NP
# Sec. 4.6: fine-tuning (early stopping on 10% held out) and linear probe, two targets, whole test splits
for target in fashion-mnist cifar10-lowres; do
  train=$TRANSFER_TRAIN; [ "$target" = cifar10-lowres ] && train=$LOWRES_TRAIN
  # shellcheck disable=SC2086
  "$PY" -m sc_viz transfer --pack "$PACK" --target "$target" --variants $VARIANTS --seeds "${SEEDS[@]}" \
    --probe --epochs "$TRANSFER_EPOCHS" --patience 2 --val-fraction 0.1 --train-limit "$train" \
    --out "$RUNS/transfer-$target" --resume $NP
done
# Sec. 4.7: standard and c from scratch on colour-biased Fashion-MNIST, two epochs on 20,000
"$PY" -m sc_viz fairness --epochs 2 --train-limit 20000 --test-limit 2000 \
  --out "$RUNS/fairness" --resume $NP

for name in sweep-lambda transfer-fashion-mnist transfer-cifar10-lowres fairness; do
  mkdir -p "$DEST/$name"
  find "$RUNS/$name" -maxdepth 1 -type f \( -name '*.json' -o -name '*.md' -o -name '*.png' \) \
    -exec cp {} "$DEST/$name/" \;
done
echo "results in $DEST"

#!/usr/bin/env bash
# SPAT at a multi-step budget (docs/related_methods.md#spat): `adv` (the same-budget
# reference), `spat` (masked step as it is) and `spat` with the budget-normalised step, all
# fine-tuned from the demo pack's standard with the demo preset's schedule, init, data and
# seed, but PGD-3 (step 2.5 * eps / 3) instead of FGSM-RS and, to fit this 2-core CPU, a
# seeded subset of TRAIN images per epoch (the same for all three). Each goes into a staging
# pack of its own under RUNS; then the reference's robustness (full test set, PGD-10, per
# image) is evaluated into the report's experiments folder. One thread each; resumable: run
# again after an interruption. About 70 min on one idle core with TRAIN=5000.
#   TRAIN=5000 scripts/spat_budget.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then export SC_VIZ_DATA=$(cd ../shared/datasets && pwd); fi
PY=${PY:-.venv/bin/python}
PACK=${PACK:-checkpoints/cifar10-resnet20}
RUNS=${RUNS:-runs/spat-budget}
DEST=${DEST:-reports/cifar10-resnet20/experiments/spat-budget}
TRAIN=${TRAIN:-5000}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
common=(--preset demo --init "$PACK/standard.safetensors" --attack-steps 3 --attack-step 20/765
  --train-limit "$TRAIN" --epoch-eval-limit 1000 --epoch-pgd-limit 200 --resume --no-progress)
# the reference's final metrics on 1,000 test images only: its full-test numbers, per image,
# come from the robustness suite below
"$PY" -m sc_viz train --variant adv --out "$RUNS/adv" --test-limit 1000 "${common[@]}"
"$PY" -m sc_viz train --variant spat --spat-step-norm budget --out "$RUNS/budget" "${common[@]}"
"$PY" -m sc_viz train --variant spat --spat-step-norm mask --out "$RUNS/mask" "${common[@]}"
for run in adv budget mask; do "$PY" -m sc_viz info "$RUNS/$run"; done
# the reference's per-image robustness, as the report's robustness suite computes it
"$PY" -m sc_viz eval --pack "$RUNS/adv" --suite robustness --out "$DEST/adv-pgd3" --threads 1 --no-progress
mkdir -p "$DEST/adv-pgd3"
cp "$RUNS/adv/manifest.json" "$DEST/adv-pgd3/manifest.json"
cp "$RUNS/adv/adv.safetensors" "$DEST/adv-pgd3/adv.safetensors"

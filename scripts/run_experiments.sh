#!/usr/bin/env bash
# The training experiments of the evaluation suite on the demo pack (docs/method.md#experiments, items 3, 9, 10),
# with the short schedules their results in reports/cifar10-resnet20/experiments/ were
# made with (about 25 minutes on this 2-core CPU). Runs go to runs/experiments/ (models,
# logs; resumable: run again after an interruption); the result files (json, md, png)
# are copied next to the report.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then export SC_VIZ_DATA=$(cd ../shared/datasets && pwd); fi
PY=${PY:-.venv/bin/python}
PACK=checkpoints/cifar10-resnet20
RUNS=${RUNS:-runs/experiments}
DEST=${DEST:-reports/cifar10-resnet20/experiments}
NP=--no-progress

# Fig. 5: c fine-tuned from the demo pack's standard model, one epoch on 20,000 images
"$PY" -m sc_viz sweep-lambda --init "$PACK/standard.safetensors" --lambdas 0 0.01 0.1 1 \
  --epochs 1 --train-limit 20000 --test-limit 2000 --out "$RUNS/sweep-lambda" --resume $NP
# Sec. 4.6: every variant fine-tuned on Fashion-MNIST, one epoch on 10,000 images
"$PY" -m sc_viz transfer --pack "$PACK" --target fashion-mnist --epochs 1 --train-limit 10000 \
  --test-limit 2000 --out "$RUNS/transfer" --resume $NP
# Sec. 4.7: standard and c from scratch on colour-biased Fashion-MNIST, two epochs on 20,000
"$PY" -m sc_viz fairness --epochs 2 --train-limit 20000 --test-limit 2000 \
  --out "$RUNS/fairness" --resume $NP

for name in sweep-lambda transfer fairness; do
  mkdir -p "$DEST/$name"
  find "$RUNS/$name" -maxdepth 1 -type f \( -name '*.json' -o -name '*.md' -o -name '*.png' \) \
    -exec cp {} "$DEST/$name/" \;
done
echo "results in $DEST"

#!/usr/bin/env bash
# Reproduce checkpoints/cifar10-resnet20 end to end on the CPU (the paper's four: about 2-3
# hours on 2 idle cores; the related three add roughly 2 hours more, a step of each costing
# 1.5-4x adv's: `sc-viz bench train`; on a GPU minutes). The committed pack's `sns` was
# trained with this preset on an H200, `gsct` and `spat` on this CPU (docs/related_methods.md;
# spat's same-budget adv reference: scripts/spat_budget.sh).
# Every call resumes: run it again after an interruption and it goes on from the last saved
# epoch; finished variants are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-checkpoints/cifar10-resnet20}
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then export SC_VIZ_DATA=$(cd ../shared/datasets && pwd); fi
PY=${PY:-.venv/bin/python}
# The demo recipe's variants, in its order (standard first: the others start from it).
variants=$("$PY" -c "from sc_viz.training.presets import PRESETS; print(*PRESETS['demo'])")
for variant in $variants; do
  "$PY" -m sc_viz train --preset demo --variant "$variant" --out "$OUT" --resume "$@"
done
"$PY" -m sc_viz info "$OUT"

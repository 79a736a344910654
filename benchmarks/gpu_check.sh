#!/usr/bin/env bash
# The GPU figures of issue 24, in one short run on a lent device machine (see README,
# "The app"): the live 224-px grid of 4 ResNet-50 variants on CUDA (target: under 1 s), a
# deck slide, and the browser test when a Chromium is there. Prints everything; writes
# the numbers into $OUT/gpu_check.txt when $OUT is set (the device tool brings it back).
#
#   bash benchmarks/gpu_check.sh            # on the device machine, from the repo root
#
# The device's python3 holds torch; the packages it lacks (captum, lime, streamlit, ...)
# come from wheels carried in ./wheels (pip download -d wheels -r requirements.txt here).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -d wheels ]; then
  $PY -m pip install -q --no-index --find-links wheels -r requirements.txt 2>&1 | tail -3
fi
out=${OUT:-/tmp}/gpu_check.txt
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  echo "--- live grid, 4 x ResNet-50 at 224 px (sc-viz bench panel --device cuda)"
  $PY -m sc_viz bench panel --arch resnet50 --size 224 --ig-steps 16 --lime-samples 200 --device cuda
  echo "--- a deck slide vs live (benchmarks/deck.py --device cuda)"
  $PY benchmarks/deck.py --device cuda
  echo "--- the browser test on CUDA"
  if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    $PY -m pytest -q tests/app/test_browser_present.py -p no:cacheprovider
  else
    echo "no Chromium on this machine: browser test not run"
  fi
} 2>&1 | tee "$out"

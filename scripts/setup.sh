#!/usr/bin/env bash
# Create/refresh the virtual environment at .venv/ (idempotent: a second run with the same
# requirements does nothing). `setup.sh dev` adds the test tools and the Debian packages
# the tests use (Chromium + its driver for the browser test, Fashion-MNIST).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-app}
PYTHON=${PYTHON:-python3}

# A venv cut short (no pip inside) is rebuilt rather than trusted.
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
REQ=requirements.txt
[ "$MODE" = dev ] && REQ=requirements-dev.txt
stamp=.venv/.sc-viz-$MODE-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$REQ"
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  touch "$stamp"
fi

if [ "$MODE" = dev ]; then
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

# The data sets live outside the repo; ../shared/datasets when it is there.
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then
  echo "SC_VIZ_DATA=$(cd ../shared/datasets && pwd)"
fi

# Decode the packs' test images into the cache ($SC_VIZ_CACHE, else ~/.cache/sc_viz) now,
# so the app's first visit reads it: a few seconds the first time, about one after. Only
# when the data set is there; a failure is no reason to stop (the app retries).
DATA=${SC_VIZ_DATA:-}
if [ -z "$DATA" ] && [ -d ../shared/datasets ]; then DATA=$(cd ../shared/datasets && pwd); fi
if [ -n "$DATA" ] && [ -d "$DATA" ]; then
  SC_VIZ_DATA=$DATA .venv/bin/python scripts/build_cache.py ||
    echo "setup: the test-image cache was not built; the app builds it on first use" >&2
fi

#!/usr/bin/env bash
# Set up everything the tests need, then run them (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev >/dev/null
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then
  export SC_VIZ_DATA=$(cd ../shared/datasets && pwd)
fi
exec .venv/bin/python -m pytest -q "$@"

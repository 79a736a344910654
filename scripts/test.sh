#!/usr/bin/env bash
# Set up everything the tests need, then run them (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev >/dev/null
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then
  export SC_VIZ_DATA=$(cd ../shared/datasets && pwd)
fi
# Lint and format first (ruff, configured in pyproject.toml): a finding fails the run.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -q "$@"

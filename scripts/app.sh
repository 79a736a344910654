#!/usr/bin/env bash
# Set up everything the app needs, then start it on the demo pack.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh app >/dev/null
if [ -z "${SC_VIZ_DATA:-}" ] && [ -d ../shared/datasets ]; then
  export SC_VIZ_DATA=$(cd ../shared/datasets && pwd)
fi
exec .venv/bin/streamlit run app.py "$@"

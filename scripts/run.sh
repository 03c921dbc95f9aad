#!/usr/bin/env bash
# The main job on a fresh clone: set up, then run it (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/platform demo "$@"

#!/usr/bin/env bash
# The whole test suite on a fresh clone: set up, start PostgreSQL if it is down, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "test: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi

# the dashboard's browser test drives Debian's headless Chromium through selenium
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "test: installing chromium and chromium-driver"
    if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q chromium chromium-driver >/dev/null \
        || { "${apt_get[@]}" update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q \
             chromium chromium-driver >/dev/null; } \
        || echo "test: chromium could not be installed: the browser test will be skipped" >&2
fi

export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
echo "== ruff"
.venv/bin/ruff check src tests benchmarks
echo "== mypy --strict (domain, strategies, services)"
.venv/bin/mypy --strict src/thalex_modular/platform/domain src/thalex_modular/strategies src/thalex_modular/platform/services
echo "== pytest"
.venv/bin/python -m pytest -q "$@"

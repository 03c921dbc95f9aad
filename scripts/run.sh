#!/usr/bin/env bash
# The main job on a fresh clone: set up, then a shadow deployment of BTC-PERPETUAL and ETH-PERPETUAL on Ray against the
# local Thalex emulator (which `platform deploy` starts when none answers), with the API and the live dashboard; prints
# the dashboard's URL and follows `platform status --watch` until Ctrl-C, then `platform stop` stops the deployment, its
# Ray head, the API and the emulator (nothing of ours keeps running).
# Options go to `platform deploy` (e.g. --config FILE); EMULATOR_PORT and API_PORT pick the ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_USAGE_STATS_ENABLED=0

emulator_url="ws://127.0.0.1:${EMULATOR_PORT:-8490}/ws/api/v2"
deploy_log=$(mktemp -t thalex-deploy.XXXXXX.log)
deployed=0

stop() {
    trap '' INT TERM  # a second Ctrl-C must not interrupt the stop
    if [ "$deployed" = 1 ]; then
        echo "run: stopping the deployment"
        .venv/bin/platform stop || true
    fi
    rm -f "$deploy_log"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "run: deploying BTC-PERPETUAL and ETH-PERPETUAL (shadow, local emulator at $emulator_url); this takes a minute"
deployed=1
code=0
.venv/bin/platform deploy --mode shadow --network local --instruments BTC-PERPETUAL,ETH-PERPETUAL \
    --emulator-url "$emulator_url" --api-port "${API_PORT:-8480}" "$@" 2>&1 | tee "$deploy_log" || code=$?
if ! grep -q "platform deploy: dashboard " "$deploy_log"; then
    echo "run: the deployment did not start (exit $code)" >&2
    grep -q "state in" "$deploy_log" || deployed=0  # nothing was left running
    exit 1
fi
dashboard=$(grep -o "platform deploy: dashboard [^ ]*" "$deploy_log" | cut -d' ' -f4)
echo
echo "run: dashboard: $dashboard   (pause/resume/kill ask for the token: the file named above)"
echo "run: following the deployment; Ctrl-C stops it"
.venv/bin/platform status --watch || true

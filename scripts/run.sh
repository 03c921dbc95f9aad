#!/usr/bin/env bash
# The main job on a fresh clone: set up, start the local Thalex emulator, then shadow-trade BTC-PERPETUAL on it
# (real public market data from the emulator, simulated fills) until Ctrl-C.
# Options go to `platform run` (e.g. --duration-s 60 --instrument ETH-PERPETUAL); EMULATOR_PORT picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

port=${EMULATOR_PORT:-8490}
url="ws://127.0.0.1:${port}/ws/api/v2"
log=$(mktemp -t thalex-emulator.XXXXXX.log)
.venv/bin/platform emulator --host 127.0.0.1 --port "$port" --seed 1 >"$log" 2>&1 &
emulator_pid=$!
trap 'kill -INT "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    grep -q "emulator ready" "$log" && break
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        echo "run: the emulator did not start:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.2
done
grep -q "emulator ready" "$log" || { echo "run: the emulator was not ready after 20 s (log: $log)" >&2; exit 1; }
echo "run: $(grep "emulator ready" "$log")"

args=("$@")
has_instrument=0
for a in "${args[@]}"; do [ "$a" = "--instrument" ] && has_instrument=1; done
[ "$has_instrument" = 1 ] || args+=(--instrument BTC-PERPETUAL)
.venv/bin/platform run --mode shadow --network local --emulator-url "$url" "${args[@]}"

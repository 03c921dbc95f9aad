"""Where the fast driver's time goes: run it under ``perf record`` with this script and ``perf report`` names the
compiled kernels.

perf cannot name numba's JIT code by itself. This script keeps the object code numba loads for each compiled
kernel, reads its symbol table (``nm``) and writes ``/tmp/perf-<pid>.map``, the file perf reads for JIT code. It
replays the history of ``backtest_throughput.py`` through the fast driver (compiled or loaded from the kernel cache
by a short run first) and prints ``fast_loop_cpu_events_per_s`` (events per CPU second inside the replay: the box's
load is mostly taken out). Kernels inlined into the loop (``fast/inline.py``) count as ``_replay_rows``.

    perf record -F 2999 -o fast.data python benchmarks/fast_loop_profile.py
    perf report -i fast.data --sort sym

Needs Linux, ``perf`` and binutils' ``nm``; numba must load the kernels from its cache (run it twice after a kernel
change: a library compiled in this process keeps no object code to read).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from numba.core import codegen
from numba.core.registry import CPUDispatcher

from backtest_throughput import FEED_NS, HISTORY, _config, tick_history  # this script's directory is on sys.path
from thalex_modular.platform.use_cases.backtest import run_backtest
from thalex_modular.platform.use_cases.backtest.fast import driver as fast_driver

_load_object: Any = codegen.JITCodeLibrary._set_compiled_object  # untyped numba internals


def _keep_object(library: Any, value: Any) -> None:
    library._kept_object = bytes(value)
    _load_object(library, value)


codegen.JITCodeLibrary._set_compiled_object = _keep_object


def _symbols(library: Any, anchor: str, path: Path) -> list[tuple[int, int, str]]:
    """(address, size, name) of every function in ``library``, placed by the address of ``anchor``."""
    anchor_address = library.get_pointer_to_function(anchor)
    obj = getattr(library, "_kept_object", None)
    if obj is None:
        return [(anchor_address, 0, anchor)]
    path.write_bytes(obj)
    listing = subprocess.run(["nm", "-S", "--defined-only", str(path)], capture_output=True, text=True, check=True)
    rows = []
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            rows.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    offset = next((off for off, _, name in rows if name == anchor), None)
    if offset is None:
        return [(anchor_address, 0, anchor)]
    return [(anchor_address - offset + off, size, name) for off, size, name in rows]


def write_perf_map() -> int:
    """Write /tmp/perf-<pid>.map for every compiled kernel of the package; returns the number of symbols."""
    entries: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    scratch = Path(f"/tmp/fast_loop_profile_{os.getpid()}.o")
    for name, module in list(sys.modules.items()):
        if not name.startswith("thalex_modular"):
            continue
        for obj in list(vars(module).values()):
            if not isinstance(obj, CPUDispatcher):
                continue
            for result in obj.overloads.values():
                if id(result.library) not in seen:
                    seen.add(id(result.library))
                    entries.extend(_symbols(result.library, result.fndesc.llvm_func_name, scratch))
    scratch.unlink(missing_ok=True)
    entries.sort()
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as out:
        for k, (address, size, name) in enumerate(entries):
            if size == 0:  # no symbol table: up to the next symbol
                size = entries[k + 1][0] - address if k + 1 < len(entries) else 65536
            out.write(f"{address:x} {size:x} {name}\n")
    return len(entries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    chunks = list(tick_history(HISTORY, args.events, 100_000))
    warm = chunks[0][:2_000]
    run_backtest(_config(HISTORY.start_ns, int(warm["ts_ns"][-1]) + 1), [warm], seed=0, feed_latency_ns=FEED_NS,
                 driver="fast")
    print(f"fast_loop_perf_map_symbols={write_perf_map()}", flush=True)
    cpu_s = 0.0
    replay = fast_driver.FastDriver.replay

    def timed(self: fast_driver.FastDriver, chunk: Any, seen_ns: Any) -> None:
        nonlocal cpu_s
        started = time.process_time()
        replay(self, chunk, seen_ns)
        cpu_s += time.process_time() - started

    fast_driver.FastDriver.replay = timed  # type: ignore[method-assign]
    result = run_backtest(_config(HISTORY.start_ns, int(chunks[-1]["ts_ns"][-1]) + 1), chunks, seed=0,
                          feed_latency_ns=FEED_NS, driver="fast")
    print(f"fast_loop_cpu_events_per_s={result.metrics.events / cpu_s:.0f}")
    print(f"fast_loop_wall_events_per_s={result.events_per_s:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

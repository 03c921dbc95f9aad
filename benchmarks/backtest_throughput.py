"""Backtest throughput and memory on a generated BTC-perpetual-like tick history.

The dataset: exponential gaps of 25 ms on average, 75 % book-top updates and 25 % trades (``TickHistoryConfig``),
the A-S strategy on (``platform run``'s defaults), requoting on every book-top change. Prints ``name=value``:

* ``backtest_events_per_s``: the fast (compiled) driver, replay only, over ``--events`` events (compiled before the
  timed run); target >= 2,000,000;
* ``reference_events_per_s``: the reference driver (SimSession), replay only, over the first ``--reference-events``
  of the same history, in the same process (side by side: the load of the shared box affects both alike);
* ``backtest_peak_rss_mb_<size>``: peak RSS (MB) of a child process that backtests ``size`` events read from an
  embedded store (chunked reads), for each ``--rss-sizes`` entry; ``backtest_rss_growth``: largest / smallest
  (target <= 1.3: memory does not grow with the length of the replay).

Stores are generated once into ``--store-dir`` (default: a temporary directory) and reused when present.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from thalex_modular.deployment.backtest_cli import EMBEDDED_MEMORY_LIMIT_MB
from thalex_modular.platform.adapters.storage.factory import make_storage
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    HistoryRange,
    backtest_from_storage,
    backtest_instrument,
    run_backtest,
)
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, history_records, tick_history

NAME = "BTC-PERPETUAL"
HISTORY = TickHistoryConfig(seed=17, start_ns=1_735_689_600 * 10**9)
FEED_NS = 2_000_000
LOAD_CHUNK = 200_000


def _label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else str(size)


def _config(start_ns: int, end_ns: int) -> BacktestConfig:
    return BacktestConfig(backtest_instrument(NAME), HistoryRange(NAME, start_ns, end_ns))


def _rate(events: int, driver: str) -> float:
    chunks = list(tick_history(HISTORY, events, 100_000))
    config = _config(HISTORY.start_ns, int(chunks[-1]["ts_ns"][-1]) + 1)
    result = run_backtest(config, chunks, seed=0, feed_latency_ns=FEED_NS, driver=driver)
    print(f"{driver}_fills={result.metrics.fills} {driver}_events={result.metrics.events}", flush=True)
    return result.events_per_s


def fast_rate(events: int) -> float:
    """The fast driver's replay rate; the loop is compiled (or loaded from the kernel cache) by a short run first."""
    _rate(2_000, "fast")
    return _rate(events, "fast")


def reference_rate(events: int) -> float:
    return _rate(events, "reference")


async def _load(path: Path, events: int) -> None:
    storage = make_storage(path)
    await storage.open()
    try:
        for chunk in tick_history(HISTORY, events, LOAD_CHUNK):
            await storage.write(history_records(NAME, chunk, FEED_NS))
        await storage.analyze()
    finally:
        await storage.close()


def ensure_store(directory: Path, events: int) -> Path:
    path = directory / f"history_{events}.duckdb"
    done = path.with_suffix(".done")
    if not done.exists():
        path.unlink(missing_ok=True)
        started = time.perf_counter()
        asyncio.run(_load(path, events))
        done.touch()
        print(f"# loaded {events} events into {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def _vm_hwm_mb() -> float:
    """This process's peak RSS (MB): ``VmHWM`` of /proc/self/status. Not ``ru_maxrss``: Linux carries the parent's
    peak into a child across exec (a vfork-spawned child would report the parent's RSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (this benchmark needs Linux)")


async def _child(path: Path) -> None:
    storage = make_storage(path, embedded_memory_limit_mb=EMBEDDED_MEMORY_LIMIT_MB)  # as platform backtest opens it
    await storage.open()
    try:
        span = await storage.span("quotes", NAME)
        assert span is not None
        result = await backtest_from_storage(storage, _config(span[0], span[1] + 1), seed=0)
    finally:
        await storage.close()
    peak_mb = _vm_hwm_mb()
    print(f"{result.metrics.events} {result.events_per_s:.0f} {peak_mb:.1f}")


def peak_rss_mb(path: Path) -> tuple[int, float, float]:
    """(events, events/s, peak RSS MB) of a child backtesting the store at ``path``."""
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(path)], check=True, capture_output=True,
                         text=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the fast-driver run")
    parser.add_argument("--reference-events", type=int, default=200_000, help="events of the reference-driver run")
    parser.add_argument("--rss-sizes", default="1000000,10000000", help="comma-separated event counts ('' = skip)")
    parser.add_argument("--store-dir", type=Path, default=None, help="where generated stores are kept")
    parser.add_argument("--rss-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        asyncio.run(_child(args.rss_child))
        return 0
    dataset = np.concatenate(list(tick_history(HISTORY, min(args.events, 10_000), 10_000)))
    share = float((dataset["kind"] == 1).mean())
    print(f"dataset_trade_share={share:.3f} dataset_mean_gap_ms={np.diff(dataset['ts_ns']).mean() / 1e6:.2f}")
    print(f"backtest_events_per_s={fast_rate(args.events):.0f}", flush=True)
    print(f"reference_events_per_s={reference_rate(args.reference_events):.0f}", flush=True)
    sizes = [int(s) for s in args.rss_sizes.split(",") if s]
    if not sizes:
        return 0
    directory = args.store_dir or Path(tempfile.mkdtemp(prefix="backtest_throughput_"))
    directory.mkdir(parents=True, exist_ok=True)
    peaks = []
    for size in sizes:
        events, rate, peak = peak_rss_mb(ensure_store(directory, size))
        label = _label(size)
        print(f"backtest_storage_events_{label}={events} backtest_storage_events_per_s_{label}={rate:.0f}")
        print(f"backtest_peak_rss_mb_{label}={peak:.1f}", flush=True)
        peaks.append(peak)
    if len(peaks) > 1:
        print(f"backtest_rss_growth={max(peaks) / min(peaks):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

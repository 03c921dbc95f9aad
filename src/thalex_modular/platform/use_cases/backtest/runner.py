"""Run a backtest: a plain function of (config, history, seed) -> result, callable from the CLI, from tests and
from a sweep's Ray task (history there is a list of ``EVENT_DTYPE`` chunks shared through the object store)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import Storage

from .config import BacktestConfig
from .metrics import compute_metrics
from .reference import INSERT, ReferenceDriver
from .result import BacktestResult
from .source import data_span, measured_feed_latency_ns, storage_chunks

ProgressHook = Callable[[int, int], None]
"""Called after each chunk with (events replayed in it, exchange time reached in ns)."""


class BacktestRun:
    """One replay in progress: feed chunks with :meth:`replay`, then :meth:`finish`."""

    def __init__(self, config: BacktestConfig, seed: int, feed_latency_ns: int | None = None,
                 record_requests: bool = False) -> None:
        self.config = config
        self.seed = seed
        self.driver = ReferenceDriver(config, seed, feed_latency_ns, record_requests)
        self.replay_s = 0.0
        self.first_ns: int | None = None
        self.last_ns = config.history.start_ns

    def replay(self, chunk: npt.NDArray[np.void]) -> None:
        if not len(chunk):
            return
        if self.first_ns is None:
            self.first_ns = int(chunk["ts_ns"][0])
        started = time.perf_counter()
        self.driver.replay(chunk)
        self.replay_s += time.perf_counter() - started
        self.last_ns = int(chunk["ts_ns"][-1])

    def finish(self, read_s: float = 0.0) -> BacktestResult:
        d = self.driver
        rec = d.recorder
        summary = d.session.summary()
        requests = d.requests()
        mark = d.mark if d.mark == d.mark else 0.0
        metrics = compute_metrics(
            rec.fills(), rec.samples(), sample_interval_ns=rec.sample_interval_ns, events=d.events,
            requests=sum(d.request_counts), inserts=d.request_counts[INSERT],
            offered_amount=d.offered_amount, denials=summary.stats.denials, pnl_usd=rec.equity_usd(mark),
            spread_capture_usd=rec.spread_capture_usd, fees_usd=rec.fees_usd, position_final=summary.position,
            feed_latency_ns=d.feed_latency_ns,
        )
        return BacktestResult(
            run_id=self.config.run_id(self.seed), seed=self.seed, config=self.config.as_dict(),
            data_start_ns=self.first_ns if self.first_ns is not None else self.config.history.start_ns,
            data_end_ns=self.last_ns, metrics=metrics, fills=rec.fills(), samples=rec.samples(), requests=requests,
            replay_s=self.replay_s, read_s=read_s,
        )


def run_backtest(
    config: BacktestConfig, chunks: Iterable[npt.NDArray[np.void]], seed: int = 0, *,
    feed_latency_ns: int | None = None, on_progress: ProgressHook | None = None, record_requests: bool = False,
) -> BacktestResult:
    """Replay ``chunks`` (``EVENT_DTYPE``, in time order) through the reference driver; deterministic for a seed.
    ``feed_latency_ns`` overrides the simulator's feed leg (e.g. measured from the data); ``record_requests``
    keeps the log of every request in ``result.requests``."""
    run = BacktestRun(config, seed, feed_latency_ns, record_requests)
    for chunk in chunks:
        run.replay(chunk)
        if on_progress is not None and len(chunk):
            on_progress(len(chunk), int(chunk["ts_ns"][-1]))
    return run.finish()


async def backtest_from_storage(
    storage: Storage, config: BacktestConfig, seed: int = 0, *, on_progress: ProgressHook | None = None,
    on_span: Callable[[int, int], None] | None = None, record_requests: bool = False,
) -> BacktestResult:
    """Replay ``config.history`` read from ``storage`` chunk by chunk. The feed latency is the median measured in
    the first chunk's quotes (receive minus exchange time) where they carry both clocks, else the simulator's.

    Raises:
        NoHistory: no data of the instrument in the range.
    """
    span = await data_span(storage, config.history)
    if on_span is not None:
        on_span(*span)
    measured = await measured_feed_latency_ns(storage, config.history, span)
    run = BacktestRun(config, seed, measured, record_requests)
    read_s = 0.0
    started = time.perf_counter()
    async for chunk in storage_chunks(storage, config.history, span):
        read_s += time.perf_counter() - started
        run.replay(chunk)
        if on_progress is not None:
            on_progress(len(chunk), int(chunk["ts_ns"][-1]))
        started = time.perf_counter()
    return run.finish(read_s)

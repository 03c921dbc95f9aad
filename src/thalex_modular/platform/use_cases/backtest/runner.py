"""Run a backtest: a plain function of (config, history, seed) -> result, callable from the CLI, from tests and
from a sweep's Ray task (history there is a list of ``EVENT_DTYPE`` chunks shared through the object store)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.enums import InstrumentKind
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import Storage

from .config import BacktestConfig
from .events import EVENT_DTYPE, seen_times
from .funding import FundingLedger, funding_note
from .metrics import compute_metrics
from .reference import INSERT, ReferenceDriver
from .result import BacktestResult
from .source import data_span, measured_feed_latency_ns, storage_chunks

if TYPE_CHECKING:
    from .fast import FastDriver

ProgressHook = Callable[[int, int], None]
"""Called after each chunk with (events replayed in it, exchange time reached in ns)."""


DRIVERS = ("fast", "reference")
#: The driver ``platform backtest`` and :func:`run_backtest` use unless told: the compiled loop (parity with the
#: reference driver is tested: tests/unit/backtest/test_fast_parity.py).
DEFAULT_DRIVER = "fast"


class BacktestRun:
    """One replay in progress: feed chunks with :meth:`replay`, then :meth:`finish`. ``driver``: ``"fast"`` (the
    compiled loop) or ``"reference"`` (SimSession); the same decisions either way."""

    def __init__(self, config: BacktestConfig, seed: int, feed_latency_ns: int | None = None,
                 record_requests: bool = False, driver: str = DEFAULT_DRIVER) -> None:
        self.config = config
        self.seed = seed
        if driver == "fast":
            from .fast import FastDriver  # compiles (or loads) the loop: only when asked for

            self.driver: ReferenceDriver | FastDriver = FastDriver(config, seed, feed_latency_ns, record_requests)
        elif driver == "reference":
            self.driver = ReferenceDriver(config, seed, feed_latency_ns, record_requests)
        else:
            raise InvalidValue(f"driver must be one of {DRIVERS}, was {driver!r}")
        self.driver_name = driver
        self.perpetual = config.instrument.kind is InstrumentKind.PERPETUAL
        self.funding = FundingLedger(self.perpetual)
        self._seen_ns = np.iinfo(np.int64).min  # the replay's clock: when the last event was seen
        self._no_events = np.zeros(0, dtype=EVENT_DTYPE)
        self._no_seen = np.zeros(0, dtype=np.int64)
        self.replay_s = 0.0
        self.first_ns: int | None = None
        self.last_ns = config.history.start_ns

    def replay(self, chunk: npt.NDArray[np.void]) -> None:
        if not len(chunk):
            return
        if self.first_ns is None:
            self.first_ns = int(chunk["ts_ns"].min())  # in receive order, not exchange order
        started = time.perf_counter()
        d = self.driver
        seen = seen_times(chunk, d.feed_latency_ns, self._seen_ns)
        self._seen_ns = int(seen[-1])
        fills_before, samples_before = d.fill_count, d.sample_count
        d.replay(chunk, seen)
        fill_ns, fill_amount = d.fill_flows(fills_before)
        self.funding.book(chunk, seen, fill_ns, fill_amount, d.sample_times(samples_before))
        self.replay_s += time.perf_counter() - started
        self.last_ns = max(self.last_ns, int(chunk["ts_ns"].max()))

    def finish(self, read_s: float = 0.0) -> BacktestResult:
        d = self.driver
        started = time.perf_counter()
        fills_before = d.fill_count
        d.deliver_in_flight()
        self.funding.book(self._no_events, self._no_seen, *d.fill_flows(fills_before), self._no_seen)
        self.replay_s += time.perf_counter() - started
        fills = d.fills()
        samples = d.samples()
        samples["equity_usd"] += self.funding.sample_funding_usd()  # funding is cash: in the equity it samples
        mark = d.mark if d.mark == d.mark else 0.0
        counts = d.request_counts
        funding_usd = self.funding.funding_usd()
        metrics = compute_metrics(
            fills, samples, sample_interval_ns=d.sample_interval_ns, events=d.events,
            requests=sum(counts), inserts=counts[INSERT],
            offered_amount=d.offered_amount, denials=d.denials, pnl_usd=d.equity_usd(mark) + funding_usd,
            spread_capture_usd=d.spread_capture_usd, fees_usd=d.fees_usd, funding_usd=funding_usd,
            funding_updates=self.funding.updates, position_final=d.position, feed_latency_ns=d.feed_latency_ns,
        )
        return BacktestResult(
            run_id=self.config.run_id(self.seed), seed=self.seed, config=self.config.as_dict(),
            data_start_ns=self.first_ns if self.first_ns is not None else self.config.history.start_ns,
            data_end_ns=self.last_ns, metrics=metrics, fills=fills, samples=samples, requests=d.requests(),
            replay_s=self.replay_s, read_s=read_s,
            funding_note=funding_note(self.perpetual, self.funding.updates, self.config.history.mode),
        )


def run_backtest(
    config: BacktestConfig, chunks: Iterable[npt.NDArray[np.void]], seed: int = 0, *,
    feed_latency_ns: int | None = None, on_progress: ProgressHook | None = None, record_requests: bool = False,
    driver: str = DEFAULT_DRIVER,
) -> BacktestResult:
    """Replay ``chunks`` (``EVENT_DTYPE``, in time order) through ``driver``; deterministic for a seed.
    ``feed_latency_ns`` overrides the simulator's feed leg (e.g. measured from the data); ``record_requests``
    keeps the log of every request in ``result.requests``."""
    run = BacktestRun(config, seed, feed_latency_ns, record_requests, driver)
    for chunk in chunks:
        run.replay(chunk)
        if on_progress is not None and len(chunk):
            on_progress(len(chunk), int(chunk["ts_ns"][-1]))
    return run.finish()


async def backtest_from_storage(
    storage: Storage, config: BacktestConfig, seed: int = 0, *, on_progress: ProgressHook | None = None,
    on_span: Callable[[int, int], None] | None = None, record_requests: bool = False,
    driver: str = DEFAULT_DRIVER,
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
    run = BacktestRun(config, seed, measured, record_requests, driver)
    read_s = 0.0
    started = time.perf_counter()
    async for chunk in storage_chunks(storage, config.history, span):
        read_s += time.perf_counter() - started
        run.replay(chunk)
        if on_progress is not None:
            on_progress(len(chunk), int(chunk["ts_ns"][-1]))
        started = time.perf_counter()
    return run.finish(read_s)

"""`platform data record`: public trades and ticker snapshots (book top + mark) of some instruments into storage.

Per instrument a :class:`ThalexMarketFeed` (``ticker.<instrument>.<delay>`` on one public session, no login) and a
:class:`~.record_trades.TradeRecorder` (``recent_trades.<instrument>.single``, its subscribe snapshot included, so a
restart does not lose the trades made meanwhile) feed a :class:`RecordingSink`, which turns each Ticker into a
:class:`QuoteRecord` and each Trade into a :class:`TradeRecord` (Thalex sends no trade id: a synthetic id from
:class:`TradeSequencer`) and appends it to a :class:`WriteBuffer`. The buffer ships batches in the background; if
the store is down it spills to this recorder's own files in the spill directory and replays them later, so the
websocket reader never waits on the store. Runs until SIGINT/SIGTERM or ``--duration-s``, then stops the feed and
flushes the buffer; the summary says how long the gap since the last recorded trade was and whether the subscribe
snapshot covered it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from thalex_modular.platform.adapters.exchanges.thalex import (
    Network,
    ThalexConfig,
    ThalexError,
    ThalexMarketFeed,
    ThalexSession,
)
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.storage.buffer import WriteBuffer
from thalex_modular.platform.adapters.storage.dsn import scrub
from thalex_modular.platform.adapters.storage.factory import DSN_ENV, default_data_dir, is_dsn, make_storage
from thalex_modular.platform.domain.entities import Ticker, Trade
from thalex_modular.platform.domain.storage import (
    Storage,
    StorageError,
    StorageUnavailable,
    TradeSequencer,
    quote_record,
)

from .record_trades import TradeRecorder

DEFAULT_EMULATOR_URL = "ws://127.0.0.1:8490/ws/api/v2"
SPILL_DIR_NAME = "record-spill"
#: The single spill file of earlier versions (``<data dir>/record-spill.msgpack``): adopted into the directory.
LEGACY_SPILL_FILE_NAME = "record-spill.msgpack"


def thalex_config(network: str, emulator_url: str | None) -> ThalexConfig:
    """The public session's config for ``--network local|test|prod`` (``local``: the emulator at ``emulator_url``).

    Raises:
        ValueError: naming the bad network or URL.
    """
    net = Network(network)
    if net is Network.LOCAL:
        return ThalexConfig.local(emulator_url or DEFAULT_EMULATOR_URL)
    return ThalexConfig(network=net)


@dataclass
class RecordCounts:
    """Records handed to the buffer since start, and feed-down notices seen."""

    quotes: int = 0
    trades: int = 0
    feed_downs: int = 0


class RecordingSink:
    """A :class:`~thalex_modular.platform.use_cases.ports.MarketDataSink` appending records to a buffer (O(1), no I/O).

    ``trade_seq`` and ``quote_seq`` number events sharing one exchange timestamp per instrument; the sequencers
    may be shared by the sinks of several instruments (they keep state per instrument name).
    """

    def __init__(
        self, buffer: WriteBuffer, counts: RecordCounts, trade_seq: TradeSequencer, quote_seq: TradeSequencer
    ) -> None:
        self._buffer = buffer
        self._counts = counts
        self._trade_seq = trade_seq
        self._quote_seq = quote_seq

    def on_ticker(self, ticker: Ticker) -> None:
        seq = self._quote_seq.next_seq(ticker.instrument_name, ticker.ts_exchange_ns)
        self._buffer.append(quote_record(ticker, seq))
        self._counts.quotes += 1

    def on_trade(self, trade: Trade) -> None:
        self._buffer.append(self._trade_seq.record(trade))
        self._counts.trades += 1

    def on_feed_down(self, reason: str) -> None:
        self._counts.feed_downs += 1


class RecordProgress:
    """One status line on stderr: records, records/s, buffered (in memory), spilled, quarantined."""

    def __init__(self, counts: RecordCounts, buffer: WriteBuffer, stream: TextIO | None = None) -> None:
        self._counts = counts
        self._buffer = buffer
        self._stream = stream or sys.stderr
        self._start = time.monotonic()

    def line(self) -> str:
        total = self._counts.quotes + self._counts.trades
        rate = total / max(time.monotonic() - self._start, 1e-9)
        return (f"record: {self._counts.quotes:,} quotes, {self._counts.trades:,} trades, {rate:,.0f} rec/s, "
                f"buffered {self._buffer.pending:,}, spilled {self._buffer.spilled:,}, "
                f"quarantined {self._buffer.quarantined:,}")

    def draw(self) -> None:
        self._stream.write("\r" + self.line())
        self._stream.flush()


async def last_trades(storage: Storage, instruments: list[str]) -> dict[str, int | None]:
    """The newest stored trade (exchange ns) of each instrument; None for all when the store cannot be asked."""
    try:
        spans = {name: await storage.span("trades", name) for name in instruments}
    except StorageError:  # not open (unreachable at start): gaps are then measured from this run's trades only
        return dict.fromkeys(instruments)
    return {name: None if span is None else span[1] for name, span in spans.items()}


async def record(
    storage: Storage,
    session: ThalexSession,
    instruments: list[str],
    spill_dir: Path,
    stop: asyncio.Event,
    *,
    duration_s: float | None = None,
    progress_interval_s: float = 1.0,
    stream: TextIO | None = None,
    buffer: WriteBuffer | None = None,
) -> tuple[RecordCounts, list[TradeRecorder]]:
    """Record ``instruments`` until ``stop`` is set or ``duration_s`` (seconds) passed; flush and return the counts
    and each instrument's trade recorder (its gap report).

    ``session`` must not be started (the feeds register their channels first). ``storage`` may be unopened or
    unreachable: the write buffer opens it, and records go to the spill directory until it answers.
    """
    counts = RecordCounts()
    buffer = buffer or WriteBuffer(storage, spill_dir)
    trade_seq, quote_seq = TradeSequencer(), TradeSequencer()
    known = await last_trades(storage, instruments)
    recorders = []
    for name in instruments:
        sink = RecordingSink(buffer, counts, trade_seq, quote_seq)
        ThalexMarketFeed(session, name, sink, trades=False)
        recorders.append(TradeRecorder(session, name, sink.on_trade, known[name]))
    progress = RecordProgress(counts, buffer, stream)
    buffer.start()
    try:
        await session.start(timeout_s=session.config.connect_timeout_s)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not stop.is_set():
            wait_s = progress_interval_s if deadline is None else min(progress_interval_s, deadline - time.monotonic())
            if wait_s <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
            progress.draw()
    finally:
        downs = counts.feed_downs
        await session.stop()
        counts.feed_downs = downs  # our own stop is not a feed interruption
        await buffer.stop()  # the last flush: into the store, or the spill directory if it is down
        progress.draw()
        (stream or sys.stderr).write("\n")
    return counts, recorders


def run_record(args: argparse.Namespace) -> int:
    """Handler of ``data record``: 0 on a clean stop, 2 on a bad argument, store or exchange error."""
    try:
        config = thalex_config(args.network, args.emulator_url)
    except ValueError as exc:
        print(f"data record: {exc}", file=sys.stderr)
        return 2
    if args.duration_s is not None and args.duration_s <= 0:
        print(f"data record: invalid `--duration-s`: must be > 0, was {args.duration_s}", file=sys.stderr)
        return 2
    return asyncio.run(_record(args, config))


async def _record(args: argparse.Namespace, config: ThalexConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread: no handler
            loop.add_signal_handler(sig, stop.set)
    data_dir: Path = args.data_dir or default_data_dir()
    spill_dir: Path = args.spill_dir or data_dir / SPILL_DIR_NAME
    storage = make_storage(args.db, data_dir=args.data_dir)
    dsn = args.db if isinstance(args.db, str) and is_dsn(args.db) else os.environ.get(DSN_ENV, "")
    session = ThalexSession(config, LiveClock())
    buffer = WriteBuffer(storage, spill_dir)
    legacy = data_dir / LEGACY_SPILL_FILE_NAME
    try:
        if legacy.is_file():
            print(f"data record: an earlier version's spill file {legacy} is replayed from "
                  f"{buffer.spill.adopt(legacy)}", file=sys.stderr)
        try:
            await storage.open()  # a wrong DSN or a broken store is refused here (StorageError)
        except StorageUnavailable as exc:  # down for now: record into the spill directory, replayed once it answers
            print(f"data record: the store is unreachable, recording to {spill_dir} until it answers: {exc}",
                  file=sys.stderr)
        counts, recorders = await record(storage, session, list(args.instrument), spill_dir, stop,
                                         duration_s=args.duration_s, buffer=buffer)
    except (StorageError, ThalexError, TimeoutError, OSError) as exc:
        print(f"data record: {type(exc).__name__}: {scrub(str(exc), dsn)}", file=sys.stderr)
        return 2
    finally:
        await storage.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
    print(f"recorded {counts.quotes} quotes, {counts.trades} trades of {', '.join(args.instrument)} into "
          f"{storage.location}"
          f"{f' ({counts.feed_downs} feed interruptions)' if counts.feed_downs else ''}")
    for recorder in recorders:
        print(recorder.summary())
    print(f"write buffer: {buffer.summary()}")
    return 0 if buffer.lost == 0 and buffer.dropped == 0 else 1

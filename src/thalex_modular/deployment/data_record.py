"""`platform data record`: public trades and ticker snapshots (book top + mark) of some instruments into storage.

Per instrument a :class:`ThalexMarketFeed` (``ticker.<instrument>.<delay>`` and ``recent_trades.<instrument>.single``
on one public session, no login) feeds a :class:`RecordingSink`, which turns each Ticker into a
:class:`QuoteRecord` and each Trade into a :class:`TradeRecord` (Thalex sends no trade id: a synthetic id from
:class:`TradeSequencer`) and appends it to a :class:`WriteBuffer`. The buffer ships batches in the background; if
the store is down it spills to a file and replays it later, so the websocket reader never waits on the store.
Runs until SIGINT/SIGTERM or ``--duration-s``, then stops the feed and flushes the buffer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from thalex_modular.platform.adapters.storage.factory import default_data_dir, make_storage
from thalex_modular.platform.domain.entities import Ticker, Trade
from thalex_modular.platform.domain.storage import (
    Storage,
    StorageError,
    StorageUnavailable,
    TradeSequencer,
    quote_record,
)

DEFAULT_EMULATOR_URL = "ws://127.0.0.1:8490/ws/api/v2"
SPILL_FILE_NAME = "record-spill.msgpack"


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
    """One status line on stderr: records, records/s, buffered (in memory), spilled (to the spill file)."""

    def __init__(self, counts: RecordCounts, buffer: WriteBuffer, stream: TextIO | None = None) -> None:
        self._counts = counts
        self._buffer = buffer
        self._stream = stream or sys.stderr
        self._start = time.monotonic()

    def line(self) -> str:
        total = self._counts.quotes + self._counts.trades
        rate = total / max(time.monotonic() - self._start, 1e-9)
        return (f"record: {self._counts.quotes:,} quotes, {self._counts.trades:,} trades, {rate:,.0f} rec/s, "
                f"buffered {self._buffer.pending:,}, spilled {self._buffer.spilled:,}")

    def draw(self) -> None:
        self._stream.write("\r" + self.line())
        self._stream.flush()


async def record(
    storage: Storage,
    session: ThalexSession,
    instruments: list[str],
    spill_path: Path,
    stop: asyncio.Event,
    *,
    duration_s: float | None = None,
    progress_interval_s: float = 1.0,
    stream: TextIO | None = None,
) -> RecordCounts:
    """Record ``instruments`` until ``stop`` is set or ``duration_s`` (seconds) passed; flush and return the counts.

    ``session`` must not be started (the feeds register their channels first). ``storage`` may be unopened or
    unreachable: the write buffer opens it, and records go to the spill file until it answers.
    """
    counts = RecordCounts()
    buffer = WriteBuffer(storage, spill_path)
    trade_seq, quote_seq = TradeSequencer(), TradeSequencer()
    for name in instruments:
        ThalexMarketFeed(session, name, RecordingSink(buffer, counts, trade_seq, quote_seq))
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
        await buffer.stop()  # the last flush: into the store, or the spill file if it is down
        progress.draw()
        (stream or sys.stderr).write("\n")
    return counts


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
    spill_path: Path = args.spill or (args.data_dir or default_data_dir()) / SPILL_FILE_NAME
    spill_path.parent.mkdir(parents=True, exist_ok=True)
    storage = make_storage(args.db, data_dir=args.data_dir)
    session = ThalexSession(config, LiveClock())
    try:
        try:
            await storage.open()  # a wrong DSN or a broken store is refused here (StorageError)
        except StorageUnavailable as exc:  # down for now: record into the spill file, replayed once it answers
            print(f"data record: the store is unreachable, recording to {spill_path} until it answers: {exc}",
                  file=sys.stderr)
        counts = await record(storage, session, list(args.instrument), spill_path, stop, duration_s=args.duration_s)
    except (StorageError, ThalexError, TimeoutError, OSError) as exc:
        print(f"data record: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        await storage.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
    print(f"recorded {counts.quotes} quotes, {counts.trades} trades of {', '.join(args.instrument)}"
          f"{f' ({counts.feed_downs} feed interruptions)' if counts.feed_downs else ''}")
    return 0

"""`platform data record`: public trades and ticker snapshots (book top + mark) of some instruments into storage.

Per instrument a :class:`ThalexMarketFeed` (``ticker.<instrument>.<delay>`` on one public session, no login) and a
:class:`~.record_trades.TradeRecorder` (``recent_trades.<instrument>.single``, its subscribe snapshot included, so a
restart does not lose the trades made meanwhile) feed a :class:`RecordingSink`, which turns each Ticker into a
:class:`QuoteRecord` and each Trade into a :class:`TradeRecord` (Thalex sends no trade id: a synthetic id from
:class:`TradeSequencer`) and appends it to a :class:`WriteBuffer`. The buffer ships batches in the background; if
the store is down it spills to this recorder's own files in the spill directory and replays them later, so the
websocket reader never waits on the store. A spill directory belongs to one store: by default
``<data dir>/record-spill/<store key>`` (the key a hash of the store's redacted DSN or path), and a ``STORE`` file in
it names its store, so a recorder of another store refuses it instead of replaying records that are not its own.
The start line and the summary say where the data went (store without secrets, spill folder) and how many records
are only spilled. Runs until SIGINT/SIGTERM or ``--duration-s``, then stops the feed and
flushes the buffer; the summary says how long the gap since the last recorded trade was and whether the subscribe
snapshot covered it.
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
from typing import Final, TextIO

from thalex_modular.platform.adapters.exchanges.thalex import (
    Network,
    ThalexConfig,
    ThalexError,
    ThalexMarketFeed,
    ThalexSession,
)
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.storage.buffer import WriteBuffer
from thalex_modular.platform.adapters.storage.factory import default_data_dir
from thalex_modular.platform.domain.entities import Ticker, Trade
from thalex_modular.platform.domain.storage import (
    Storage,
    StorageError,
    StorageUnavailable,
    TradeSequencer,
    quote_record,
)

from .cli_errors import CliError, UsageError
from .db_target import StoreTarget, resolve_store
from .endpoints import EndpointUnreachable, check_ws_url, probe
from .progress import Progress
from .record_trades import TradeRecorder
from .summary import emit_summary

DEFAULT_EMULATOR_URL = "ws://127.0.0.1:8490/ws/api/v2"
SPILL_DIR_NAME = "record-spill"
#: The single spill file of earlier versions (``<data dir>/record-spill.msgpack``): adopted into the directory.
LEGACY_SPILL_FILE_NAME = "record-spill.msgpack"
#: In a spill directory: the store its records belong to (redacted DSN or embedded path).
SPILL_OWNER_FILE: Final = "STORE"


def thalex_config(network: str, emulator_url: str | None) -> ThalexConfig:
    """The public session's config for ``--network local|test|prod`` (``local``: the emulator at ``emulator_url``).

    Raises:
        ValueError: naming the bad network or URL.
    """
    net = Network(network)
    if net is Network.LOCAL:
        try:
            url = check_ws_url(emulator_url or DEFAULT_EMULATOR_URL)
        except ValueError as exc:
            raise ValueError(f"invalid `--emulator-url`: {exc}") from None
        return ThalexConfig.local(url)
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


def record_status(counts: RecordCounts, buffer: WriteBuffer) -> str:
    """The status shown after the record rate: quotes, trades, buffered (in memory), spilled, quarantined."""
    return (f"{counts.quotes:,} quotes, {counts.trades:,} trades, buffered {buffer.pending:,}, "
            f"spilled {buffer.spilled:,}, quarantined {buffer.quarantined:,}")


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
    progress = Progress("record", unit="records", stream=stream)

    def show() -> None:
        progress.update(counts.quotes + counts.trades - progress.done)
        progress.set_status(record_status(counts, buffer))

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
            show()
    finally:
        downs = counts.feed_downs
        await session.stop()
        counts.feed_downs = downs  # our own stop is not a feed interruption
        await buffer.stop()  # the last flush: into the store, or the spill directory if it is down
        show()
        progress.close()
    return counts, recorders


def run_record(args: argparse.Namespace) -> int:
    """Handler of ``data record``: 0 on a clean stop, 1 when the venue cannot be reached or records were lost,
    2 on a bad argument or a store that refuses us."""
    try:
        config = thalex_config(args.network, args.emulator_url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.duration_s is not None and args.duration_s <= 0:
        raise UsageError(f"invalid `--duration-s`: must be > 0, was {args.duration_s}")
    target = resolve_store(args.db, args.data_dir)
    data_dir: Path = args.data_dir or default_data_dir()
    spill_dir: Path = args.spill_dir or data_dir / SPILL_DIR_NAME / target.key
    return asyncio.run(_record(args, config, target, data_dir, spill_dir))


def claim_spill_dir(spill_dir: Path, target: StoreTarget) -> Path:
    """``spill_dir`` once it is this store's (its ``STORE`` file names the store; written when missing).

    Raises:
        UsageError: the folder belongs to another store (its records must not be replayed into this one), or
            cannot be created.
    """
    owner_file = spill_dir / SPILL_OWNER_FILE
    try:
        owner = owner_file.read_text().strip() if owner_file.is_file() else None
        if owner is not None and owner != target.shown:
            raise UsageError(f"invalid `--spill-dir`: {spill_dir} holds the spill of another store ({owner}); its "
                             f"records must not go into {target.shown}; give another --spill-dir")
        if owner is None:
            spill_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            owner_file.write_text(target.shown + "\n")
    except OSError as exc:
        raise UsageError(f"invalid spill folder {spill_dir}: {exc.strerror or exc}") from None
    return spill_dir


def _foreign_segments(data_dir: Path, spill_dir: Path) -> list[Path]:
    """Spill segments an earlier version left in the shared ``<data dir>/record-spill`` (their store is unknown)."""
    shared = data_dir / SPILL_DIR_NAME
    if spill_dir.parent != shared or not shared.is_dir():
        return []
    return sorted(shared.glob("*.spill"))


async def _record(
    args: argparse.Namespace, config: ThalexConfig, target: StoreTarget, data_dir: Path, spill_dir: Path
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        await probe(config.url)
    except EndpointUnreachable as exc:
        raise CliError(str(exc)) from None
    claim_spill_dir(spill_dir, target)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread: no handler
            loop.add_signal_handler(sig, stop.set)
    storage = target.make()
    session = ThalexSession(config, LiveClock())
    buffer = WriteBuffer(storage, spill_dir)
    legacy = data_dir / LEGACY_SPILL_FILE_NAME
    print(f"data record: {', '.join(args.instrument)} from {config.url} into {target.shown} "
          f"(spill folder {spill_dir})", file=sys.stderr, flush=True)
    foreign = _foreign_segments(data_dir, spill_dir)
    if foreign:
        print(f"data record: {len(foreign)} spill file(s) of an earlier version in {foreign[0].parent} are left "
              f"alone (their store is unknown); move them into {spill_dir} to replay them into {target.shown}",
              file=sys.stderr)
    try:
        if legacy.is_file() and args.spill_dir is None:
            print(f"data record: an earlier version's spill file {legacy} is replayed from "
                  f"{buffer.spill.adopt(legacy)}", file=sys.stderr)
        try:
            await storage.open()  # a wrong DSN or a broken store is refused here (StorageError)
        except StorageUnavailable as exc:  # down for now: record into the spill directory, replayed once it answers
            print(f"data record: the store is unreachable, recording to {spill_dir} until it answers: "
                  f"{target.scrub(str(exc))}", file=sys.stderr)
        counts, recorders = await record(storage, session, list(args.instrument), spill_dir, stop,
                                         duration_s=args.duration_s, buffer=buffer)
    except (StorageError, ThalexError, TimeoutError, OSError) as exc:
        detail = target.scrub(str(exc)) or "no answer"
        raise UsageError(f"{type(exc).__name__}: {detail} (store {target.shown}, venue {config.url})") from None
    finally:
        await storage.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
    only_spilled = max(0, buffer.spilled - buffer.replayed)
    lines = [f"recorded {counts.quotes} quotes, {counts.trades} trades of {', '.join(args.instrument)} into "
             f"{target.shown}{f' ({counts.feed_downs} feed interruptions)' if counts.feed_downs else ''}"]
    lines += [recorder.summary() for recorder in recorders]
    lines.append(f"write buffer: {buffer.summary()}")
    if only_spilled:
        lines.append(f"{only_spilled:,} records are only in the spill folder {spill_dir}, not yet in {target.shown}: "
                     "the next `platform data record` with the same store replays them")
    emit_summary(args, lines, {
        "ok": buffer.lost == 0 and buffer.dropped == 0, "store": target.shown, "spill_dir": str(spill_dir),
        "quotes": counts.quotes, "trades": counts.trades, "feed_interruptions": counts.feed_downs,
        "written": buffer.written, "spilled": buffer.spilled, "replayed": buffer.replayed,
        "only_spilled": only_spilled, "quarantined": buffer.quarantined, "dropped": buffer.dropped,
        "lost": buffer.lost, "gaps": [recorder.summary() for recorder in recorders],
    })
    return 0 if buffer.lost == 0 and buffer.dropped == 0 else 1

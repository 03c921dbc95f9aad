"""`platform data backfill`: the venue's 1m mark / index candles into ``candles_1m``, chunked and resumable.

An instrument name (``BTC-PERPETUAL``, has a ``-``) is fetched from ``public/mark_price_historical_data``
(source ``mark``); an index name (``BTCUSD``) from ``public/index_price_historical_data`` (source ``index``).
The range ``[from, to)`` (Unix seconds, minute-aligned outward) is split into chunks of ``chunk_s`` seconds
(default one day = 1440 rows per request). Before fetching, the stored rows of the whole range are read once;
a chunk that already holds all of its minutes is skipped, so a rerun or an interrupted run picks up where it
stopped. Writes are idempotent (key (source, name, ts_ns)), so refetching a partly stored chunk is harmless.

A chunk the venue has no or partial data for (before its history starts, gaps) is never complete. When it was
fetched with all its minutes past (venue time, read from its index, plus ``SETTLE_S``), a ``candle_fetches`` row is
written after its candles, and later runs skip it too; a chunk reaching into the venue's present is fetched again
next time, and only its candles final by then (minute end + ``SETTLE_S`` in the venue's past) are stored: writes
never overwrite, so a still-moving candle would stay as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

from thalex_modular.platform.adapters.exchanges.thalex import ThalexError, ThalexSession
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.storage.export import candle_source as source_of
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import CandleFetchRecord, CandleRecord, Storage, StorageError

from .cli_errors import CliError, UsageError
from .data_record import thalex_config
from .db_target import StoreTarget, resolve_store
from .endpoints import EndpointUnreachable, probe
from .progress import Progress
from .summary import emit_summary
from .time_args import NS_PER_UNIT

SECONDS_PER_MINUTE: Final = 60
NANOS_PER_SECOND: Final = 1_000_000_000
DEFAULT_CHUNK_S: Final = 86_400  # one day of 1m rows (1440) per request
SETTLE_S: Final = 300  # a minute's candle is final this long after the minute (venue time)

#: Fetches the candles with minute start in [from_s, to_s) (Unix seconds) of one (source, name).
CandleFetch = Callable[[int, int], Awaitable[list[CandleRecord]]]


# -- arguments -------------------------------------------------------------------------------------------------


def chunk_ranges(from_s: int, to_s: int, chunk_s: int) -> list[tuple[int, int]]:
    """[from_s, to_s) widened to whole minutes, cut into [lo, hi) pieces of at most ``chunk_s`` seconds."""
    if chunk_s <= 0 or chunk_s % SECONDS_PER_MINUTE:
        raise InvalidValue(f"invalid `chunk_s`: must be a positive multiple of 60, was {chunk_s}")
    lo = from_s - from_s % SECONDS_PER_MINUTE
    hi = -(-to_s // SECONDS_PER_MINUTE) * SECONDS_PER_MINUTE
    if hi <= lo:
        raise InvalidValue(f"invalid `--to`: must be after --from {from_s}, was {to_s}")
    return [(start, min(start + chunk_s, hi)) for start in range(lo, hi, chunk_s)]


# -- the use case -------------------------------------------------------------------------------------------------


@dataclass
class BackfillReport:
    """What a backfill did: chunks in the range, already complete (skipped), fetched; rows the store added."""

    chunks_total: int = 0
    chunks_skipped: int = 0
    chunks_fetched: int = 0
    rows_fetched: int = 0
    rows_added: int = 0


async def missing_chunks(
    storage: Storage, source: str, name: str, chunks: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The chunks neither complete in the store nor fetched once past (one range read of each for all of them)."""
    if not chunks:
        return []
    start_ns, end_ns = chunks[0][0] * NANOS_PER_SECOND, chunks[-1][1] * NANOS_PER_SECOND
    ts = (await storage.read_candles_1m(source, name, start_ns, end_ns))["ts_ns"]
    fetched = await storage.read_candle_fetches(source, name, start_ns, end_ns)
    out = []
    for lo, hi in chunks:
        have = int(np.searchsorted(ts, hi * NANOS_PER_SECOND) - np.searchsorted(ts, lo * NANOS_PER_SECOND))
        if have < (hi - lo) // SECONDS_PER_MINUTE and not _covered(fetched, lo, hi):
            out.append((lo, hi))
    return out


def _covered(fetched: npt.NDArray[np.void], lo_s: int, hi_s: int) -> bool:
    """Does one fetched-once-past chunk cover [lo_s, hi_s)?"""
    starts, ends = fetched["ts_ns"], fetched["end_ns"]
    return bool(np.any((starts <= lo_s * NANOS_PER_SECOND) & (ends >= hi_s * NANOS_PER_SECOND)))


async def backfill(
    storage: Storage,
    fetch: CandleFetch,
    source: str,
    name: str,
    from_s: int,
    to_s: int,
    *,
    chunk_s: int = DEFAULT_CHUNK_S,
    max_chunks: int | None = None,
    on_chunk: Callable[[int, int, BackfillReport], None] | None = None,
    venue_now_s: float | None = None,
) -> BackfillReport:
    """Fetch and store the missing chunks of [from_s, to_s) (Unix seconds), oldest first.

    Args:
        max_chunks: fetch at most this many chunks in this run (the rest is left for the next run).
        on_chunk: called after each fetched chunk with (chunks done, chunks to do, report so far).
        venue_now_s: the venue's time before the first fetch (Unix s): chunks ending ``SETTLE_S`` before it are
            recorded as fetched once past, and candles of minutes ending later are not stored (None: nothing
            recorded, every incomplete chunk is fetched next time, every candle stored).
    """
    chunks = chunk_ranges(from_s, to_s, chunk_s)
    todo = await missing_chunks(storage, source, name, chunks)
    report = BackfillReport(chunks_total=len(chunks), chunks_skipped=len(chunks) - len(todo))
    if max_chunks is not None:
        todo = todo[:max_chunks]
    for i, (lo, hi) in enumerate(todo):
        rows = await fetch(lo, hi)
        report.rows_fetched += len(rows)
        if venue_now_s is not None and hi + SETTLE_S > venue_now_s:  # writes never overwrite: final candles only
            final_before_ns = round((venue_now_s - SETTLE_S - SECONDS_PER_MINUTE) * NANOS_PER_SECOND)
            rows = [row for row in rows if row.ts_ns <= final_before_ns]
        if rows:
            report.rows_added += await storage.write(rows)
        if venue_now_s is not None and hi + SETTLE_S <= venue_now_s:  # after its candles: a crash refetches
            await storage.write([CandleFetchRecord(source, name, lo * NANOS_PER_SECOND, hi * NANOS_PER_SECOND,
                                                   round(venue_now_s * NANOS_PER_SECOND))])
        report.chunks_fetched += 1
        if on_chunk is not None:
            on_chunk(i + 1, len(todo), report)
    return report


# -- the Thalex side -------------------------------------------------------------------------------------------


class _MarkHistory(msgspec.Struct):
    mark: list[list[Any]] = []  # api.yaml rows [t, o, h, l, c, ...type-specific]
    no_data: bool = False


class _IndexHistory(msgspec.Struct):
    index: list[list[Any]] = []  # api.yaml rows [t, o, h, l, c]
    no_data: bool = False


def candle_rows(source: str, name: str, rows: list[list[Any]], from_s: int, to_s: int) -> list[CandleRecord]:
    """Venue rows ``[t (s), o, h, l, c, ...]`` → records; rows outside [from_s, to_s) or off the minute grid
    are dropped."""
    out = []
    for row in rows:
        t = int(row[0])
        if from_s <= t < to_s and t % SECONDS_PER_MINUTE == 0:
            o, h, lo, c = (float(x) for x in row[1:5])
            out.append(CandleRecord(source, name, t * NANOS_PER_SECOND, o, h, lo, c))
    return out


def thalex_fetch(session: ThalexSession, source: str, name: str) -> CandleFetch:
    """A :data:`CandleFetch` over a (public) Thalex session, at resolution ``1m``."""

    async def fetch(from_s: int, to_s: int) -> list[CandleRecord]:
        if source == "mark":
            params = {"instrument_name": name, "from": from_s, "to": to_s, "resolution": "1m"}
            raw = await session.call("public/mark_price_historical_data", params)
            rows = msgspec.json.decode(raw, type=_MarkHistory).mark
        else:
            params = {"index_name": name, "from": from_s, "to": to_s, "resolution": "1m"}
            raw = await session.call("public/index_price_historical_data", params)
            rows = msgspec.json.decode(raw, type=_IndexHistory).index
        return candle_rows(source, name, rows, from_s, to_s)

    return fetch


async def thalex_venue_now_s(session: ThalexSession, source: str, name: str) -> float | None:
    """The venue's time (Unix s) from the index the candles belong to (``public/index``: an instrument's name
    starts with its currency); None when the venue does not say."""
    underlying = name if source == "index" else name.split("-", 1)[0] + "USD"
    try:
        index = msgspec.json.decode(await session.call("public/index", {"underlying": underlying}), type=_Index)
    except (ThalexError, msgspec.ValidationError, msgspec.DecodeError):
        return None
    return index.timestamp


class _Index(msgspec.Struct):
    timestamp: float  # Unix s


def run_backfill(args: argparse.Namespace) -> int:
    """Handler of ``data backfill``: 0 on success, 1 when the venue cannot be reached, 2 on a bad argument or a
    store error."""
    from_s, to_s = args.from_ // NS_PER_UNIT["s"], -(-args.to // NS_PER_UNIT["s"])
    try:
        chunk_ranges(from_s, to_s, args.chunk_s)  # validates the range before connecting anywhere
        config = thalex_config(args.network, args.emulator_url)
    except (InvalidValue, ValueError) as exc:
        raise UsageError(str(exc)) from None
    target = resolve_store(args.db, args.data_dir)
    return asyncio.run(_backfill(args, config, target, from_s, to_s))


async def _backfill(args: argparse.Namespace, config: Any, target: StoreTarget, from_s: int, to_s: int) -> int:
    name: str = args.instrument
    source = source_of(name)
    try:
        await probe(config.url)
    except EndpointUnreachable as exc:
        raise CliError(str(exc)) from None
    storage = target.make()
    session = ThalexSession(config, LiveClock())
    started = time.monotonic()
    progress = Progress(f"backfill {source} {name}", unit="chunks")

    def on_chunk(done: int, total: int, report: BackfillReport) -> None:
        progress.set_total(total)
        progress.update(done - progress.done)
        progress.set_status(f"{report.rows_added:,} rows added")

    try:
        await storage.open()
        await session.start(timeout_s=config.connect_timeout_s)
        report = await backfill(
            storage, thalex_fetch(session, source, name), source, name, from_s, to_s,
            chunk_s=args.chunk_s, max_chunks=args.max_chunks, on_chunk=on_chunk,
            venue_now_s=await thalex_venue_now_s(session, source, name),
        )
    except (StorageError, ThalexError, TimeoutError, OSError) as exc:
        detail = target.scrub(str(exc)) or "no answer"
        raise UsageError(f"{type(exc).__name__}: {detail} (store {target.shown}, venue {config.url})") from None
    finally:
        progress.close()
        await session.stop()
        await storage.close()
    line = (f"backfill {source} {name}: chunks {report.chunks_total} (skipped {report.chunks_skipped}, "
            f"fetched {report.chunks_fetched}), rows fetched {report.rows_fetched}, added {report.rows_added} "
            f"in {time.monotonic() - started:.1f}s into {target.shown}")
    emit_summary(args, [line], {"ok": True, "source": source, "name": name, "store": target.shown, **asdict(report)})
    return 0

"""The storage port: record types, columnar dtypes and the ``Storage`` protocol. No I/O here.

Units: prices USD, amounts in the underlying, times int nanoseconds since the Unix epoch (``*_ns``).
``side`` in stored rows is the taker's (trades) or our (orders, fills) direction as an int:
+1 buy, -1 sell, 0 unknown (Tardis reports ``unknown`` for some venues).

Records are immutable msgspec Structs whose field order is the table's column order; the tag lets a spill
file hold a mix of kinds. Every table has a natural key, and every write is ``INSERT ... ON CONFLICT DO
NOTHING`` on it, so writing the same records twice (a replay) adds nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Final, Literal, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from .entities import Fill, OrderUpdate, Position, Ticker, Trade
from .enums import Side
from .errors import DomainError, InvalidValue

NANOS_PER_MINUTE: Final = 60_000_000_000

# -- Columnar dtypes returned by range reads ----------------------------------------------------------

#: Tick-by-tick trades: exchange time (ns), price (USD), amount (underlying), taker side (+1/-1/0), our receive
#: time (ns; ``local_ns``).
TRADE_DTYPE: Final = np.dtype(
    [("ts_ns", "i8"), ("price", "f8"), ("amount", "f8"), ("side", "i1"), ("local_ns", "i8")]
)

#: Top-of-book snapshots; NaN where a side is empty or the mark is unknown. ``funding_rate_24h`` (a perpetual's
#: funding rate per 24 h as a fraction of the index, positive: longs pay) and ``index_price`` (USD): NaN when the
#: snapshot carries none (other instruments, rows from before migration 7). ``local_ns``: our receive time (ns).
QUOTE_DTYPE: Final = np.dtype(
    [
        ("ts_ns", "i8"),
        ("bid_price", "f8"),
        ("bid_amount", "f8"),
        ("ask_price", "f8"),
        ("ask_amount", "f8"),
        ("mark_price", "f8"),
        ("funding_rate_24h", "f8"),
        ("index_price", "f8"),
        ("local_ns", "i8"),
    ]
)

#: Feed delay of one quote: receive time minus exchange time (ns).
FEED_DELAY_DTYPE: Final = np.dtype([("delay_ns", "i8")])

#: One-minute bars built from trades: ``ts_ns`` is the minute's start; volume in the underlying.
OHLCV_DTYPE: Final = np.dtype(
    [
        ("ts_ns", "i8"),
        ("open", "f8"),
        ("high", "f8"),
        ("low", "f8"),
        ("close", "f8"),
        ("volume", "f8"),
        ("trades", "i8"),
    ]
)


#: Which clock a quote read filters and orders by: ``exchange`` (the venue's time; snapshots that came without one
#: are left out) or ``local`` (our receive time; every snapshot).
QuoteClock = Literal["exchange", "local"]
QUOTE_CLOCKS: Final = ("exchange", "local")

#: Venue 1m candles (``candles_1m``): minute start (ns) and open/high/low/close (USD).
CANDLE_DTYPE: Final = np.dtype(
    [("ts_ns", "i8"), ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8")]
)
#: Backfill chunks fetched (``candle_fetches``): chunk start and end (ns) and when the venue was asked (Unix ns).
CANDLE_FETCH_DTYPE: Final = np.dtype([("ts_ns", "i8"), ("end_ns", "i8"), ("fetched_ns", "i8")])
#: ``source`` of a candle: the venue's mark price history or its index price history.
CANDLE_SOURCES: Final = ("mark", "index")


# -- Errors ---------------------------------------------------------------------------------------------


class StorageError(DomainError):
    """A storage operation failed for a reason a retry will not fix (bad SQL, constraint, corrupt file)."""


class StorageUnavailable(StorageError):
    """The store cannot be reached right now (server down, connection refused, store closed).

    Writers buffer and retry; nothing is lost.
    """


# -- Records (one per table row) ------------------------------------------------------------------------


class TradeRecord(msgspec.Struct, frozen=True, gc=False, tag="trade"):
    """A public trade. Key: (instrument_name, ts_ns, trade_id).

    ``seq`` orders trades sharing one ``ts_ns`` (source order, 0-based); ``trade_id`` is the venue's id or
    :func:`synthetic_trade_id` when the venue gives none.
    """

    instrument_name: str
    ts_ns: int
    seq: int
    trade_id: str
    price: float
    amount: float
    side: int
    ts_local_ns: int


class QuoteRecord(msgspec.Struct, frozen=True, gc=False, tag="quote"):
    """A top-of-book / ticker snapshot. NaN where unknown.

    Each clock has its own column: ``ts_exchange_ns`` the venue's time (None when the venue sent none) and
    ``ts_local_ns`` our receive time. ``ts_ns`` is where the row is filed (partition, key, order): the exchange time,
    or the receive time for a snapshot without one; reads say which clock they use. Key: (instrument_name, ts_ns,
    snapshot id), the id a hash of the book top and mark (what tells two snapshots of one instant apart, in any
    process); ``seq`` is only the arrival order among snapshots filed at one ``ts_ns``.

    ``funding_rate_24h`` (migration 7): a perpetual's funding rate in the emulator's convention
    (``emulator/engine/funding.py``): per 24 h, a fraction of the index, positive when longs pay; Thalex's Ticker
    ``funding_rate`` as received. ``index_price``: the underlying's index (USD; Ticker ``index``). NaN when unknown
    (not a perpetual, no index sent, rows stored before). Neither is part of the snapshot id: a snapshot is its book
    top and mark.
    """

    instrument_name: str
    ts_ns: int
    seq: int
    bid_price: float
    bid_amount: float
    ask_price: float
    ask_amount: float
    mark_price: float
    ts_local_ns: int
    ts_exchange_ns: int | None
    funding_rate_24h: float = math.nan
    index_price: float = math.nan

    def __post_init__(self) -> None:
        filed = self.ts_local_ns if self.ts_exchange_ns is None else self.ts_exchange_ns
        if self.ts_ns != filed:
            raise InvalidValue(
                f"QuoteRecord.ts_ns must be ts_exchange_ns, or ts_local_ns without one ({filed}), was {self.ts_ns}"
            )


class OrderRecord(msgspec.Struct, frozen=True, gc=False, tag="order"):
    """One update of one of our orders (an append-only log). Key: (order_id, ts_ns, change_reason, status).

    ``client_order_id`` must fit a signed 64-bit integer (ours start at 100 and count up). ``source``: the session
    that wrote it (its mode or run id, as for positions; migration 6), ``""`` for rows from before.
    """

    order_id: str
    ts_ns: int
    change_reason: str
    status: str
    client_order_id: int | None
    instrument_name: str
    side: int
    price: float
    amount: float
    filled_amount: float
    ts_local_ns: int
    label: str
    source: str = ""


class FillRecord(msgspec.Struct, frozen=True, gc=False, tag="fill"):
    """A fill of one of our orders. Key: (trade_id, ts_ns); a trade id is counted once. ``fee`` USD; ``source`` as
    in :class:`OrderRecord`."""

    trade_id: str
    ts_ns: int
    order_id: str
    client_order_id: int | None
    instrument_name: str
    side: int
    price: float
    amount: float
    maker_taker: str
    fee: float
    ts_local_ns: int
    source: str = ""


class PositionRecord(msgspec.Struct, frozen=True, gc=False, tag="position"):
    """A position snapshot. Key: (source, instrument_name, ts_ns). ``source`` = mode or run id."""

    source: str
    instrument_name: str
    ts_ns: int
    position: float
    average_price: float
    realised_pnl: float
    unrealised_pnl: float
    mark_price: float


class EquityRecord(msgspec.Struct, frozen=True, gc=False, tag="equity"):
    """An account equity snapshot in USD. Key: (source, ts_ns)."""

    source: str
    ts_ns: int
    equity: float
    realised_pnl: float
    unrealised_pnl: float


class CandleRecord(msgspec.Struct, frozen=True, gc=False, tag="candle"):
    """A venue 1m candle (``platform data backfill``). Key: (source, name, ts_ns).

    ``source`` is one of :data:`CANDLE_SOURCES` (``mark``: an instrument's mark price, ``name`` an instrument;
    ``index``: an index price, ``name`` e.g. ``BTCUSD``); ``ts_ns`` is the minute's start; prices USD.
    """

    source: str
    name: str
    ts_ns: int
    open: float
    high: float
    low: float
    close: float


class CandleFetchRecord(msgspec.Struct, frozen=True, gc=False, tag="candle_fetch"):
    """A backfill chunk of venue candles asked for once its minutes were all past. Key: (source, name, ts_ns).

    ``ts_ns``/``end_ns``: the chunk [start, end) (ns); ``fetched_ns``: when the venue answered (Unix ns). The venue
    had the whole chunk's history then, so whatever it lacked (minutes before its history starts, gaps) it will not
    have later: the chunk is not asked again.
    """

    source: str
    name: str
    ts_ns: int
    end_ns: int
    fetched_ns: int


Record = (
    TradeRecord | QuoteRecord | OrderRecord | FillRecord | PositionRecord | EquityRecord | CandleRecord
    | CandleFetchRecord
)
RECORD_TYPES: Final[tuple[type[Record], ...]] = (
    TradeRecord,
    QuoteRecord,
    OrderRecord,
    FillRecord,
    PositionRecord,
    EquityRecord,
    CandleRecord,
    CandleFetchRecord,
)
#: Table name per record type (the same on every adapter).
TABLE_OF: Final[dict[type[Record], str]] = {
    TradeRecord: "trades",
    QuoteRecord: "quotes",
    OrderRecord: "orders",
    FillRecord: "fills",
    PositionRecord: "positions",
    EquityRecord: "equity",
    CandleRecord: "candles_1m",
    CandleFetchRecord: "candle_fetches",
}
#: Natural key columns per table: the ON CONFLICT target.
KEY_OF: Final[dict[str, tuple[str, ...]]] = {
    "trades": ("instrument_name", "ts_ns", "trade_id"),
    "quotes": ("instrument_name", "ts_ns", "snapshot_id"),
    "orders": ("order_id", "ts_ns", "change_reason", "status"),
    "fills": ("trade_id", "ts_ns"),
    "positions": ("source", "instrument_name", "ts_ns"),
    "equity": ("source", "ts_ns"),
    "candles_1m": ("source", "name", "ts_ns"),
    "candle_fetches": ("source", "name", "ts_ns"),
}


def columns_of(record_type: type[Record]) -> tuple[str, ...]:
    """Column names of a record type's table, in order."""
    return record_type.__struct_fields__


class BacktestRun(msgspec.Struct, frozen=True, kw_only=True):
    """A backtest run. ``run_id`` is the config hash plus data range (the run's identity).

    ``metrics`` (e.g. ``{"pnl_usd": ..., "sharpe": ...}``) is None until the run finished.
    """

    run_id: str
    created_ns: int
    strategy: str
    config_json: str
    data_start_ns: int
    data_end_ns: int
    study_name: str | None = None
    finished_ns: int | None = None
    metrics: dict[str, float] | None = None


class SweepStudy(msgspec.Struct, frozen=True, kw_only=True):
    """An Optuna sweep study: its search-space config and best run once known."""

    study_name: str
    created_ns: int
    config_json: str
    direction: str = "maximize"
    best_run_id: str | None = None
    best_value: float | None = None


# -- Record construction from domain entities ---------------------------------------------------------


def side_code(side: Side | None) -> int:
    """Side → stored int: +1 buy, -1 sell, 0 unknown."""
    return 0 if side is None else side.sign


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def synthetic_trade_id(instrument_name: str, ts_ns: int, price: float, amount: float, side: int, seq: int) -> str:
    """Deterministic id for a trade the venue sent without one (Thalex ``recent_trades``, some Tardis rows).

    ``"syn-"`` + the first 20 bytes of BLAKE2b over ``instrument|ts_ns|repr(price)|repr(amount)|side|seq``,
    hex. ``seq`` (0-based position among trades of that instrument with the same ``ts_ns``, in source order)
    keeps two equal trades in one nanosecond apart; the same source replayed yields the same ids.
    """
    text = f"{instrument_name}|{ts_ns}|{price!r}|{amount!r}|{side}|{seq}"
    return "syn-" + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


class TradeSequencer:
    """Assigns ``seq`` (and synthetic ids) to trades as they arrive, per instrument, in arrival order.

    Trades with the same ``ts_ns`` as the previous trade of that instrument get 1, 2, ...; a new ``ts_ns``
    restarts at 0. Deterministic for a given arrival order.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def next_seq(self, instrument_name: str, ts_ns: int) -> int:
        last = self._last.get(instrument_name)
        seq = last[1] + 1 if last is not None and last[0] == ts_ns else 0
        self._last[instrument_name] = (ts_ns, seq)
        return seq

    def record(self, trade: Trade) -> TradeRecord:
        """A :class:`Trade` → its stored record (synthetic id when ``trade_id`` is None)."""
        seq = self.next_seq(trade.instrument_name, trade.ts_exchange_ns)
        side = side_code(trade.taker_side)
        trade_id = trade.trade_id or synthetic_trade_id(
            trade.instrument_name, trade.ts_exchange_ns, trade.price, trade.amount, side, seq
        )
        return TradeRecord(
            trade.instrument_name, trade.ts_exchange_ns, seq, trade_id, trade.price, trade.amount, side,
            trade.ts_local_ns,
        )


def quote_record(ticker: Ticker, seq: int = 0) -> QuoteRecord:
    """A :class:`Ticker` → a quote snapshot record (NaN for an empty side).

    A ticker whose ``ts_exchange_ns`` equals its ``ts_local_ns`` came without ``mark_timestamp`` (the codec then
    stamps it with the receive time): it is stored without an exchange time. The funding rate and index are stored
    as sent (NaN when absent): Thalex sends a funding rate on perpetual tickers only.
    """
    exchange_ns = None if ticker.ts_exchange_ns == ticker.ts_local_ns else ticker.ts_exchange_ns
    return QuoteRecord(
        ticker.instrument_name,
        ticker.ts_local_ns if exchange_ns is None else exchange_ns,
        seq,
        _nan_if_none(ticker.best_bid_price),
        _nan_if_none(ticker.best_bid_amount),
        _nan_if_none(ticker.best_ask_price),
        _nan_if_none(ticker.best_ask_amount),
        ticker.mark_price,
        ticker.ts_local_ns,
        exchange_ns,
        _nan_if_none(ticker.funding_rate),
        _nan_if_none(ticker.index),
    )


def order_record(update: OrderUpdate, source: str) -> OrderRecord:
    """An :class:`OrderUpdate` of the session ``source`` → an order-log record (price NaN for market orders)."""
    return OrderRecord(
        update.order_id,
        update.ts_exchange_ns,
        update.change_reason.value,
        update.status.value,
        update.client_order_id,
        update.instrument_name,
        update.side.sign,
        _nan_if_none(update.price),
        update.amount,
        update.filled_amount,
        update.ts_local_ns,
        update.label or "",
        source,
    )


def fill_record(fill: Fill, source: str) -> FillRecord:
    """A :class:`Fill` of the session ``source`` → a fill record (``order_id`` empty when unknown)."""
    return FillRecord(
        fill.trade_id,
        fill.ts_exchange_ns,
        fill.order_id or "",
        fill.client_order_id,
        fill.instrument_name,
        fill.side.sign,
        fill.price,
        fill.amount,
        fill.maker_taker.value,
        fill.fee,
        fill.ts_local_ns,
        source,
    )


def position_record(source: str, position: Position, ts_ns: int, mark_price: float) -> PositionRecord:
    """A :class:`Position` at ``ts_ns`` valued at ``mark_price`` (USD) → a snapshot record."""
    return PositionRecord(
        source,
        position.instrument_name,
        ts_ns,
        position.position,
        position.average_price,
        position.realised_pnl,
        position.unrealised_pnl(mark_price),
        mark_price,
    )


def ohlcv_from_trades(trades: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """Reference 1-minute OHLCV of ``TRADE_DTYPE`` rows already ordered by (ts_ns, seq). Pure numpy.

    The stores maintain the same bars in SQL; tests compare the two.
    """
    if len(trades) == 0:
        return np.zeros(0, dtype=OHLCV_DTYPE)
    minute = trades["ts_ns"] // NANOS_PER_MINUTE * NANOS_PER_MINUTE
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], len(trades)]
    bars = np.zeros(len(starts), dtype=OHLCV_DTYPE)
    bars["ts_ns"] = minute[starts]
    bars["open"] = trades["price"][starts]
    bars["close"] = trades["price"][ends - 1]
    bars["high"] = np.maximum.reduceat(trades["price"], starts)
    bars["low"] = np.minimum.reduceat(trades["price"], starts)
    bars["volume"] = np.add.reduceat(trades["amount"], starts)
    bars["trades"] = ends - starts
    return bars


# -- The port -----------------------------------------------------------------------------------------------


class Storage(Protocol):
    """What the platform needs from a store. Implemented by the PostgreSQL/TimescaleDB and embedded adapters.

    ============================  ================================================================
    method                        contract
    ============================  ================================================================
    ``open()``                    connect and apply pending migrations (idempotent)
    ``close()``                   release connections; later calls raise :class:`StorageUnavailable`
    ``migrate()``                 apply pending migrations, return the versions applied now
    ``write(records)``            insert any mix of records, ignoring rows already stored; returns rows added
    ``read_trades/quotes``        [start_ns, end_ns) of one instrument, ordered by (ts_ns, seq); quotes by the
                                  exchange clock unless ``clock="local"``
    ``read_feed_delays``          receive minus exchange time (ns) of up to 10,000 quotes in range with both clocks
    ``read_ohlcv_1m``             bars whose minute start is in [start_ns, end_ns)
    ``read_candles_1m``           venue candles of (source, name) with minute start in [start_ns, end_ns)
    ``read_candle_fetches``       backfill chunks of (source, name) fetched once past, starting in [start_ns, end_ns)
    ``read_orders/read_fills``    a session's order log / fills of one instrument with ts_ns in [start_ns, end_ns),
                                  as records, oldest first, or newest first; at most ``limit`` (None: all)
    ``read_positions``            a session's position snapshots of one instrument, likewise
    ``read_equity``               equity snapshots of one source, likewise
    ``count(table)``              rows in a table
    ``instruments(table)``        instrument names present in trades / quotes / ohlcv_1m
    ``span(table, instrument)``   (min ts_ns, max ts_ns) of an instrument in trades / quotes / ohlcv_1m, or None
    ``save_run/get_run``          upsert / fetch a :class:`BacktestRun` by ``run_id``
    ``save_study/get_study``      upsert / fetch a :class:`SweepStudy` by ``study_name``
    ============================  ================================================================

    Connection failures raise :class:`StorageUnavailable`; other failures :class:`StorageError`.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def migrate(self) -> list[int]: ...

    async def write(self, records: Sequence[Record]) -> int: ...

    async def read_trades(self, instrument_name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.void]: ...

    async def read_quotes(
        self, instrument_name: str, start_ns: int, end_ns: int, clock: QuoteClock = "exchange"
    ) -> npt.NDArray[np.void]: ...

    async def read_feed_delays(self, instrument_name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.int64]: ...

    async def read_ohlcv_1m(self, instrument_name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.void]: ...

    async def read_candles_1m(self, source: str, name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.void]: ...

    async def read_candle_fetches(
        self, source: str, name: str, start_ns: int, end_ns: int
    ) -> npt.NDArray[np.void]: ...

    async def read_orders(
        self, source: str, instrument_name: str, start_ns: int, end_ns: int, *, limit: int | None = None,
        newest_first: bool = False,
    ) -> list[OrderRecord]: ...

    async def read_fills(
        self, source: str, instrument_name: str, start_ns: int, end_ns: int, *, limit: int | None = None,
        newest_first: bool = False,
    ) -> list[FillRecord]: ...

    async def read_positions(
        self, source: str, instrument_name: str, start_ns: int, end_ns: int, *, limit: int | None = None,
        newest_first: bool = False,
    ) -> list[PositionRecord]: ...

    async def read_equity(
        self, source: str, start_ns: int, end_ns: int, *, limit: int | None = None, newest_first: bool = False
    ) -> list[EquityRecord]: ...

    async def count(self, table: str) -> int: ...

    async def instruments(self, table: str) -> list[str]: ...

    async def span(self, table: str, instrument_name: str) -> tuple[int, int] | None: ...

    async def save_run(self, run: BacktestRun) -> None: ...

    async def get_run(self, run_id: str) -> BacktestRun | None: ...

    async def save_study(self, study: SweepStudy) -> None: ...

    async def get_study(self, study_name: str) -> SweepStudy | None: ...


def group_by_table(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Split a mixed batch by destination table, keeping order within each table."""
    groups: dict[str, list[Record]] = {}
    for record in records:
        table = TABLE_OF.get(type(record))
        if table is None:
            raise InvalidValue(f"Storage.write: record must be one of {[t.__name__ for t in RECORD_TYPES]}, "
                               f"was {type(record).__name__}")
        groups.setdefault(table, []).append(record)
    return groups


def check_range(where: str, start_ns: int, end_ns: int) -> None:
    """Refuse an inverted time range, naming both bounds."""
    if end_ns < start_ns:
        raise InvalidValue(f"{where}: end_ns must be >= start_ns {start_ns}, was {end_ns}")


def check_limit(where: str, limit: int | None) -> None:
    """Refuse a row limit that is not a positive int (None: no limit), naming the value."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise InvalidValue(f"{where}: limit must be a positive int or None, was {limit!r}")


def check_candle_source(where: str, source: str) -> None:
    """Refuse a candle source outside :data:`CANDLE_SOURCES`, naming the value."""
    if source not in CANDLE_SOURCES:
        raise InvalidValue(f"{where}: source must be one of {list(CANDLE_SOURCES)}, was {source!r}")


READABLE_TABLES: Final = ("trades", "quotes", "ohlcv_1m")
ALL_TABLES: Final = (*TABLE_OF.values(), "ohlcv_1m", "backtest_runs", "sweep_studies")

__all__ = [
    "ALL_TABLES",
    "CANDLE_DTYPE",
    "CANDLE_SOURCES",
    "NANOS_PER_MINUTE",
    "OHLCV_DTYPE",
    "QUOTE_CLOCKS",
    "QUOTE_DTYPE",
    "READABLE_TABLES",
    "RECORD_TYPES",
    "TABLE_OF",
    "TRADE_DTYPE",
    "BacktestRun",
    "CandleRecord",
    "EquityRecord",
    "FillRecord",
    "OrderRecord",
    "PositionRecord",
    "QuoteClock",
    "QuoteRecord",
    "Record",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "SweepStudy",
    "TradeRecord",
    "TradeSequencer",
    "check_candle_source",
    "check_limit",
    "check_range",
    "columns_of",
    "fill_record",
    "group_by_table",
    "ohlcv_from_trades",
    "order_record",
    "position_record",
    "quote_record",
    "side_code",
    "synthetic_trade_id",
]

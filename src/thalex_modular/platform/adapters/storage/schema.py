"""Table definitions shared by the PostgreSQL and embedded (DuckDB) adapters, and the SQL both run.

Column names and order match the record Structs in :mod:`thalex_modular.platform.domain.storage`.
The SQL here is the dialect subset PostgreSQL and DuckDB share (``x - x % n`` instead of integer division,
``(array_agg(... ORDER BY ...))[1]`` instead of first/last), so both stores run the same statements.
"""

from __future__ import annotations

import zlib
from typing import Final

from thalex_modular.platform.domain.storage import KEY_OF, NANOS_PER_MINUTE

_D: Final = "DOUBLE PRECISION NOT NULL"
_B: Final = "BIGINT NOT NULL"
_T: Final = "TEXT NOT NULL"
#: Floats that may be NaN ("unknown"): nullable, because DuckDB turns a numpy NaN into NULL; reads map NULL → NaN.
_N: Final = "DOUBLE PRECISION"
_NAN: Final = "CAST('NaN' AS DOUBLE PRECISION)"
NULLABLE_FLOAT: Final = _N
NOT_NULL_FLOAT: Final = _D
NAN_SQL: Final = _NAN
#: The session that wrote an order or fill (migration 6 added it; older rows have '').
_SOURCE: Final = "TEXT NOT NULL DEFAULT ''"

#: table -> [(column, SQL type)], in record field order.
COLUMNS: Final[dict[str, list[tuple[str, str]]]] = {
    "trades": [
        ("instrument_name", _T), ("ts_ns", _B), ("seq", "INTEGER NOT NULL"), ("trade_id", _T),
        ("price", _D), ("amount", _D), ("side", "SMALLINT NOT NULL"), ("ts_local_ns", _B),
    ],
    "quotes": [
        ("instrument_name", _T), ("ts_ns", _B), ("seq", "INTEGER NOT NULL"), ("bid_price", _N),
        ("bid_amount", _N), ("ask_price", _N), ("ask_amount", _N), ("mark_price", _N), ("ts_local_ns", _B),
        ("ts_exchange_ns", "BIGINT"), ("snapshot_id", _B), ("funding_rate_24h", _N), ("index_price", _N),
    ],
    "orders": [
        ("order_id", _T), ("ts_ns", _B), ("change_reason", _T), ("status", _T), ("client_order_id", "BIGINT"),
        ("instrument_name", _T), ("side", "SMALLINT NOT NULL"), ("price", _D), ("amount", _D),
        ("filled_amount", _D), ("ts_local_ns", _B), ("label", _T), ("source", _SOURCE),
    ],
    "fills": [
        ("trade_id", _T), ("ts_ns", _B), ("order_id", _T), ("client_order_id", "BIGINT"), ("instrument_name", _T),
        ("side", "SMALLINT NOT NULL"), ("price", _D), ("amount", _D), ("maker_taker", _T), ("fee", _D),
        ("ts_local_ns", _B), ("source", _SOURCE),
    ],
    "positions": [
        ("source", _T), ("instrument_name", _T), ("ts_ns", _B), ("position", _D), ("average_price", _N),
        ("realised_pnl", _N), ("unrealised_pnl", _N), ("mark_price", _N),
    ],
    "equity": [("source", _T), ("ts_ns", _B), ("equity", _D), ("realised_pnl", _N), ("unrealised_pnl", _N)],
    "ohlcv_1m": [
        ("instrument_name", _T), ("ts_ns", _B), ("open", _D), ("high", _D), ("low", _D), ("close", _D),
        ("volume", _D), ("trades", _B),
    ],
    "candles_1m": [
        ("source", _T), ("name", _T), ("ts_ns", _B), ("open", _D), ("high", _D), ("low", _D), ("close", _D),
    ],
    "candle_fetches": [("source", _T), ("name", _T), ("ts_ns", _B), ("end_ns", _B), ("fetched_ns", _B)],
    "backtest_runs": [
        ("run_id", _T), ("created_ns", _B), ("strategy", _T), ("config_json", _T), ("data_start_ns", _B),
        ("data_end_ns", _B), ("study_name", "TEXT"), ("finished_ns", "BIGINT"), ("metrics_json", "TEXT"),
    ],
    "sweep_studies": [
        ("study_name", _T), ("created_ns", _B), ("config_json", _T), ("direction", _T), ("best_run_id", "TEXT"),
        ("best_value", "DOUBLE PRECISION"),
    ],
}

PRIMARY_KEYS: Final[dict[str, tuple[str, ...]]] = {
    **KEY_OF,
    "ohlcv_1m": ("instrument_name", "ts_ns"),
    "backtest_runs": ("run_id",),
    "sweep_studies": ("study_name",),
}

#: Tables whose rows are time series (partitioned / hypertables on PostgreSQL, BRIN on ts_ns).
TIME_SERIES: Final = ("trades", "quotes", "orders", "fills", "positions", "equity")
#: The large ones: day partitions (native) or hypertable chunks (TimescaleDB).
PARTITIONED: Final = ("trades", "quotes")
NANOS_PER_DAY: Final = 86_400_000_000_000

MIGRATIONS_TABLE_SQL: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns BIGINT NOT NULL)"
)


def column_names(table: str) -> list[str]:
    return [name for name, _ in COLUMNS[table]]


#: ``quotes`` as migration 1 made it (migration 5 added the clock and snapshot id columns and re-keyed it).
QUOTES_V1_COLUMNS: Final = COLUMNS["quotes"][:9]
#: ``quotes`` as migration 5 made it (migration 7 added the funding rate and index columns).
QUOTES_V5_COLUMNS: Final = COLUMNS["quotes"][:11]
QUOTES_V1_KEY: Final = ("instrument_name", "ts_ns", "seq")
#: ``orders`` and ``fills`` as migration 1 made them (migration 6 added ``source``).
V1_COLUMNS: Final = {"quotes": QUOTES_V1_COLUMNS, "orders": COLUMNS["orders"][:-1], "fills": COLUMNS["fills"][:-1]}


def create_table_sql(
    table: str,
    partition_by_ts: bool = False,
    *,
    name: str | None = None,
    columns: list[tuple[str, str]] | None = None,
    key: tuple[str, ...] | None = None,
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` with the natural primary key; optionally range-partitioned on ts_ns.

    ``name``, ``columns``, ``key``: another name, or an earlier version's columns and key (migrations).
    """
    cols = ", ".join(f"{col} {sql_type}" for col, sql_type in (columns or COLUMNS[table]))
    key_sql = ", ".join(key or PRIMARY_KEYS[table])
    tail = " PARTITION BY RANGE (ts_ns)" if partition_by_ts else ""
    return f"CREATE TABLE IF NOT EXISTS {name or table} ({cols}, PRIMARY KEY ({key_sql})){tail}"


def create_v1_table_sql(table: str, partition_by_ts: bool = False) -> str:
    """A table as migration 1 made it (``quotes``, ``orders`` and ``fills`` have changed since)."""
    if table == "quotes":
        return create_table_sql(table, partition_by_ts, columns=QUOTES_V1_COLUMNS, key=QUOTES_V1_KEY)
    return create_table_sql(table, partition_by_ts, columns=V1_COLUMNS.get(table))


def insert_from_sql(table: str, source: str) -> str:
    """Copy rows from ``source`` (a staging table or registered view) into ``table``, skipping known keys."""
    cols = ", ".join(column_names(table))
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} ON CONFLICT DO NOTHING"


def by_instrument(table: str) -> bool:
    """Whether ``table``'s key starts with instrument_name (trades, quotes): its key index serves
    (instrument, time range) lookups."""
    return PRIMARY_KEYS[table][0] == "instrument_name"


def any_within_sql(table: str) -> str:
    """``$1``/``$2``: is any row of ``table`` stamped within [$1, $2] ns? (time-series tables only)

    For a table keyed by instrument first, only rows of the instruments ``$3`` (a text array) count, which the
    key index answers at once; a BRIN scan would read every not yet summarized page, i.e. the freshly appended tail.
    """
    if by_instrument(table):
        return (
            f"SELECT EXISTS (SELECT 1 FROM {table} "
            "WHERE instrument_name = ANY($3::TEXT[]) AND ts_ns >= $1 AND ts_ns <= $2)"
        )
    return f"SELECT EXISTS (SELECT 1 FROM {table} WHERE ts_ns >= $1 AND ts_ns <= $2)"


_BAR_COLUMNS: Final = "INSERT INTO ohlcv_1m (instrument_name, ts_ns, open, high, low, close, volume, trades) "
_BAR_AGGREGATES: Final = (
    "(array_agg(t.price ORDER BY t.ts_ns, t.seq))[1], max(t.price), min(t.price), "
    "(array_agg(t.price ORDER BY t.ts_ns DESC, t.seq DESC))[1], sum(t.amount), count(*) "
)
_BAR_UPSERT: Final = (
    "ON CONFLICT (instrument_name, ts_ns) DO UPDATE SET open = excluded.open, high = excluded.high, "
    "low = excluded.low, close = excluded.close, volume = excluded.volume, trades = excluded.trades"
)


def rollup_sql(source: str) -> str:
    """Recompute the 1m bars of every (instrument, minute) that has a trade in ``source`` from ``trades``.

    Upserts, so rerunning it (a replay) converges to the same bars. Open/close are the first/last trade
    by (ts_ns, seq).
    """
    m = NANOS_PER_MINUTE
    return (
        f"{_BAR_COLUMNS}SELECT t.instrument_name, k.minute_ns, {_BAR_AGGREGATES}"
        f"FROM (SELECT DISTINCT instrument_name, ts_ns - ts_ns % {m} AS minute_ns FROM {source}) k "
        "JOIN trades t ON t.instrument_name = k.instrument_name "
        f"AND t.ts_ns >= k.minute_ns AND t.ts_ns < k.minute_ns + {m} "
        f"GROUP BY t.instrument_name, k.minute_ns {_BAR_UPSERT}"
    )


def _rollup_pairs_sql() -> str:
    m = NANOS_PER_MINUTE
    return (
        f"{_BAR_COLUMNS}SELECT k.instrument_name, k.minute_ns, b.* "
        "FROM unnest($1::TEXT[], $2::BIGINT[]) AS k (instrument_name, minute_ns) CROSS JOIN LATERAL ("
        f"SELECT {_BAR_AGGREGATES}FROM trades t WHERE t.instrument_name = k.instrument_name "
        f"AND t.ts_ns >= k.minute_ns AND t.ts_ns < k.minute_ns + {m} "
        "AND t.ts_ns >= $3::BIGINT AND t.ts_ns < $4::BIGINT "
        f"HAVING count(*) > 0) b {_BAR_UPSERT}"
    )


#: :func:`rollup_sql` on PostgreSQL for the (instrument, minute) pairs given as arrays: ``$1`` instrument names,
#: ``$2`` minute starts, all in [``$3``, ``$4``) ns. Each bar is aggregated in a LATERAL subquery, i.e. one key
#: index range scan per pair: as a plain join, once ``trades`` has statistics, the planner may merge-join on the
#: instrument alone and filter the time ranges afterwards (measured: ~40 s for a 100k-row replay into 1M rows).
#: The constant bounds let it prune partitions at planning.
ROLLUP_PAIRS_SQL: Final = _rollup_pairs_sql()

#: Serialise the writers of an instrument's trades on the native layout (one transaction-scoped advisory lock per
#: key, taken in the array's order, which the caller sorts): each maintains the 1m bars of the minutes it touched
#: from the trades it can see, so a writer must see the other's committed trades before it decides how to roll up.
LOCK_TRADE_WRITERS_SQL: Final = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::BIGINT[]) AS k"
_TRADE_WRITER_LOCK_SPACE: Final = 0x54484D42  # "THMB": keeps these keys apart from other advisory locks


def trade_writer_lock_keys(instrument_names: set[str]) -> list[int]:
    """The advisory lock keys of ``LOCK_TRADE_WRITERS_SQL`` for these instruments, in ascending order (two writers
    always take shared keys in the same order: no deadlock)."""
    return sorted({(_TRADE_WRITER_LOCK_SPACE << 32) | zlib.crc32(name.encode()) for name in instrument_names})


#: Upsert bars computed elsewhere (``bars.batch_bars``), one array parameter per column in ohlcv_1m order.
UPSERT_BARS_SQL: Final = (
    f"{_BAR_COLUMNS}SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::DOUBLE PRECISION[], "
    "$4::DOUBLE PRECISION[], $5::DOUBLE PRECISION[], $6::DOUBLE PRECISION[], $7::DOUBLE PRECISION[], "
    f"$8::BIGINT[]) {_BAR_UPSERT}"
)


# -- Reads (identical on both stores; ohlcv_1m is a table or a continuous aggregate) --------------------

READ_TRADES_SQL: Final = (
    "SELECT ts_ns, price, amount, side, ts_local_ns AS local_ns FROM trades "
    "WHERE instrument_name = $1 AND ts_ns >= $2 AND ts_ns < $3 ORDER BY ts_ns, seq"
)
_QUOTE_VALUES: Final = ", ".join(
    f"coalesce({c}, {_NAN}) AS {c}"
    for c in ("bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price", "funding_rate_24h", "index_price")
)
#: Quotes by the exchange clock: ``ts_ns`` is the exchange time of every row that has one (the key index serves it).
READ_QUOTES_SQL: Final = (
    f"SELECT ts_ns, {_QUOTE_VALUES}, ts_local_ns AS local_ns FROM quotes "
    "WHERE instrument_name = $1 AND ts_ns >= $2 AND ts_ns < $3 AND ts_exchange_ns IS NOT NULL "
    "ORDER BY ts_ns, seq, snapshot_id"
)
#: Quotes by our receive clock, every row (no index on it: the instrument's rows are scanned).
READ_QUOTES_LOCAL_SQL: Final = (
    f"SELECT ts_local_ns AS ts_ns, {_QUOTE_VALUES}, ts_local_ns AS local_ns FROM quotes "
    "WHERE instrument_name = $1 AND ts_local_ns >= $2 AND ts_local_ns < $3 ORDER BY ts_local_ns, seq, snapshot_id"
)
#: Feed delays of quotes that carry both clocks (receive time - exchange time, ns), oldest first, at most 10,000.
READ_FEED_DELAYS_SQL: Final = (
    "SELECT ts_local_ns - ts_exchange_ns AS delay_ns FROM quotes "
    "WHERE instrument_name = $1 AND ts_ns >= $2 AND ts_ns < $3 AND ts_exchange_ns IS NOT NULL "
    "ORDER BY ts_ns, seq, snapshot_id LIMIT 10000"
)
READ_OHLCV_SQL: Final = (
    "SELECT ts_ns, open, high, low, close, volume, trades FROM ohlcv_1m "
    "WHERE instrument_name = $1 AND ts_ns >= $2 AND ts_ns < $3 ORDER BY ts_ns"
)


def read_candles_sql(source: str) -> str:
    """``$1`` name, ``$2``/``$3`` [start_ns, end_ns) of ``candles_1m`` rows of one source (a checked literal:
    :func:`~thalex_modular.platform.domain.storage.check_candle_source` runs first)."""
    return (
        "SELECT ts_ns, open, high, low, close FROM candles_1m "
        f"WHERE source = '{source}' AND name = $1 AND ts_ns >= $2 AND ts_ns < $3 ORDER BY ts_ns"
    )


def read_candle_fetches_sql(source: str) -> str:
    """``$1`` name, ``$2``/``$3`` [start_ns, end_ns) of chunk starts in ``candle_fetches`` of one source (a checked
    literal, as in :func:`read_candles_sql`)."""
    return (
        "SELECT ts_ns, end_ns, fetched_ns FROM candle_fetches "
        f"WHERE source = '{source}' AND name = $1 AND ts_ns >= $2 AND ts_ns < $3 ORDER BY ts_ns"
    )


UPSERT_RUN_SQL: Final = (
    "INSERT INTO backtest_runs (run_id, created_ns, strategy, config_json, data_start_ns, data_end_ns, "
    "study_name, finished_ns, metrics_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (run_id) DO UPDATE SET finished_ns = excluded.finished_ns, metrics_json = excluded.metrics_json, "
    "study_name = excluded.study_name"
)
UPSERT_STUDY_SQL: Final = (
    "INSERT INTO sweep_studies (study_name, created_ns, config_json, direction, best_run_id, best_value) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (study_name) DO UPDATE SET best_run_id = excluded.best_run_id, "
    "best_value = excluded.best_value"
)
SELECT_RUN_SQL: Final = (
    "SELECT run_id, created_ns, strategy, config_json, data_start_ns, data_end_ns, study_name, finished_ns, "
    "metrics_json FROM backtest_runs WHERE run_id = $1"
)
SELECT_STUDY_SQL: Final = (
    "SELECT study_name, created_ns, config_json, direction, best_run_id, best_value FROM sweep_studies "
    "WHERE study_name = $1"
)

"""Table definitions shared by the PostgreSQL and embedded (DuckDB) adapters, and the SQL both run.

Column names and order match the record Structs in :mod:`thalex_modular.platform.domain.storage`.
The SQL here is the dialect subset PostgreSQL and DuckDB share (``x - x % n`` instead of integer division,
``(array_agg(... ORDER BY ...))[1]`` instead of first/last), so both stores run the same statements.
"""

from __future__ import annotations

from typing import Final

from thalex_modular.platform.domain.storage import KEY_OF, NANOS_PER_MINUTE

_D: Final = "DOUBLE PRECISION NOT NULL"
_B: Final = "BIGINT NOT NULL"
_T: Final = "TEXT NOT NULL"
#: Floats that may be NaN ("unknown"): nullable, because DuckDB turns a numpy NaN into NULL; reads map NULL → NaN.
_N: Final = "DOUBLE PRECISION"
_NAN: Final = "CAST('NaN' AS DOUBLE PRECISION)"

#: table -> [(column, SQL type)], in record field order.
COLUMNS: Final[dict[str, list[tuple[str, str]]]] = {
    "trades": [
        ("instrument_name", _T), ("ts_ns", _B), ("seq", "INTEGER NOT NULL"), ("trade_id", _T),
        ("price", _D), ("amount", _D), ("side", "SMALLINT NOT NULL"), ("ts_local_ns", _B),
    ],
    "quotes": [
        ("instrument_name", _T), ("ts_ns", _B), ("seq", "INTEGER NOT NULL"), ("bid_price", _N),
        ("bid_amount", _N), ("ask_price", _N), ("ask_amount", _N), ("mark_price", _N), ("ts_local_ns", _B),
    ],
    "orders": [
        ("order_id", _T), ("ts_ns", _B), ("change_reason", _T), ("status", _T), ("client_order_id", "BIGINT"),
        ("instrument_name", _T), ("side", "SMALLINT NOT NULL"), ("price", _D), ("amount", _D),
        ("filled_amount", _D), ("ts_local_ns", _B), ("label", _T),
    ],
    "fills": [
        ("trade_id", _T), ("ts_ns", _B), ("order_id", _T), ("client_order_id", "BIGINT"), ("instrument_name", _T),
        ("side", "SMALLINT NOT NULL"), ("price", _D), ("amount", _D), ("maker_taker", _T), ("fee", _D),
        ("ts_local_ns", _B),
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


def create_table_sql(table: str, partition_by_ts: bool = False) -> str:
    """``CREATE TABLE IF NOT EXISTS`` with the natural primary key; optionally range-partitioned on ts_ns."""
    cols = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS[table])
    key = ", ".join(PRIMARY_KEYS[table])
    tail = " PARTITION BY RANGE (ts_ns)" if partition_by_ts else ""
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols}, PRIMARY KEY ({key})){tail}"


def insert_from_sql(table: str, source: str, idempotent: bool = True) -> str:
    """Copy rows from ``source`` (a staging table or registered view) into ``table``; ``idempotent`` skips known
    keys (ON CONFLICT DO NOTHING), otherwise a known key fails the statement."""
    cols = ", ".join(column_names(table))
    conflict = " ON CONFLICT DO NOTHING" if idempotent else ""
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}{conflict}"


def any_within_sql(table: str) -> str:
    """``$1``/``$2``: is any row of ``table`` stamped within [$1, $2] ns? (time-series tables only)"""
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


def rollup_append_sql(source: str) -> str:
    """:func:`rollup_sql` for a batch appended where ``trades`` held nothing within its [$1, $2] ns.

    Every trade of a touched minute is then either in ``source`` or stored outside [$1, $2], which only the
    first and the last minute can hold; so the bars are built from ``source`` plus those two minutes' stored
    trades, without reading the interior minutes back.
    """
    m = NANOS_PER_MINUTE
    lo, hi = "$1::BIGINT", "$2::BIGINT"
    return (
        f"{_BAR_COLUMNS}SELECT t.instrument_name, t.ts_ns - t.ts_ns % {m} AS minute_ns, {_BAR_AGGREGATES}"
        f"FROM (SELECT instrument_name, ts_ns, seq, price, amount FROM {source} UNION ALL "
        "SELECT s.instrument_name, s.ts_ns, s.seq, s.price, s.amount FROM trades s "
        f"WHERE s.instrument_name IN (SELECT DISTINCT instrument_name FROM {source}) AND ("
        f"(s.ts_ns >= {lo} - {lo} % {m} AND s.ts_ns < {lo}) OR (s.ts_ns > {hi} AND s.ts_ns < {hi} - {hi} % {m} + {m}))"
        f") t GROUP BY t.instrument_name, minute_ns {_BAR_UPSERT}"
    )


# -- Reads (identical on both stores; ohlcv_1m is a table or a continuous aggregate) --------------------

READ_TRADES_SQL: Final = (
    "SELECT ts_ns, price, amount, side FROM trades WHERE instrument_name = $1 AND ts_ns >= $2 AND ts_ns < $3 "
    "ORDER BY ts_ns, seq"
)
READ_QUOTES_SQL: Final = (
    "SELECT ts_ns, "
    + ", ".join(f"coalesce({c}, {_NAN}) AS {c}" for c in ("bid_price", "bid_amount", "ask_price", "ask_amount",
                                                          "mark_price"))
    + " FROM quotes "
    "WHERE instrument_name = $1 AND ts_ns >= $2 AND ts_ns < $3 ORDER BY ts_ns, seq"
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

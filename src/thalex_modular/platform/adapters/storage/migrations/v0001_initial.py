"""Migration 1: every table (trades, quotes, 1m OHLCV, orders, fills, positions, equity, backtest runs,
sweep studies) and the store's time layout (``storage_meta.time_layout`` = ``timescale`` | ``native`` | ``embedded``).
"""

from __future__ import annotations

from ..schema import NANOS_PER_DAY, PARTITIONED, TIME_SERIES, create_table_sql, create_v1_table_sql

_META_SQL = "CREATE TABLE IF NOT EXISTS storage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_OTHER_TABLES = ("orders", "fills", "positions", "equity", "backtest_runs", "sweep_studies")


def _layout(value: str) -> str:
    return f"INSERT INTO storage_meta (key, value) VALUES ('time_layout', '{value}') ON CONFLICT DO NOTHING"


def timescale_sql() -> list[str]:
    """TimescaleDB layout: hypertables on integer ns time (1-day chunks) and a real-time continuous aggregate.

    Not run in this repository's CI (the extension is not installable there); unit tests check the SQL.
    TimescaleDB's first()/last() order by ts_ns only, so trades sharing a nanosecond may open/close a bar
    in either order (the native layout breaks ties by seq).
    """
    minute = 60_000_000_000
    statements = [create_v1_table_sql(table) for table in PARTITIONED]
    statements.append(
        "CREATE OR REPLACE FUNCTION unix_now_ns() RETURNS BIGINT LANGUAGE SQL STABLE AS "
        "$$ SELECT (extract(epoch FROM now()) * 1000000000)::BIGINT $$"
    )
    for table in PARTITIONED:
        statements.append(
            f"SELECT create_hypertable('{table}', 'ts_ns', chunk_time_interval => {NANOS_PER_DAY}::BIGINT, "
            "if_not_exists => TRUE)"
        )
        statements.append(f"SELECT set_integer_now_func('{table}', 'unix_now_ns', replace_if_exists => TRUE)")
    statements.append(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1m "
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
        f"SELECT instrument_name, time_bucket({minute}::BIGINT, ts_ns) AS ts_ns, first(price, ts_ns) AS open, "
        "max(price) AS high, min(price) AS low, last(price, ts_ns) AS close, sum(amount) AS volume, "
        f"count(*) AS trades FROM trades GROUP BY instrument_name, time_bucket({minute}::BIGINT, ts_ns) "
        "WITH NO DATA"
    )
    statements.append(
        f"SELECT add_continuous_aggregate_policy('ohlcv_1m', start_offset => {7 * NANOS_PER_DAY}::BIGINT, "
        f"end_offset => {minute}::BIGINT, schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE)"
    )
    statements.append(_layout("timescale"))
    return statements


def native_sql() -> list[str]:
    """Plain PostgreSQL: day range partitions on ts_ns (created on demand), BRIN on ts_ns, a rollup table."""
    statements = [create_v1_table_sql(table, partition_by_ts=True) for table in PARTITIONED]
    statements.append(create_table_sql("ohlcv_1m"))
    statements.append(_layout("native"))
    return statements


def postgres(timescale: bool) -> list[str]:
    statements = [_META_SQL, *(timescale_sql() if timescale else native_sql())]
    statements += [create_v1_table_sql(table) for table in _OTHER_TABLES]
    statements += [f"CREATE INDEX IF NOT EXISTS {t}_ts_brin ON {t} USING brin (ts_ns)" for t in TIME_SERIES]
    return statements


def embedded() -> list[str]:
    """DuckDB: plain tables (its zone maps serve time ranges), a rollup table maintained like native PG."""
    tables = (*PARTITIONED, "ohlcv_1m", *_OTHER_TABLES)
    return [_META_SQL, *(create_v1_table_sql(table) for table in tables), _layout("embedded")]

"""Migration 2: ``candles_1m``, the venue's 1m mark / index candles fetched by ``platform data backfill``.

Keyed by (source, name, ts_ns), so a re-fetched chunk adds nothing. A plain table on every layout (it is small:
1440 rows per name and day), with a BRIN index on ts_ns on PostgreSQL.
"""

from __future__ import annotations

from ..schema import create_table_sql


def postgres(timescale: bool) -> list[str]:
    """The same on TimescaleDB and plain PostgreSQL (``timescale`` is unused: not a hypertable)."""
    return [
        create_table_sql("candles_1m"),
        "CREATE INDEX IF NOT EXISTS candles_1m_ts_brin ON candles_1m USING brin (ts_ns)",
    ]


def embedded() -> list[str]:
    return [create_table_sql("candles_1m")]

"""Migration 6: orders and fills say which session wrote them (``source``), and PostgreSQL can read them back by it.

Live and shadow sessions are persisted (the Persistence actor): a shadow session's simulated orders and fills must not
show as a live session's (positions and equity carried ``source`` from the start). Rows from before get ``''``.
PostgreSQL gets an index (source, instrument_name, ts_ns) on each table, which serves the API's "recent orders /
fills of an instrument" (newest first, a limit); the embedded store reads them by scanning (DuckDB's indexes do not
serve an ordered top-N, its zone maps and a columnar scan do).
"""

from __future__ import annotations

_TABLES = ("orders", "fills")


def postgres(timescale: bool) -> list[str]:
    """The same on TimescaleDB and plain PostgreSQL (neither table is a hypertable nor partitioned)."""
    statements = [f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS source TEXT NOT NULL DEFAULT ''" for t in _TABLES]
    statements += [
        f"CREATE INDEX IF NOT EXISTS {t}_source_instrument_ts ON {t} (source, instrument_name, ts_ns)" for t in _TABLES
    ]
    return statements


def embedded() -> list[str]:
    """DuckDB cannot add a NOT NULL column with IF NOT EXISTS: added nullable with its default, then constrained."""
    statements: list[str] = []
    for table in _TABLES:
        statements += [
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS source TEXT DEFAULT ''",
            f"ALTER TABLE {table} ALTER COLUMN source SET NOT NULL",
        ]
    return statements

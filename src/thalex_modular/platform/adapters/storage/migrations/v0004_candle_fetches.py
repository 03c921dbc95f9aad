"""Migration 4: ``candle_fetches``, the backfill chunks asked for once all their minutes were past.

A chunk the venue has no (or partial) data for is never complete in ``candles_1m``; its row here stops
``platform data backfill`` from asking again on every run. Keyed by (source, name, ts_ns = chunk start); small.
"""

from __future__ import annotations

from ..schema import create_table_sql


def postgres(timescale: bool) -> list[str]:
    """The same on TimescaleDB and plain PostgreSQL (``timescale`` is unused: not a hypertable)."""
    return [create_table_sql("candle_fetches")]


def embedded() -> list[str]:
    return [create_table_sql("candle_fetches")]

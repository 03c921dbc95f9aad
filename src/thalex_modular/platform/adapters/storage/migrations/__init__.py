"""Versioned, idempotent schema migrations for both stores.

A migration is a version number, a name, and the statements each store runs. Applied versions are recorded
in ``schema_migrations`` (version, name, applied_ns); a store applies only the versions it lacks, in order,
in one transaction, so running migrations again changes nothing. Statements also use
``IF NOT EXISTS`` so a half-applied migration (crash between DDL and bookkeeping) can be rerun.

The PostgreSQL statements depend on whether the server has TimescaleDB: with the ``timescaledb``
extension, ``trades`` and ``quotes`` become hypertables and ``ohlcv_1m`` a continuous aggregate;
without it, they are declaratively range-partitioned by day on ``ts_ns`` (partitions created on
demand by the writer), and ``ohlcv_1m`` is a table the writer upserts for the minutes a batch touched.
The other time-series tables have BRIN indexes on ts_ns (``trades`` and ``quotes`` had them until migration 3:
their key index serves every query). Reads are the same SQL either way. The layout is chosen once, when the store
is created, and read from ``storage_meta`` by every later migration (:mod:`..pg_migrate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import (
    v0001_initial,
    v0002_candles,
    v0003_key_served_market_data,
    v0004_candle_fetches,
    v0005_quote_identity,
    v0006_session_source,
    v0007_quote_funding,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    #: PostgreSQL statements, given whether the timescaledb extension is usable.
    postgres: Callable[[bool], list[str]]
    #: Embedded (DuckDB) statements.
    embedded: Callable[[], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", v0001_initial.postgres, v0001_initial.embedded),
    Migration(2, "candles_1m", v0002_candles.postgres, v0002_candles.embedded),
    Migration(
        3, "key_served_market_data", v0003_key_served_market_data.postgres, v0003_key_served_market_data.embedded
    ),
    Migration(4, "candle_fetches", v0004_candle_fetches.postgres, v0004_candle_fetches.embedded),
    Migration(5, "quote_identity", v0005_quote_identity.postgres, v0005_quote_identity.embedded),
    Migration(6, "session_source", v0006_session_source.postgres, v0006_session_source.embedded),
    Migration(7, "quote_funding", v0007_quote_funding.postgres, v0007_quote_funding.embedded),
)


def pending(applied: set[int]) -> list[Migration]:
    """Migrations not yet applied, in version order."""
    return sorted((m for m in MIGRATIONS if m.version not in applied), key=lambda m: m.version)


__all__ = ["MIGRATIONS", "Migration", "pending"]

"""Migration 7: a quote snapshot carries the perpetual's funding rate and the index, so backtests can book funding.

``funding_rate_24h`` is the funding rate in the emulator's convention (``emulator/engine/funding.py``): per 24 h, a
fraction of the index, positive when longs pay (Thalex Ticker ``funding_rate``); ``index_price`` the index in USD
(Ticker ``index``). Both nullable: rows stored before, and instruments without funding, have NULL (read as NaN).
Neither takes part in the key: the snapshot id still hashes the book top and mark only.
"""

from __future__ import annotations

_COLUMNS = ("funding_rate_24h", "index_price")


def postgres(timescale: bool) -> list[str]:
    """The same on TimescaleDB and plain PostgreSQL (a column added to a partitioned parent or a hypertable reaches
    every partition / chunk)."""
    return [f"ALTER TABLE quotes ADD COLUMN IF NOT EXISTS {c} DOUBLE PRECISION" for c in _COLUMNS]


def embedded() -> list[str]:
    return [f"ALTER TABLE quotes ADD COLUMN IF NOT EXISTS {c} DOUBLE" for c in _COLUMNS]

"""Storage benchmark: ingest rate and 1M-trade range read, for the embedded store and PostgreSQL.

Prints machine-readable figures on stdout (``<adapter>_ingest_rows_per_s=…``, ``<adapter>_range_read_1m_rows_s=…``;
the PostgreSQL ones are ``pg_…``), progress on stderr. PostgreSQL runs in a throwaway schema, dropped at the end;
it is skipped (with a message) when the server is unreachable. Targets: pg ingest >= 200,000 rows/s (COPY),
range read of 1M trades into numpy <= 1 s on both adapters.

Usage: python benchmarks/storage.py [--rows N] [--batch N] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import numpy as np

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage
from thalex_modular.platform.domain.storage import TradeRecord

T0 = 1_700_000_000 * 10**9


def make_trades(n: int) -> list[TradeRecord]:
    rng = np.random.default_rng(42)
    ts = (T0 + np.cumsum(rng.integers(1, 500_000_000, n))).tolist()
    price = np.round(100_000 + np.cumsum(rng.normal(0, 5, n)), 1).tolist()
    amount = (rng.integers(1, 5_000, n) / 1_000).tolist()
    side = rng.choice([-1, 1], n).tolist()
    return [TradeRecord("BTC-PERPETUAL", ts[i], 0, str(i), price[i], amount[i], side[i], ts[i]) for i in range(n)]


async def bench(name: str, store: EmbeddedStorage | PostgresStorage, trades: list[TradeRecord], batch: int) -> None:
    await store.open()
    t = time.perf_counter()
    for i in range(0, len(trades), batch):
        await store.write(trades[i : i + batch])
        print(f"\r{name}: ingested {min(i + batch, len(trades)):,}", end="", file=sys.stderr, flush=True)
    ingest_s = time.perf_counter() - t
    print(file=sys.stderr)
    await store.analyze()  # what autovacuum / a bulk import does after loading
    t = time.perf_counter()
    got = await store.read_trades("BTC-PERPETUAL", 0, 2**62)
    read_s = time.perf_counter() - t
    assert len(got) == len(trades), (len(got), len(trades))
    await store.close()
    print(f"{name}_ingest_rows_per_s={len(trades) / ingest_s:.0f}")
    print(f"{name}_range_read_1m_rows_s={read_s * 1_000_000 / len(trades):.3f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="records per write (one COPY / transaction)")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"generating {args.rows:,} trades", file=sys.stderr)
    trades = make_trades(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        await bench("embedded", EmbeddedStorage(Path(tmp) / "bench.duckdb"), trades, args.batch)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(args.dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL unreachable ({exc!r}): pg figures skipped", file=sys.stderr)
        return
    try:
        await bench("pg", PostgresStorage(args.dsn, schema_name=schema), trades, args.batch)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())

"""Session persistence costs: the tick path's journal appends, the shipper's batch conversion, and the persistence
service's acknowledged throughput into the embedded store (in process, no Ray).

Prints:
* ``shipper_order_append_ns``, ``shipper_fill_append_ns``, ``shipper_ticker_append_ns`` (recording on): one append
  as the tick path pays it (best of 5 runs of 200k appends, per call);
* ``shipper_convert_per_record_ns``: the shipper's background task turning what was appended into storage records
  (orders and tickers half and half; off the tick path, on the same event loop);
* ``<store>_batch_ack_ms_p50`` / ``_p99``: submit → acknowledged (stored) for a 250-record batch of orders, one
  sender, on the embedded store and on PostgreSQL (a throwaway schema, dropped at the end; skipped if unreachable);
* ``<store>_records_per_s``: records acknowledged per second with 4 senders shipping 1,000-record batches.

Run: ``.venv/bin/python benchmarks/persistence.py [--dsn DSN]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from thalex_modular.deployment.journal_shipper import JournalShipper
from thalex_modular.platform.adapters.storage.persistence_service import PersistenceService
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, Ticker
from thalex_modular.platform.domain.enums import ChangeReason, MakerTaker, OrderStatus, OrderType, Side, TimeInForce
from thalex_modular.platform.domain.storage import OrderRecord, Record

NAME = "BTC-PERPETUAL"
T0 = 1_700_000_000 * 10**9
N = 200_000


async def _nowhere(sender: str, seq: int, records: list[Record]) -> None:
    return None


def _update(i: int) -> OrderUpdate:
    return OrderUpdate(
        order_id=f"o{i}", client_order_id=100 + i, instrument_name=NAME, side=Side.BUY, order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, price=99_000.0, amount=0.01, filled_amount=0.0, remaining_amount=0.01,
        status=OrderStatus.OPEN, change_reason=ChangeReason.INSERT, ts_exchange_ns=T0 + i, ts_local_ns=T0 + i,
    )


def _per_call_ns(append: Callable[[object], None], item: object, fresh: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(5):
        fresh()
        start = time.perf_counter_ns()
        for _ in range(N):
            append(item)
        best = min(best, (time.perf_counter_ns() - start) / N)
    return best


def appends() -> dict[str, float]:
    shipper = JournalShipper(NAME, "bench", _nowhere, record_market_data=True, max_market_records=10 * N,
                             warn_session_records=10 * N)

    def fresh() -> None:  # empty the lists between runs (nothing ships: the task is not started)
        shipper._session, shipper._market = [], []

    ticker = Ticker(NAME, 100_000.0, T0, T0 + 5, 99_999.0, 1.0, 100_001.0, 1.0, index=100_000.0)
    fill = Fill("t1", "o1", 101, NAME, Side.BUY, 99_999.0, 0.01, MakerTaker.MAKER, T0, T0, fee=-0.01)
    out = {
        "shipper_order_append_ns": _per_call_ns(shipper.order, _update(1), fresh),  # type: ignore[arg-type]
        "shipper_fill_append_ns": _per_call_ns(shipper.trade, fill, fresh),  # type: ignore[arg-type]
        "shipper_ticker_append_ns": _per_call_ns(shipper.ticker, ticker, fresh),  # type: ignore[arg-type]
    }
    fresh()
    shipper._max_batch = 20_000
    for i in range(10_000):
        shipper.order(_update(i))
        shipper.ticker(Ticker(NAME, 100_000.0, T0 + i, T0 + i + 5, 99_999.0, 1.0, 100_001.0, 1.0))
    start = time.perf_counter_ns()
    records = shipper._take_batch()
    out["shipper_convert_per_record_ns"] = (time.perf_counter_ns() - start) / len(records)
    return out


def _batch(sender: str, seq: int, n: int) -> list[Record]:
    return [OrderRecord(f"{sender}-{seq}-{i}", T0 + seq * 10_000 + i, "insert", "open", i, NAME, 1, 99_000.0, 0.01,
                        0.0, T0, "", "bench") for i in range(n)]


async def service(store: str, target: str | Path, spill: Path) -> dict[str, float]:
    svc = PersistenceService(target, spill)
    await svc.start()
    latencies = []
    for seq in range(1, 201):
        batch = _batch("one", seq, 250)
        start = time.perf_counter()
        await svc.submit("one", seq, batch)
        latencies.append((time.perf_counter() - start) * 1e3)
    latencies.sort()

    async def ship(sender: str) -> None:
        for seq in range(1, 51):
            await svc.submit(sender, seq, _batch(sender, seq, 1_000))

    start = time.perf_counter()
    await asyncio.gather(*(ship(f"s{k}") for k in range(4)))
    elapsed = time.perf_counter() - start
    await svc.close()
    return {
        f"{store}_batch_ack_ms_p50": statistics.median(latencies),
        f"{store}_batch_ack_ms_p99": latencies[int(len(latencies) * 0.99) - 1],
        f"{store}_records_per_s": 4 * 50 * 1_000 / elapsed,
    }


async def services(dsn: str, workdir: Path) -> dict[str, float]:
    figures = await service("embedded", workdir / "store.duckdb", workdir / "spill")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL unreachable ({exc!r}): pg figures skipped", file=sys.stderr)
        return figures
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        return figures | await service("pg", f"{dsn}?search_path={schema}", workdir / "pg-spill")
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    figures = appends()
    with tempfile.TemporaryDirectory() as tmp:
        figures |= asyncio.run(services(args.dsn, Path(tmp)))
    for name, value in figures.items():
        print(f"{name}={value:.1f}" if value >= 10 else f"{name}={value:.3f}")


if __name__ == "__main__":
    main()

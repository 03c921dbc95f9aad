"""Storage fault benchmark: the write path (WriteBuffer → PostgreSQL or the embedded store) through every fault of
issue 13, counting records end to end.

Scenarios (all faults real; nothing mocked):

* ``sqlstate_<code>``: PostgreSQL fails every insert with a transient SQLSTATE (a row trigger) for a while:
  53100 disk full, 57014 statement timeout, 40P01 deadlock, 40001 serialization failure, 25006 read-only (failover);
* ``statement_timeout``: a real statement timeout (inserts sleep past the session's ``statement_timeout``);
* ``tcp_outage``: the connection to PostgreSQL goes through a loopback TCP proxy that is cut and restored;
* ``poison``: one record the server refuses for good (a check violation): its batch is quarantined and reported;
* ``spill_cut``: a writer dies at a random byte inside a frame (the frame was never acknowledged) and the next writer
  appends after the torn frame; repeated at random offsets, then replayed;
* ``two_writers``: two processes share a spill directory; the second cannot open the embedded store (one writer
  process per file) and spills everything, the first replays it while the second still writes;
* ``disk_full``: the spill directory is on a small tmpfs (or, when mounting is not permitted, capped by size) while
  the store is unreachable;
* ``replay``: a large spill replayed into PostgreSQL: rows/s and the longest event-loop stall meanwhile.

Prints per scenario ``<scenario>_records_written=``, ``_stored=``, ``_lost=``, ``_quarantined=``, then the totals
``records_written=``, ``records_stored=``, ``records_lost=`` (must be 0) and ``records_quarantined=``; progress on
stderr. Usage: python benchmarks/storage_faults.py [--dsn DSN] [--replay-rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import numpy as np

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage, WriteBuffer
from thalex_modular.platform.adapters.storage.faults import TcpProxy, install_fault_trigger, set_fault, small_tmpfs
from thalex_modular.platform.adapters.storage.spill import SpillWriter, encode_frame
from thalex_modular.platform.domain.storage import TradeRecord

T0 = 1_700_000_000 * 10**9
TRANSIENT = ("53100", "57014", "40P01", "40001", "25006")


def trades(n: int, seed: int, start_ns: int = T0) -> list[TradeRecord]:
    rng = np.random.default_rng(seed)
    ts = (start_ns + np.cumsum(rng.integers(1, 300_000_000, n))).tolist()
    price = np.round(100_000 + np.cumsum(rng.normal(0, 5, n)), 1).tolist()
    return [TradeRecord("BTC-PERPETUAL", ts[i], 0, f"{seed}-{i}", price[i], 0.1, 1, ts[i]) for i in range(n)]


@dataclass
class Tally:
    written: int = 0
    stored: int = 0
    quarantined: int = 0

    @property
    def lost(self) -> int:
        return self.written - self.stored - self.quarantined


def progress(text: str) -> None:
    print(f"\r{text:<78}", end="", file=sys.stderr, flush=True)


async def until(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def buffer_of(store: PostgresStorage | EmbeddedStorage, spill: Path, **options: object) -> WriteBuffer:
    settings: dict[str, object] = {"batch_size": 500, "flush_interval_s": 0.02, "retry_interval_s": 0.05, **options}
    buffer = WriteBuffer(store, spill, **settings)  # type: ignore[arg-type]
    buffer.start()
    return buffer


async def feed(buffer: WriteBuffer, records: list[TradeRecord], label: str) -> None:
    for i in range(0, len(records), 500):
        for record in records[i : i + 500]:
            buffer.append(record)
        progress(f"{label}: {i + 500:,} / {len(records):,} appended")
        await asyncio.sleep(0.01)


class Postgres:
    """Throwaway schemas on the benchmark's server."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.schemas: list[str] = []

    async def store(self, dsn: str | None = None) -> tuple[PostgresStorage, asyncpg.Connection]:
        schema = f"faults_{uuid.uuid4().hex[:8]}"
        self.schemas.append(schema)
        store = PostgresStorage(dsn or self.dsn, schema_name=schema, timeout_s=3.0)
        await store.open()
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": schema})
        await install_fault_trigger(conn)
        return store, conn

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            for schema in self.schemas:
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()


async def outage_run(store: PostgresStorage, spill: Path, fault_on: Callable[[], Awaitable[None]],
                     fault_off: Callable[[], Awaitable[None]], label: str, seed: int) -> Tally:
    """3 × 3,000 records: before, during and after a fault."""
    records = trades(9_000, seed)
    buffer = buffer_of(store, spill)
    await feed(buffer, records[:3_000], label)
    await until(lambda: buffer.written >= 3_000)
    await fault_on()
    await feed(buffer, records[3_000:6_000], label)
    await until(lambda: buffer.spilled >= 3_000, 30)
    await fault_off()
    await feed(buffer, records[6_000:], label)
    await until(lambda: buffer.written >= 9_000)
    await buffer.stop()
    return Tally(9_000, await store.count("trades"), buffer.quarantined)


async def sqlstate(pg: Postgres, tmp: Path, code: str) -> Tally:
    store, conn = await pg.store()
    try:
        return await outage_run(store, tmp / f"spill-{code}", lambda: set_fault(conn, code),
                                lambda: set_fault(conn, None), f"sqlstate {code}", int(code[:2], 16))
    finally:
        await conn.close()
        await store.close()


async def statement_timeout(pg: Postgres, tmp: Path) -> Tally:
    store, conn = await pg.store(f"{pg.dsn}?statement_timeout=200")
    await conn.execute("CREATE TABLE _slow (on_ BOOLEAN)")
    await conn.execute("CREATE FUNCTION _sleep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       "IF EXISTS (SELECT 1 FROM _slow) THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$")
    await conn.execute("CREATE TRIGGER _sleep_t BEFORE INSERT ON trades FOR EACH ROW EXECUTE FUNCTION _sleep()")
    try:
        return await outage_run(store, tmp / "spill-timeout", lambda: conn.execute("INSERT INTO _slow VALUES (true)"),
                                lambda: conn.execute("DELETE FROM _slow"), "statement timeout", 7)
    finally:
        await conn.close()
        await store.close()


async def tcp_outage(pg: Postgres, tmp: Path) -> Tally:
    proxy = TcpProxy(int(pg.dsn.rsplit(":", 1)[1].split("/")[0]))
    await proxy.open()
    host = pg.dsn.split("@", 1)[1].split("/", 1)[0]
    store, conn = await pg.store(pg.dsn.replace(host, f"127.0.0.1:{proxy.port}"))
    try:
        return await outage_run(store, tmp / "spill-tcp", proxy.close, proxy.open, "tcp outage", 8)
    finally:
        await conn.close()
        await store.close()
        await proxy.close()


async def poison(pg: Postgres, tmp: Path) -> Tally:
    store, conn = await pg.store()
    await set_fault(conn, "23514", "$1.amount < 0")
    records = trades(6_000, 9)
    bad = records[2_345]
    records[2_345] = TradeRecord(bad.instrument_name, bad.ts_ns, bad.seq, bad.trade_id, bad.price, -1.0, bad.side,
                                 bad.ts_local_ns)
    try:
        buffer = buffer_of(store, tmp / "spill-poison")
        await feed(buffer, records, "poison record")
        await until(lambda: buffer.written + buffer.quarantined >= 6_000)
        await buffer.stop()
        return Tally(6_000, await store.count("trades"), buffer.quarantined)
    finally:
        await conn.close()
        await store.close()


async def spill_cut(tmp: Path, trials: int, rng: random.Random) -> Tally:
    """Per trial: 5 frames acknowledged, a 6th cut at a random byte (the writer died), 4 frames appended after it by
    the next writer; the file is then replayed. Records of the cut frame were never acknowledged: not counted."""
    spill = tmp / "spill-cut"
    spill.mkdir()
    written = 0
    for trial in range(trials):
        records = trades(1_000, 100 + trial, T0 + trial * 10**12)
        path = spill / f"{trial:020d}-cut-{trial}.spill"
        writer = SpillWriter(path)
        for i in range(5):
            writer.append(encode_frame(records[i * 100 : (i + 1) * 100]))
        torn = encode_frame(records[500:600])
        writer.close()
        with path.open("ab") as f:
            f.write(torn[: rng.randrange(1, len(torn))])
            for i in range(6, 10):
                f.write(encode_frame(records[i * 100 : (i + 1) * 100]))
        written += 900
    progress(f"spill cut: {trials} files cut, replaying")
    store = EmbeddedStorage(tmp / "cut.duckdb")
    buffer = buffer_of(store, spill)
    await until(lambda: buffer.replayed >= written)
    await buffer.stop()
    tally = Tally(written, await store.count("trades"), buffer.quarantined)
    await store.close()
    return tally


WRITER_B = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from storage_faults import trades
    from thalex_modular.platform.adapters.storage import EmbeddedStorage, WriteBuffer

    async def main() -> None:
        buffer = WriteBuffer(EmbeddedStorage(Path(sys.argv[1])), Path(sys.argv[2]), batch_size=500,
                             flush_interval_s=0.02, retry_interval_s=0.05, segment_age_s=0.2)
        buffer.start()
        for i, record in enumerate(trades(20_000, 21, 1_800_000_000 * 10**9)):
            buffer.append(record)
            if i % 500 == 499:
                await asyncio.sleep(0.02)
        await buffer.stop()
        print(buffer.spilled, flush=True)

    asyncio.run(main())
""")


async def two_writers(tmp: Path) -> Tally:
    store = EmbeddedStorage(tmp / "shared.duckdb")
    await store.open()
    a = buffer_of(store, tmp / "spill-shared")
    b = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER_B, str(tmp / "shared.duckdb"),
                                             str(tmp / "spill-shared"), str(Path(__file__).parent),
                                             stdout=subprocess.PIPE)
    await feed(a, trades(20_000, 22), "two writers")
    out, _ = await b.communicate()
    await until(lambda: a.replayed >= 20_000 and a.written >= 40_000)
    await a.stop()
    tally = Tally(20_000 + int(out.split()[0]) if out.split() else 20_000, await store.count("trades"),
                  a.quarantined)
    await store.close()
    return tally


async def disk_full(tmp: Path) -> tuple[Tally, str]:
    with small_tmpfs(tmp / "disk", 256 * 1024) as disk:
        how = "tmpfs_256k" if disk is not None else "size_cap_256k"
        spill = (disk or tmp) / "spill-full"
        blocker = tmp / "blocked"
        blocker.write_text("in the way")  # the store's directory is a file: unreachable until removed
        store = EmbeddedStorage(blocker / "store.duckdb")
        buffer = buffer_of(store, spill, max_spill_bytes=None if disk is not None else 256 * 1024)
        records = trades(30_000, 23)
        await feed(buffer, records, f"disk full ({how})")
        await until(lambda: buffer.spilled + buffer.pending >= 30_000)
        progress(f"disk full ({how}): {buffer.spilled:,} spilled, {buffer.pending:,} held in memory")
        blocker.unlink()
        await until(lambda: buffer.written >= 30_000)
        await buffer.stop()
        tally = Tally(30_000, await store.count("trades"), buffer.quarantined)
        await store.close()
        return tally, how


async def replay(pg: Postgres, tmp: Path, rows: int) -> tuple[float, float]:
    """Spill ``rows`` records, then replay them into PostgreSQL: (rows/s, longest event-loop stall in ms)."""
    spill = tmp / "spill-replay"
    offline = WriteBuffer(PostgresStorage("postgresql://postgres@127.0.0.1:1/test", timeout_s=1.0), spill,
                          batch_size=10_000)
    for record in trades(rows, 24):
        offline.append(record)
    progress(f"replay: spilling {rows:,}")
    await offline.stop()
    store, conn = await pg.store()
    stall = 0.0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal stall
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            stall = max(stall, time.perf_counter() - t - 0.001)

    watcher = asyncio.create_task(watch())
    buffer = WriteBuffer(store, spill, batch_size=10_000)
    started = time.perf_counter()
    await buffer.flush()
    elapsed = time.perf_counter() - started
    done.set()
    await watcher
    await buffer.stop()
    assert await store.count("trades") == rows
    await conn.close()
    await store.close()
    return rows / elapsed, stall * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--replay-rows", type=int, default=200_000)
    parser.add_argument("--cut-trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    pg = Postgres(args.dsn)
    results: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        try:
            for code in TRANSIENT:
                results[f"sqlstate_{code}"] = await sqlstate(pg, tmp, code)
            results["statement_timeout"] = await statement_timeout(pg, tmp)
            results["tcp_outage"] = await tcp_outage(pg, tmp)
            results["poison"] = await poison(pg, tmp)
            results["spill_cut"] = await spill_cut(tmp, args.cut_trials, random.Random(args.seed))
            results["two_writers"] = await two_writers(tmp)
            results["disk_full"], how = await disk_full(tmp)
            rate, stall_ms = await replay(pg, tmp, args.replay_rows)
        finally:
            await pg.drop_all()
    print(file=sys.stderr)
    for scenario, t in results.items():
        print(f"{scenario}_records_written={t.written} {scenario}_records_stored={t.stored} "
              f"{scenario}_records_lost={t.lost} {scenario}_records_quarantined={t.quarantined}")
    print(f"disk_full_method={how}")
    print(f"replay_rows_per_s={rate:.0f} replay_max_loop_stall_ms={stall_ms:.1f}")
    total = Tally(*(sum(getattr(t, f) for t in results.values()) for f in ("written", "stored", "quarantined")))
    print(f"records_written={total.written}")
    print(f"records_stored={total.stored}")
    print(f"records_lost={total.lost}")
    print(f"records_quarantined={total.quarantined}")


if __name__ == "__main__":
    asyncio.run(main())

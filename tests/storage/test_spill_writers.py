"""Issue 13 item 3: writers sharing one spill directory lose nothing.

Before, they shared one file with no lock: a replay read it, wrote it and deleted it, so frames another writer
appended meanwhile were lost (3,100 of 4,000 seen). Now each writer appends to its own locked segment; a replay takes
only closed segments, under their lock.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from storage_kit import PG_DSN, random_trades
from test_outage import started_buffer, wait_for

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage
from thalex_modular.platform.adapters.storage.faults import TcpProxy


async def test_a_replay_never_takes_what_another_writer_is_appending(pg_schema: str, tmp_path: Path) -> None:
    # Arrange: writer A reaches the store; writer B's store is cut off (a closed proxy); both spill to one directory
    # and B closes its segments every 50 ms, so A replays them while B goes on appending
    up = PostgresStorage(PG_DSN, schema_name=pg_schema)
    proxy = TcpProxy(int(PG_DSN.rsplit(":", 1)[1].split("/")[0]))
    await proxy.open()
    down = PostgresStorage(f"postgresql://postgres@127.0.0.1:{proxy.port}/test", schema_name=pg_schema, timeout_s=2)
    await up.open()
    await down.open()
    await proxy.close()
    a = started_buffer(up, tmp_path, batch_size=50, flush_interval_s=0.01, retry_interval_s=0.01)
    b = started_buffer(down, tmp_path, batch_size=50, flush_interval_s=0.01, retry_interval_s=10.0,
                       segment_age_s=0.05)
    trades = random_trades(4_000, seed=51)

    # Act
    for i, trade in enumerate(trades):
        b.append(trade)
        if i % 50 == 49:
            await asyncio.sleep(0.005)
    await wait_for(lambda: b.spilled == 4_000)
    replayed_while_b_ran = a.replayed
    await b.stop()
    await wait_for(lambda: a.replayed == 4_000)
    await a.stop()

    # Assert
    assert replayed_while_b_ran > 0 and await up.count("trades") == 4_000
    await up.close()
    await down.close()


WRITER_B = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from storage_kit import random_trades
    from thalex_modular.platform.adapters.storage import EmbeddedStorage, WriteBuffer

    async def main() -> None:
        store = EmbeddedStorage(Path(sys.argv[1]))  # held by the test's process: always unavailable here
        buffer = WriteBuffer(store, Path(sys.argv[2]), batch_size=100, flush_interval_s=0.02,
                             retry_interval_s=0.05, segment_age_s=0.1)
        buffer.start()
        for i, trade in enumerate(random_trades(4_000, seed=52)):
            buffer.append(trade)
            if i % 100 == 99:
                await asyncio.sleep(0.05)
        await buffer.stop()
        print(buffer.spilled, buffer.written, flush=True)

    asyncio.run(main())
""")


async def test_a_second_recorder_on_the_embedded_store_gets_its_records_stored(tmp_path: Path) -> None:
    # Arrange: this process holds the embedded store; another process writes to the same store file, which it can
    # never open (one writer process per DuckDB file), so everything it records is spilled
    store = EmbeddedStorage(tmp_path / "store.duckdb")
    await store.open()
    a = started_buffer(store, tmp_path, batch_size=100)

    # Act: B records 4,000 trades over about two seconds and exits; A replays B's closed segments meanwhile
    b = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER_B, str(tmp_path / "store.duckdb"), str(tmp_path / "spill"),
        str(Path(__file__).parent), stdout=subprocess.PIPE,
    )
    await wait_for(lambda: a.replayed > 0, 60)
    b_still_running = b.returncode is None
    out, _ = await asyncio.wait_for(b.communicate(), 60)
    await wait_for(lambda: a.replayed == 4_000)
    await a.stop()

    # Assert: B spilled all, A stored all, some of it while B still ran
    assert b.returncode == 0 and out.split() == [b"4000", b"0"]
    assert b_still_running and await store.count("trades") == 4_000
    await store.close()

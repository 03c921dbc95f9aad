"""Two PostgreSQL writers feeding the same minute at the same time: the 1m bar holds both writers' trades."""

from __future__ import annotations

import asyncio

import asyncpg
from storage_kit import PG_DSN, T0, random_trades

from thalex_modular.platform.adapters.storage import PostgresStorage
from thalex_modular.platform.domain.storage import ohlcv_from_trades

NAME = "BTC-PERPETUAL"
END = 2**62
MINUTE_NS = 60 * 10**9


async def test_two_writers_of_one_minute_leave_a_bar_of_both(pg_schema: str) -> None:
    # Arrange: two stores (two pools) on one schema; each bar write sleeps 0.5 s inside its transaction, so the first
    # writer's bar is still uncommitted while the second writer rolls the same minute up
    first, second = PostgresStorage(PG_DSN, schema_name=pg_schema), PostgresStorage(PG_DSN, schema_name=pg_schema)
    await first.open()
    await second.open()
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    try:
        await conn.execute(
            "CREATE FUNCTION slow_bar() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER slow_bar BEFORE INSERT OR UPDATE ON ohlcv_1m FOR EACH ROW EXECUTE FUNCTION slow_bar()"
        )
        minute = T0 - T0 % MINUTE_NS
        trades = [t for t in random_trades(400, seed=31, start_ns=minute) if t.ts_ns < minute + MINUTE_NS]
        assert len(trades) >= 20
        ours, theirs = trades[::2], trades[1::2]  # disjoint trades of the same minute
        # the day's partition exists already (creating it would serialize the writers on its lock)
        earlier = random_trades(2, seed=32, start_ns=minute - 10 * MINUTE_NS)
        await first.write(earlier[:1])
        await second.write(earlier[1:])

        # Act
        async def later(delay_s: float) -> int:
            await asyncio.sleep(delay_s)
            return await second.write(theirs)

        added = await asyncio.gather(first.write(ours), later(0.2))

        # Assert: every trade is stored, and the minute's bar is built from all of them
        assert sum(added) == len(trades)
        stored = await first.read_trades(NAME, minute, minute + MINUTE_NS)
        assert len(stored) == len(trades)
        bars = await first.read_ohlcv_1m(NAME, minute, minute + MINUTE_NS)
        expected = ohlcv_from_trades(stored)
        assert len(bars) == len(expected) == 1
        assert bars[0]["trades"] == expected[0]["trades"] == len(trades)
        for field in ("open", "high", "low", "close"):
            assert bars[0][field] == expected[0][field], field
    finally:
        await conn.close()
        await first.close()
        await second.close()

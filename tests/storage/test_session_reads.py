"""A session's own records read back (both stores): by source and instrument, time ranges, newest first, limits;
and migration 6 giving the orders and fills of an older store the source ''."""

from __future__ import annotations

import math

import asyncpg
import duckdb
import pytest
from storage_kit import PG_DSN, T0, Backend, Store

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage
from thalex_modular.platform.adapters.storage.migrations import MIGRATIONS
from thalex_modular.platform.adapters.storage.schema import MIGRATIONS_TABLE_SQL
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import (
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    Record,
)

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
END = 2**62
S = 1_000_000_000


def _order(i: int, source: str, name: str = BTC, status: str = "open") -> OrderRecord:
    return OrderRecord(f"o-{source}-{name}-{i}", T0 + i * S, "insert", status, 100 + i, name, 1 if i % 2 else -1,
                       math.nan if i == 3 else 99_000.0 + i, 0.1, 0.0, T0 + i * S + 7, "mm", source)


def _fill(i: int, source: str, name: str = BTC) -> FillRecord:
    return FillRecord(f"t-{source}-{name}-{i}", T0 + i * S, f"o-{source}-{name}-{i}", None if i == 2 else 100 + i,
                      name, 1, 99_000.0 + i, 0.05, "maker", -0.01 * i, T0 + i * S + 9, source)


def _position(i: int, source: str, name: str = BTC) -> PositionRecord:
    return PositionRecord(source, name, T0 + i * S, 0.1 * i, 99_000.0, 1.5 * i, math.nan if i == 4 else -0.5 * i,
                          99_100.0)


def _equity(i: int, source: str) -> EquityRecord:
    return EquityRecord(source, T0 + i * S, 10_000.0 + i, 1.0 * i, math.nan if i == 1 else 2.0 * i)


def _same(got: list[Record], expected: list[Record]) -> None:
    """Equal field by field, NaN equal to NaN."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert type(g) is type(e)
        for name in e.__struct_fields__:
            a, b = getattr(g, name), getattr(e, name)
            assert (a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), (name, a, b)


async def test_reads_by_source_and_instrument_in_order_with_limits(store: Store) -> None:
    # Arrange: two sessions (shadow, live) on two instruments, written out of time order
    orders = [_order(i, s, n) for i in range(6) for s in ("shadow", "live") for n in (BTC, ETH)]
    fills = [_fill(i, s, n) for i in range(5) for s in ("shadow", "live") for n in (BTC, ETH)]
    positions = [_position(i, s, n) for i in range(5) for s in ("shadow", "live") for n in (BTC, ETH)]
    equity = [_equity(i, s) for i in range(5) for s in ("shadow", "live")]
    records: list[Record] = [*orders, *fills, *positions, *equity]
    await store.write(records[::-1])

    # Act / Assert: a whole session's instrument, oldest first, every field back (NaN and NULL included)
    _same(await store.read_orders("shadow", BTC, 0, END), [_order(i, "shadow") for i in range(6)])
    _same(await store.read_fills("live", ETH, 0, END), [_fill(i, "live", ETH) for i in range(5)])
    _same(await store.read_positions("shadow", BTC, 0, END), [_position(i, "shadow") for i in range(5)])
    _same(await store.read_equity("live", 0, END), [_equity(i, "live") for i in range(5)])
    # "recent": newest first, at most the limit
    recent = await store.read_orders("live", BTC, 0, END, limit=2, newest_first=True)
    _same(recent, [_order(5, "live"), _order(4, "live")])
    _same(await store.read_fills("shadow", BTC, 0, END, limit=3, newest_first=True),
          [_fill(i, "shadow") for i in (4, 3, 2)])
    _same(await store.read_positions("live", ETH, 0, END, limit=1, newest_first=True), [_position(4, "live", ETH)])
    _same(await store.read_equity("shadow", 0, END, limit=2), [_equity(0, "shadow"), _equity(1, "shadow")])
    # a range is [start, end) on the exchange clock
    _same(await store.read_orders("shadow", BTC, T0 + 2 * S, T0 + 4 * S), [_order(i, "shadow") for i in (2, 3)])
    _same(await store.read_equity("live", T0 + 4 * S, END), [_equity(4, "live")])
    # another source, or one nobody wrote, reads nothing of these
    assert await store.read_orders("backtest-1", BTC, 0, END) == []
    assert await store.read_fills("shadow", "SOL-PERPETUAL", 0, END) == []


async def test_one_order_updated_at_one_time_reads_in_arrival_order(store: Store) -> None:
    # Arrange: an insert and its fill stamped with the same exchange time, received one after the other
    base = _order(1, "live")
    filled = OrderRecord(base.order_id, base.ts_ns, "fill", "filled", base.client_order_id, BTC, base.side,
                         base.price, base.amount, base.amount, base.ts_local_ns + 1, "mm", "live")
    await store.write([filled, base])
    # Act / Assert
    _same(await store.read_orders("live", BTC, 0, END), [base, filled])
    _same(await store.read_orders("live", BTC, 0, END, newest_first=True), [filled, base])


async def test_bad_read_arguments_name_the_value(store: Store) -> None:
    with pytest.raises(InvalidValue, match=r"read_orders: end_ns must be >= start_ns 5, was 4"):
        await store.read_orders("live", BTC, 5, 4)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidValue, match=rf"read_fills: limit must be a positive int or None, was {bad!r}"):
            await store.read_fills("live", BTC, 0, END, limit=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="read_equity: limit"):
        await store.read_equity("live", 0, END, limit=0)


async def _store_at_version_5(backend: Backend) -> Store:
    """The backend's store as migrations 1-5 left it, holding one order and one fill (no source column yet)."""
    order = ("o-old", T0, "insert", "open", 100, BTC, 1, 99_000.0, 0.1, 0.0, T0 + 1, "mm")
    fill = ("t-old", T0, "o-old", 100, BTC, 1, 99_000.0, 0.1, "maker", -0.01, T0 + 2)
    if backend.kind == "postgres":
        conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": backend.schema})
        try:
            await conn.execute(MIGRATIONS_TABLE_SQL)
            for migration in MIGRATIONS[:5]:
                for statement in migration.postgres(False):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", migration.version,
                                   migration.name)
            await conn.execute(f"INSERT INTO orders VALUES ({', '.join(f'${i + 1}' for i in range(12))})", *order)
            await conn.execute(f"INSERT INTO fills VALUES ({', '.join(f'${i + 1}' for i in range(11))})", *fill)
        finally:
            await conn.close()
        return PostgresStorage(PG_DSN, schema_name=backend.schema)
    backend.path.parent.mkdir(parents=True)
    con = duckdb.connect(str(backend.path))
    con.execute(MIGRATIONS_TABLE_SQL)
    for migration in MIGRATIONS[:5]:
        statements = migration.embedded()
        if migration.version == 5:  # rebuilds quotes with a function only the store registers; nothing to rebuild
            statements = statements[:1] + statements[2:]
        for statement in statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations VALUES ($1, $2, 0)", [migration.version, migration.name])
    con.execute(f"INSERT INTO orders VALUES ({', '.join('?' * 12)})", list(order))
    con.execute(f"INSERT INTO fills VALUES ({', '.join('?' * 11)})", list(fill))
    con.close()
    return EmbeddedStorage(backend.path)


async def test_migration_6_gives_older_orders_and_fills_the_source_empty(backend: Backend) -> None:
    # Arrange
    store = await _store_at_version_5(backend)
    # Act: open applies migration 6; a new session writes next to the old rows
    await store.open()
    try:
        await store.write([_order(1, "live"), _fill(1, "live")])
        # Assert: the old rows read as source '', the new ones under their source, nothing mixed
        old_orders = await store.read_orders("", BTC, 0, END)
        assert [(o.order_id, o.source, o.label) for o in old_orders] == [("o-old", "", "mm")]
        assert [(f.trade_id, f.source, f.fee) for f in await store.read_fills("", BTC, 0, END)] == [
            ("t-old", "", -0.01)]
        _same(await store.read_orders("live", BTC, 0, END), [_order(1, "live")])
        _same(await store.read_fills("live", BTC, 0, END), [_fill(1, "live")])
        assert await store.migrate() == []
    finally:
        await store.close()

"""PersistenceService on real stores: batches applied in order per sender, repeats not applied twice, early batches
waiting for their predecessor, an outage spilled and replayed with every acknowledged record stored, lag, bad input.

PostgreSQL goes through a loopback TCP proxy that is cut and restored; the embedded store is closed and reopened
under the service (as tests/storage/test_outage.py does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_kit import PG_DSN, T0, Backend
from test_outage import wait_for

from thalex_modular.platform.adapters.storage.faults import TcpProxy
from thalex_modular.platform.adapters.storage.persistence_service import PersistenceService
from thalex_modular.platform.adapters.storage.persistence_status import BatchDeferred
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import EquityRecord, OrderRecord, Record, StorageUnavailable

NAME = "BTC-PERPETUAL"
END = 2**62
FAST = {"flush_interval_s": 0.05, "retry_interval_s": 0.1}


def batch(sender: str, seq: int, n: int = 5) -> list[Record]:
    """``n`` order updates and one equity point, unique to (sender, seq)."""
    base = T0 + seq * 1_000_000
    orders: list[Record] = [
        OrderRecord(f"{sender}-{seq}-{i}", base + i, "insert", "open", seq * 100 + i, NAME, 1, 99_000.0, 0.1, 0.0,
                    base + i + 5, "mm", sender)
        for i in range(n)
    ]
    return [*orders, EquityRecord(sender, base, 10_000.0 + seq, 0.0, 0.0)]


async def stored_order_ids(service: PersistenceService, sender: str) -> set[str]:
    return {o.order_id for o in await service.read_orders(sender, NAME, 0, END)}


class Outage:
    """Takes the service's store away and brings it back: the proxy in front of PostgreSQL, or the embedded file."""

    def __init__(self, proxy: TcpProxy | None) -> None:
        self.proxy = proxy

    async def begin(self, service: PersistenceService) -> None:
        await (self.proxy.close() if self.proxy is not None else service.storage.close())

    async def end(self, service: PersistenceService) -> None:
        await (self.proxy.open() if self.proxy is not None else service.storage.open())


@pytest.fixture
async def proxied(backend: Backend, tmp_path: Path) -> AsyncIterator[tuple[str, Outage]]:
    """The backend's store target (PostgreSQL through a proxy) and a way to cut it."""
    if backend.kind != "postgres":
        yield str(backend.path), Outage(None)
        return
    proxy = TcpProxy(int(PG_DSN.rsplit(":", 1)[1].split("/")[0]))
    await proxy.open()
    yield f"postgresql://postgres@127.0.0.1:{proxy.port}/test?search_path={backend.schema}", Outage(proxy)
    await proxy.close()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[PersistenceService]:
    """A started service on an embedded store."""
    svc = PersistenceService(tmp_path / "store.duckdb", tmp_path / "spill", **FAST)  # type: ignore[arg-type]
    await svc.start()
    yield svc
    await svc.close()


async def test_two_senders_interleaved_all_stored_in_order(backend: Backend, proxied: tuple[str, Outage],
                                                           tmp_path: Path) -> None:
    # Arrange
    target, _ = proxied
    svc = PersistenceService(target, tmp_path / "spill", **FAST)  # type: ignore[arg-type]
    await svc.start()

    # Act: each sender ships its batches one after the other (one in flight), both at once
    async def ship(sender: str) -> list[bool]:
        return [(await svc.submit(sender, seq, batch(sender, seq))).duplicate for seq in range(1, 11)]

    acks = await asyncio.gather(ship("BTC#a"), ship("ETH#b"))
    status = await svc.flush()

    # Assert: everything acknowledged once, stored, nothing waiting
    assert acks == [[False] * 10, [False] * 10]
    for sender in ("BTC#a", "ETH#b"):
        assert await stored_order_ids(svc, sender) == {f"{sender}-{s}-{i}" for s in range(1, 11) for i in range(5)}
        assert len(await svc.read_equity(sender, 0, END)) == 10
    assert [(s.sender, s.last_seq, s.batches, s.records, s.duplicates) for s in status.senders] == [
        ("BTC#a", 10, 10, 60, 0), ("ETH#b", 10, 10, 60, 0)]
    assert (status.records_accepted, status.records_stored, status.records_unstored, status.lag_ns) == (120, 120, 0, 0)
    await svc.close()


async def test_an_early_batch_waits_for_its_predecessor(service: PersistenceService) -> None:
    # Arrange: batch 1 applied
    await service.submit("s", 1, batch("s", 1))
    # Act: batch 3 comes before batch 2
    early = asyncio.create_task(service.submit("s", 3, batch("s", 3)))
    await asyncio.sleep(0.2)
    # Assert: 3 waits, unapplied; once 2 comes both are applied, 2 first
    assert not early.done()
    assert service.status().senders[0].last_seq == 1
    assert await stored_order_ids(service, "s") == {f"s-1-{i}" for i in range(5)}
    await service.submit("s", 2, batch("s", 2))
    assert (await early).seq == 3
    sender = service.status().senders[0]
    assert (sender.last_seq, sender.batches, sender.early) == (3, 3, 1)
    assert len(await stored_order_ids(service, "s")) == 15


async def test_a_batch_whose_predecessor_never_comes_is_deferred_unapplied(tmp_path: Path) -> None:
    svc = PersistenceService(tmp_path / "s.duckdb", tmp_path / "spill", gap_timeout_s=0.2, **FAST)  # type: ignore[arg-type]
    await svc.start()
    await svc.submit("s", 1, batch("s", 1))
    with pytest.raises(BatchDeferred, match=r"'s' batch 3 came before batch 2, which has not come within 0.2 s"):
        await svc.submit("s", 3, batch("s", 3))
    assert svc.status().records_accepted == 6 and svc.status().batches_deferred == 1
    # the sender goes on in order: nothing was lost
    await svc.submit("s", 2, batch("s", 2))
    await svc.submit("s", 3, batch("s", 3))
    assert len(await stored_order_ids(svc, "s")) == 15
    await svc.close()


async def test_a_repeated_batch_is_acknowledged_but_not_applied_twice(service: PersistenceService) -> None:
    # Act: a retry while the first copy is still being written, and one after it was acknowledged
    first, again = await asyncio.gather(service.submit("s", 1, batch("s", 1)), service.submit("s", 1, batch("s", 1)))
    later = await service.submit("s", 1, batch("s", 1))
    # Assert
    assert (first.duplicate, again.duplicate, later.duplicate) == (False, True, True)
    status = service.status()
    assert (status.records_accepted, status.senders[0].duplicates, status.senders[0].batches) == (6, 2, 1)
    # a new sender (a restarted shipper, or this service after a restart) starts where its first batch says
    assert not (await service.submit("t", 41, batch("t", 41))).duplicate
    assert (await service.submit("t", 42, batch("t", 42))).seq == 42


async def test_an_outage_is_spilled_and_replayed_nothing_acknowledged_lost(
    backend: Backend, proxied: tuple[str, Outage], tmp_path: Path
) -> None:
    # Arrange: a clock the test moves (the lag's)
    now = [1_000_000_000]
    target, outage = proxied
    svc = PersistenceService(target, tmp_path / "spill", monotonic_ns=lambda: now[0], **FAST)  # type: ignore[arg-type]
    await svc.start()
    await svc.submit("s", 1, batch("s", 1))
    assert (await svc.flush()).lag_ns == 0

    # Act 1: the store goes away; batches are still acknowledged (spilled)
    await outage.begin(svc)
    for seq in range(2, 6):
        await svc.submit("s", seq, batch("s", seq))
    now[0] += 4_000_000_000
    down = await svc.flush()

    # Assert 1: spilled, counted as not yet in the store, and the lag is the oldest one's age
    assert down.store_down and down.records_spilled >= 24 and down.records_in_memory == 0
    assert (down.records_unstored, down.lag_ns) == (24, 4_000_000_000)

    # Act 2: the store comes back; the spill is replayed
    await outage.end(svc)
    await svc.submit("s", 6, batch("s", 6))
    await wait_for(lambda: not svc.status().store_down and svc.status().records_unstored == 0)
    up = await svc.flush()

    # Assert 2: every acknowledged record stored once, the lag back to 0
    assert await stored_order_ids(svc, "s") == {f"s-{s}-{i}" for s in range(1, 7) for i in range(5)}
    assert (up.lag_ns, up.records_replayed >= 24, up.records_lost, up.records_dropped) == (0, True, 0, 0)
    assert not list((tmp_path / "spill").glob("*.spill"))
    await svc.close()


async def test_memory_full_and_no_spill_defers_batches_and_loses_none(tmp_path: Path) -> None:
    # Arrange: a store that goes down, a spill directory that takes nothing (cap of 1 byte), room for 10 records
    svc = PersistenceService(tmp_path / "s.duckdb", tmp_path / "spill", max_pending=10, max_spill_bytes=1,
                             ack_timeout_s=0.3, **FAST)  # type: ignore[arg-type]
    await svc.start()
    await svc.flush()  # the buffer has taken the store over (it reopens one it has not flushed to yet)
    await svc.storage.close()
    # Act / Assert: batch 1 is applied but cannot become durable in time; batch 2 finds memory full
    with pytest.raises(BatchDeferred, match=r"'s' batch 1 is applied but not yet stored or spilled after 0.3 s"):
        await svc.submit("s", 1, batch("s", 1))
    with pytest.raises(BatchDeferred, match=r"'s' batch 2: 6 records already wait in memory"):
        await svc.submit("s", 2, batch("s", 2))
    assert svc.status().records_accepted == 6
    # the store comes back; the sender sends both again: 1 is acknowledged as applied before, 2 is applied now
    await svc.storage.open()
    assert (await svc.submit("s", 1, batch("s", 1))).duplicate
    assert not (await svc.submit("s", 2, batch("s", 2))).duplicate
    status = await svc.close()
    assert (status.records_accepted, status.records_stored, status.records_dropped, status.records_lost) == (
        12, 12, 0, 0)
    reopened = PersistenceService(tmp_path / "s.duckdb", tmp_path / "spill2")
    await reopened.start()
    assert len(await stored_order_ids(reopened, "s")) == 10
    await reopened.close()


async def test_bad_input_is_refused_naming_it_and_nothing_applied(service: PersistenceService) -> None:
    good = batch("s", 1)
    cases: list[tuple[object, object, object, str]] = [
        ("", 1, good, "sender must be a non-empty str, was ''"),
        ("s", -1, good, r"submit\('s'\): seq must be an int >= 0, was -1"),
        ("s", True, good, "seq must be an int >= 0, was True"),
        ("s", 1, "records", r"submit\('s', seq 1\): records must be a list of records, was str"),
        ("s", 1, [*good, {"order_id": "x"}], r"submit\('s', seq 1\): records\[6\] must be one of \[.*\], was dict"),
    ]
    for sender, seq, records, message in cases:
        with pytest.raises(InvalidValue, match=message):
            await service.submit(sender, seq, records)  # type: ignore[arg-type]
    assert service.status().records_accepted == 0 and service.status().senders == ()


async def test_close_flushes_and_refuses_later_batches(tmp_path: Path) -> None:
    svc = PersistenceService(tmp_path / "s.duckdb", tmp_path / "spill", flush_interval_s=60.0)
    with pytest.raises(StorageUnavailable, match=r"is not started \(call start\(\)\)"):
        await svc.submit("s", 1, batch("s", 1))
    await svc.start()
    await svc.submit("s", 1, batch("s", 1))
    status = await svc.close()
    assert (status.closed, status.records_stored, status.records_unstored) == (True, 6, 0)
    assert (await svc.close()).closed
    with pytest.raises(StorageUnavailable, match="is closed"):
        await svc.submit("s", 2, batch("s", 2))

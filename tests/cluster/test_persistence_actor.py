"""The Persistence actor on the session's two-node cluster: two instrument-like actors on different nodes ship their
journals at once, everything is stored and each sender's batches applied in order; a killed (and restarted)
Persistence actor loses no acknowledged batch: what it had spilled is replayed by its next incarnation."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError

from thalex_modular.deployment.journal_shipper import JournalShipper, ShipperStatus
from thalex_modular.deployment.ray.persistence_actor import PersistenceActor, persistence_sender
from thalex_modular.platform.domain.entities import OrderUpdate
from thalex_modular.platform.domain.enums import ChangeReason, OrderStatus, OrderType, Side, TimeInForce
from thalex_modular.platform.domain.storage import OrderRecord, Record

T0 = 1_700_000_000 * 10**9
END = 2**62
FAST = {"flush_interval_s": 0.05, "retry_interval_s": 0.1}


def order_update(name: str, i: int) -> OrderUpdate:
    return OrderUpdate(
        order_id=f"{name}-{i}", client_order_id=100 + i, instrument_name=name, side=Side.SELL,
        order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC, price=3_000.0 + i, amount=0.1, filled_amount=0.0,
        remaining_amount=0.1, status=OrderStatus.OPEN, change_reason=ChangeReason.INSERT, ts_exchange_ns=T0 + i,
        ts_local_ns=T0 + i + 1,
    )


@ray.remote(num_cpus=0)
class Instrument:
    """Stands in for an instrument actor: journals its orders through a JournalShipper to the named Persistence."""

    async def run(self, name: str, persistence: str, orders: int) -> ShipperStatus:
        namespace = ray.get_runtime_context().namespace  # the driver's: the actor was created in it
        shipper = JournalShipper(name, "shadow", persistence_sender(persistence, namespace), interval_s=0.05)
        shipper.start()
        for i in range(orders):
            shipper.order(order_update(name, i))
            if i % 20 == 0:
                await asyncio.sleep(0.01)
        return await shipper.close(timeout_s=20.0)


def persistence(store: Path, spill: Path, **options: Any) -> Any:
    """A detached, named Persistence actor as the deployment makes it (the test kills it at the end)."""
    name = f"persistence-{uuid.uuid4().hex[:8]}"
    namespace = ray.get_runtime_context().namespace
    return PersistenceActor.options(name=name, namespace=namespace, lifetime="detached", **options).remote(
        str(store), str(spill), FAST), name


def test_two_senders_on_two_nodes_stored_in_order(ray_cluster: object, tmp_path: Path) -> None:
    # Arrange
    actor, name = persistence(tmp_path / "store.duckdb", tmp_path / "spill")
    senders = [Instrument.options(resources={"node1": 1}).remote(), Instrument.options(resources={"node2": 1}).remote()]
    try:
        # Act: both ship at once
        shipped: list[ShipperStatus] = ray.get([
            senders[0].run.remote("BTC-PERPETUAL", name, 300), senders[1].run.remote("ETH-PERPETUAL", name, 300)])
        status = ray.get(actor.flush.remote())
        # Assert: every order stored, each sender's batches applied in order, none twice, nothing waiting
        for instrument, out in zip(("BTC-PERPETUAL", "ETH-PERPETUAL"), shipped, strict=True):
            stored: list[OrderRecord] = ray.get(actor.read_orders.remote("shadow", instrument, 0, END))
            assert [o.order_id for o in stored] == [f"{instrument}-{i}" for i in range(300)]
            assert (out.unshipped, out.send_failures, out.records_shipped) == (0, 0, 300)
            seen = next(s for s in status.senders if s.sender == out.sender)
            assert (seen.last_seq, seen.batches, seen.records, seen.duplicates) == (
                out.next_seq - 1, out.batches_shipped, 300, 0)
        assert (status.records_stored, status.records_unstored, status.lag_ns) == (600, 0, 0)
        recent = ray.get(actor.read_orders.remote("shadow", "ETH-PERPETUAL", 0, END, 2, True))
        assert [o.order_id for o in recent] == ["ETH-PERPETUAL-299", "ETH-PERPETUAL-298"]
        # the metrics loop (lag and backlog gauges) runs: it made and set its gauges without failing
        assert not ray.get(actor.__ray_call__.remote(lambda shell: shell._metrics.done()))
    finally:
        for handle in (*senders, actor):
            ray.kill(handle, no_restart=True)


def _batch(seq: int) -> list[Record]:
    return [OrderRecord(f"d-{seq}-{i}", T0 + seq * 100 + i, "insert", "open", i, "BTC-PERPETUAL", 1, 99_000.0, 0.1,
                        0.0, T0, "", "driver") for i in range(6)]


def _pid(actor: Any) -> int:
    return int(ray.get(actor.__ray_call__.remote(lambda _: os.getpid())))


def _restarted(actor: Any, old_pid: int, timeout_s: float = 60.0) -> None:
    """Wait until the actor answers from a new process (ray.kill returns before the old one is gone)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if _pid(actor) != old_pid:
                return
        except RayActorError:  # dying or restarting
            pass
        assert time.monotonic() < deadline, "the Persistence actor did not come back"
        time.sleep(0.1)


def test_a_killed_persistence_actor_loses_no_acknowledged_batch(ray_cluster: object, tmp_path: Path) -> None:
    # Arrange: the store cannot be opened yet (a file stands where its directory goes): batches are spilled
    blocked = tmp_path / "blocked"
    blocked.write_text("in the way")
    actor, _ = persistence(blocked / "store.duckdb", tmp_path / "spill", max_restarts=1)
    try:
        acks = [ray.get(actor.submit.remote("driver#1", seq, _batch(seq))) for seq in range(1, 6)]
        down = ray.get(actor.status.remote())
        assert [a.seq for a in acks] == [1, 2, 3, 4, 5] and not any(a.duplicate for a in acks)
        assert down.store_down and (down.records_spilled, down.records_stored, down.records_unstored) == (30, 0, 30)
        assert down.lag_ns > 0

        # Act: the actor is killed (Ray restarts it); the store becomes available
        old_pid = _pid(actor)
        ray.kill(actor, no_restart=False)
        blocked.unlink()
        _restarted(actor, old_pid)
        deadline = time.monotonic() + 30
        while (status := ray.get(actor.flush.remote())).records_replayed < 30:
            assert time.monotonic() < deadline, f"spill not replayed: {status}"
            time.sleep(0.1)

        # Assert: every acknowledged record is stored; the sender goes on with its next seq
        stored = ray.get(actor.read_orders.remote("driver", "BTC-PERPETUAL", 0, END))
        assert [o.order_id for o in stored] == [f"d-{s}-{i}" for s in range(1, 6) for i in range(6)]
        assert not ray.get(actor.submit.remote("driver#1", 6, _batch(6))).duplicate
        assert ray.get(actor.flush.remote()).records_unstored == 0
        assert not list((tmp_path / "spill").glob("*.spill"))
    finally:
        ray.kill(actor, no_restart=True)

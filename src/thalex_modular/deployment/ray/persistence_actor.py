"""The Persistence singleton: a thin Ray shell over :class:`PersistenceService`, and the glue an instrument actor ships
its journal through.

The actor is async (the store, the write buffer and its spill are asyncio); Ray may run an async actor's calls from
one caller out of order (RAY_NOTES), so the order of each sender's batches comes from their seq numbers, which the
service applies in order. The deployment creates it once, named and detached::

    PersistenceActor.options(name=names.PERSISTENCE, namespace=..., lifetime="detached").remote(target, spill_dir)

``target`` is the ``--db`` DSN, an embedded store file, or None (``THALEX_DB_DSN``, else the embedded store in the
user's data directory); ``spill_dir`` is on the node the actor runs on (pin it to one node, or a spill left by a
killed incarnation waits for the next persistence actor on that node). A restart re-runs the constructor; the first
call after it opens the store and replays what the previous incarnation spilled.

Every instrument actor ships through :func:`persistence_sender` (a :class:`~..journal_shipper.JournalShipper`'s
``send``). Metrics (``ray.util.metrics``, refreshed every second): ``thalex_persistence_store_lag_s`` (the oldest
accepted record not yet in the store; each instrument's ``thalex_persistence_lag_s`` is its shipper's side),
``thalex_persistence_unstored_records``, ``thalex_persistence_in_memory_records``, ``thalex_persistence_store_down``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, Final

import ray
from ray.exceptions import RayActorError
from ray.util import metrics

from thalex_modular.deployment.journal_shipper import Send
from thalex_modular.deployment.ray import names
from thalex_modular.platform.adapters.storage.persistence_service import PersistenceService
from thalex_modular.platform.adapters.storage.persistence_status import Ack, PersistenceStatus
from thalex_modular.platform.domain.storage import EquityRecord, FillRecord, OrderRecord, PositionRecord, Record

__all__ = ["PersistenceActor", "PersistenceShell", "persistence_sender"]

log = logging.getLogger(__name__)

_METRICS_EVERY_S: Final = 1.0


class PersistenceShell:
    """The actor's body: one :class:`PersistenceService`, started by the first call (a restart re-runs ``__init__``).

    Args:
        target: the store (see the module doc).
        spill_dir: the write buffer's spill directory on this node.
        options: keyword arguments of :class:`PersistenceService` (intervals, caps, timeouts).
    """

    def __init__(self, target: str | None, spill_dir: str, options: dict[str, Any] | None = None) -> None:
        self._service = PersistenceService(target, Path(spill_dir), **(options or {}))
        self._ready: asyncio.Task[None] | None = None
        self._metrics: asyncio.Task[None] | None = None

    async def _started(self) -> PersistenceService:
        if self._ready is None:  # one start, however many calls arrive together
            self._ready = asyncio.ensure_future(self._service.start())
        await asyncio.shield(self._ready)
        if self._metrics is None:
            self._metrics = asyncio.create_task(self._publish_metrics(), name="persistence-metrics")
        return self._service

    async def start(self) -> PersistenceStatus:
        """Open the store (if it answers) and start writing; returns the status.

        Raises:
            StorageError: the store refused us (bad DSN, no such database, failed migration).
        """
        return (await self._started()).status()

    @ray.method(enable_task_events=False)  # the chatty one: a few calls per second per instrument
    async def submit(self, sender: str, seq: int, records: list[Record]) -> Ack:
        """See :meth:`PersistenceService.submit`."""
        return await (await self._started()).submit(sender, seq, records)

    async def status(self) -> PersistenceStatus:
        return (await self._started()).status()

    async def flush(self) -> PersistenceStatus:
        """Write (or spill) everything acknowledged so far now; the status after it."""
        return await (await self._started()).flush()

    async def close(self) -> PersistenceStatus:
        """Flush, spill what the store will not take, close the store; later submits are refused."""
        if self._metrics is not None:
            self._metrics.cancel()
        return await self._service.close()

    async def read_orders(self, source: str, instrument_name: str, start_ns: int, end_ns: int,
                          limit: int | None = None, newest_first: bool = False) -> list[OrderRecord]:
        return await (await self._started()).read_orders(source, instrument_name, start_ns, end_ns, limit=limit,
                                                         newest_first=newest_first)

    async def read_fills(self, source: str, instrument_name: str, start_ns: int, end_ns: int,
                         limit: int | None = None, newest_first: bool = False) -> list[FillRecord]:
        return await (await self._started()).read_fills(source, instrument_name, start_ns, end_ns, limit=limit,
                                                        newest_first=newest_first)

    async def read_positions(self, source: str, instrument_name: str, start_ns: int, end_ns: int,
                             limit: int | None = None, newest_first: bool = False) -> list[PositionRecord]:
        return await (await self._started()).read_positions(source, instrument_name, start_ns, end_ns, limit=limit,
                                                            newest_first=newest_first)

    async def read_equity(self, source: str, start_ns: int, end_ns: int, limit: int | None = None,
                          newest_first: bool = False) -> list[EquityRecord]:
        return await (await self._started()).read_equity(source, start_ns, end_ns, limit=limit,
                                                         newest_first=newest_first)

    async def _publish_metrics(self) -> None:
        gauges = {
            "lag": metrics.Gauge("thalex_persistence_store_lag_s",
                                 "age of the oldest record Persistence accepted that is not yet in the store"),
            "unstored": metrics.Gauge("thalex_persistence_unstored_records",
                                      "records accepted, not yet in the store (in memory or spilled)"),
            "memory": metrics.Gauge("thalex_persistence_in_memory_records", "records neither stored nor spilled"),
            "down": metrics.Gauge("thalex_persistence_store_down", "1 while the store is unavailable (spilling)"),
        }
        while True:
            status = self._service.status()
            with contextlib.suppress(Exception):  # metrics never stop persistence
                gauges["lag"].set(status.lag_ns / 1e9)
                gauges["unstored"].set(status.records_unstored)
                gauges["memory"].set(status.records_in_memory)
                gauges["down"].set(1.0 if status.store_down else 0.0)
            await asyncio.sleep(_METRICS_EVERY_S)


PersistenceActor: Any = ray.remote(num_cpus=0, max_restarts=-1)(PersistenceShell)


def persistence_sender(name: str = names.PERSISTENCE, namespace: str = names.NAMESPACE) -> Send:
    """A :data:`~..journal_shipper.Send` to the named Persistence actor, looked up on first use and again after it
    died (a restarted or re-created actor is found by its name). The lookup runs on a worker thread."""
    handle: Any = None

    async def send(sender: str, seq: int, records: list[Record]) -> Ack:
        nonlocal handle
        if handle is None:
            handle = await asyncio.to_thread(ray.get_actor, name, namespace=namespace)
        try:
            ack: Ack = await handle.submit.remote(sender, seq, records)
        except RayActorError:
            handle = None
            raise
        return ack

    return send

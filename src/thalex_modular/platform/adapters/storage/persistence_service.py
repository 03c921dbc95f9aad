"""PersistenceService: the one owner of the store in a deployment (inside the Persistence actor; no Ray here).

Senders (each instrument actor's :class:`~thalex_modular.deployment.journal_shipper.JournalShipper`) ship batches of
records numbered 1, 2, 3, ... per sender. :meth:`PersistenceService.submit` applies a sender's batches in that order:

* the next batch is handed to the :class:`~.buffer.WriteBuffer`, and acknowledged once it is durable: stored, or
  spilled to disk (fsynced) while the store is down, or quarantined if the store refuses it for good. A batch that
  is acknowledged survives the service's process being killed: what was spilled is replayed by the next writer;
* a batch sent again (at-least-once senders retry after a lost answer) is not applied twice: acknowledged once its
  first copy is durable;
* a batch that arrives before its predecessor waits for it (``gap_timeout_s``), then is deferred (not applied);
* a sender the service has not seen starts where its first batch says (after a restart the service remembers no
  sender; writes are idempotent on natural keys, so a batch applied twice across a restart adds nothing).

Deferred batches raise :class:`~.persistence_status.BatchDeferred`: nothing was applied, or what was is not yet
durable; the sender sends the same seq again later. Batches are written by one flusher task for all senders
together (group commit): every flush writes (or spills) everything applied before it started.

``lag_ns`` in :meth:`status`: how long the oldest accepted record not yet in the store has waited (0 when all are
stored). It grows while the store is down (records wait in the spill directory) and falls back once the spill is
replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import (
    RECORD_TYPES,
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    Record,
    StorageUnavailable,
)

from .buffer import WriteBuffer
from .factory import make_storage
from .persistence_status import Ack, BatchDeferred, PersistenceStatus, SenderStatus

__all__ = ["PersistenceService"]

log = logging.getLogger(__name__)
_RECORD_TYPES: Final = frozenset(RECORD_TYPES)


@dataclass
class _Sender:
    last_seq: int
    batches: int = 0
    records: int = 0
    duplicates: int = 0
    early: int = 0
    last_batch_ns: int = 0
    last_seen_s: float = 0.0  # monotonic
    unacked: dict[int, int] = field(default_factory=dict)  # seq -> applied index, of batches not yet durable


class PersistenceService:
    """Applies senders' batches in order to a store through a write buffer.

    Args:
        target: a ``postgresql://`` DSN, or the embedded store's file, or None (``THALEX_DB_DSN``, else the embedded
            store in ``data_dir``) as :func:`~.factory.make_storage` takes it.
        spill_dir: the write buffer's spill directory (on this node's disk).
        data_dir: directory of the default embedded store.
        flush_interval_s: the flusher runs at least this often (seconds); a new batch wakes it at once.
        retry_interval_s: while the store is down, how often it is tried again (seconds).
        max_pending: records kept in memory while neither the store nor the spill takes them; a batch that would
            pass it is deferred.
        max_spill_bytes: cap on the spill directory (None: the disk).
        gap_timeout_s: how long a batch waits for its predecessor before it is deferred (seconds).
        ack_timeout_s: how long a batch waits to be durable before it is deferred (seconds).
        forget_after_s: a sender idle this long, with everything acknowledged, leaves the status (seconds).
        monotonic_ns: the clock of ``lag_ns`` (tests pass their own).
    """

    def __init__(
        self,
        target: str | Path | None,
        spill_dir: Path,
        *,
        data_dir: Path | None = None,
        flush_interval_s: float = 0.25,
        retry_interval_s: float = 1.0,
        max_pending: int = 2_000_000,
        max_spill_bytes: int | None = None,
        gap_timeout_s: float = 10.0,
        ack_timeout_s: float = 30.0,
        forget_after_s: float = 3600.0,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.storage = make_storage(target, data_dir=data_dir)
        self._buffer = WriteBuffer(
            self.storage, spill_dir, batch_size=min(10_000, max_pending), flush_interval_s=flush_interval_s,
            retry_interval_s=retry_interval_s, max_spill_bytes=max_spill_bytes, max_pending=max_pending,
        )
        self._flush_interval_s = flush_interval_s
        self._retry_interval_s = retry_interval_s
        self._max_pending = max_pending
        self._gap_timeout_s = gap_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._forget_after_s = forget_after_s
        self._now_ns = monotonic_ns
        self._senders: dict[str, _Sender] = {}
        self._applied = 0  # batches applied so far (a batch's index is the count after it)
        self._durable = 0  # the first this many applied batches are durable
        self._awaiting: deque[tuple[int, int, int]] = deque()  # (index, accepted ns, records) not yet durable
        self._unstored_since_ns: int | None = None  # accepted time of the oldest durable batch not yet stored
        self._unstored_records = 0  # records of durable batches not yet stored
        self._records_accepted = 0
        self._deferred = 0
        self._progress = asyncio.Condition()  # notified whenever a batch is applied or batches become durable
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and start the flusher. A store that cannot be reached now is no reason to refuse batches:
        they are spilled, and the buffer opens the store once it answers.

        Raises:
            StorageError: the store refused us (no such database, authentication failed, a failed migration).
        """
        if self._task is not None or self._closed:
            return
        try:
            await self.storage.open()
        except StorageUnavailable as exc:
            log.warning("persistence: store %s unavailable at start (%s); spilling until it answers",
                        self.storage.location, exc)
        self._task = asyncio.create_task(self._run(), name="persistence-flusher")

    async def flush(self) -> PersistenceStatus:
        """Write (or spill) everything applied so far now; returns the status after it."""
        await self._flush_once()
        return self.status()

    async def close(self) -> PersistenceStatus:
        """Stop the flusher, flush, spill what the store will not take, close the store. Idempotent."""
        if self._closed:
            return self.status()
        self._closed = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):  # _run logs its own failures
                await self._task
            self._task = None
        async with self._flush_lock:
            lost_before = self._buffer.lost
            await self._buffer.stop()
            if self._buffer.lost == lost_before:  # every applied record is stored or spilled
                self._mark_durable(self._applied)
            await self._notify()
        await self.storage.close()
        return self.status()

    # -- batches --------------------------------------------------------------------------------------------

    async def submit(self, sender: str, seq: int, records: Sequence[Record]) -> Ack:
        """Apply ``records`` as batch ``seq`` of ``sender`` and return once it is durable (see the module doc).

        Raises:
            InvalidValue: a bad sender, seq or record (nothing applied; the message names it).
            BatchDeferred: not acknowledged now; send the same seq again later.
            StorageUnavailable: the service is not started, or closed.
        """
        batch = _checked(sender, seq, records)
        if self._closed or self._task is None:
            state_word = "closed" if self._closed else "not started (call start())"
            raise StorageUnavailable(f"persistence service for {self.storage.location} is {state_word}")
        state = self._senders.get(sender)
        if state is None:
            state = self._senders[sender] = _Sender(last_seq=seq - 1)
        state.last_seen_s = time.monotonic()
        if seq > state.last_seq + 1:
            state.early += 1
            await self._wait(lambda: state.last_seq >= seq - 1, self._gap_timeout_s,
                             f"{sender!r} batch {seq} came before batch {state.last_seq + 1}, which has not come "
                             f"within {self._gap_timeout_s} s")
        if seq <= state.last_seq:
            state.duplicates += 1
            index = state.unacked.get(seq)
            if index is not None:
                await self._until_durable(index, sender, seq)
            return Ack(sender=sender, seq=seq, duplicate=True)
        if self._buffer.pending + len(batch) > self._max_pending:
            self._deferred += 1
            raise BatchDeferred(f"{sender!r} batch {seq}: {self._buffer.pending:,} records already wait in memory "
                                f"(the store and the spill directory take nothing); send it again later")
        for record in batch:
            self._buffer.append(record)
        self._applied += 1
        index = self._applied
        state.last_seq = seq
        state.batches += 1
        state.records += len(batch)
        state.last_batch_ns = time.time_ns()
        state.unacked[seq] = index
        self._records_accepted += len(batch)
        self._awaiting.append((index, self._now_ns(), len(batch)))
        self._wake.set()
        await self._notify()
        await self._until_durable(index, sender, seq)
        return Ack(sender=sender, seq=seq)

    async def _until_durable(self, index: int, sender: str, seq: int) -> None:
        await self._wait(lambda: self._durable >= index, self._ack_timeout_s,
                         f"{sender!r} batch {seq} is applied but not yet stored or spilled after "
                         f"{self._ack_timeout_s} s (the store is down and the spill directory refuses it)")

    async def _wait(self, ready: Callable[[], bool], timeout_s: float, why: str) -> None:
        if ready():
            return
        try:
            async with asyncio.timeout(timeout_s), self._progress:
                await self._progress.wait_for(lambda: ready() or self._closed)
        except TimeoutError:
            self._deferred += 1
            raise BatchDeferred(f"{why}; send it again") from None
        if not ready():
            self._deferred += 1
            raise BatchDeferred(f"{why}: the persistence service closed meanwhile; send it again")

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    # -- flushing -------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval_s)
            self._wake.clear()
            await self._flush_once()

    async def _flush_once(self) -> None:
        async with self._flush_lock:
            if self._closed and self._task is None:
                return
            mark = self._applied  # the buffer ships everything pending: every batch applied before now
            try:
                await self._buffer.flush()
            except Exception:  # a bug must not stop the flusher: the records stay in the buffer for the next round
                log.exception("persistence: flush failed; retrying")
                await asyncio.sleep(self._retry_interval_s)
                return
            if self._buffer.pending == 0:
                self._mark_durable(mark)
                if not self._buffer.store_down:  # the store took them, and replayed what was spilled before
                    self._unstored_since_ns = None
                    self._unstored_records = 0
            self._forget_idle()
        await self._notify()

    def _mark_durable(self, mark: int) -> None:
        while self._awaiting and self._awaiting[0][0] <= mark:
            _, accepted_ns, records = self._awaiting.popleft()
            if self._unstored_since_ns is None:
                self._unstored_since_ns = accepted_ns
            self._unstored_records += records
        self._durable = max(self._durable, mark)
        for state in self._senders.values():
            if state.unacked:
                state.unacked = {s: i for s, i in state.unacked.items() if i > self._durable}

    def _forget_idle(self) -> None:
        cutoff = time.monotonic() - self._forget_after_s
        for name in [n for n, s in self._senders.items() if s.last_seen_s < cutoff and not s.unacked]:
            del self._senders[name]

    # -- status and reads -----------------------------------------------------------------------------------

    def lag_ns(self) -> int:
        """Age of the oldest accepted record not yet in the store (ns); 0 when all are stored."""
        oldest = [t for t in (self._unstored_since_ns, self._awaiting[0][1] if self._awaiting else None)
                  if t is not None]
        return max(0, self._now_ns() - min(oldest)) if oldest else 0

    def status(self) -> PersistenceStatus:
        buffer = self._buffer
        senders = tuple(
            SenderStatus(sender=name, last_seq=s.last_seq, batches=s.batches, records=s.records,
                         duplicates=s.duplicates, early=s.early, last_batch_ns=s.last_batch_ns)
            for name, s in sorted(self._senders.items())
        )
        return PersistenceStatus(
            location=self.storage.location, ts_ns=time.time_ns(), store_down=buffer.store_down,
            closed=self._closed, senders=senders, records_accepted=self._records_accepted,
            records_stored=buffer.written, records_spilled=buffer.spilled, records_replayed=buffer.replayed,
            records_quarantined=buffer.quarantined, records_in_memory=buffer.pending,
            records_unstored=self._unstored_records + sum(n for _, _, n in self._awaiting),
            records_dropped=buffer.dropped, records_lost=buffer.lost, batches_deferred=self._deferred,
            lag_ns=self.lag_ns(),
        )

    async def read_orders(self, source: str, instrument_name: str, start_ns: int, end_ns: int, *,
                          limit: int | None = None, newest_first: bool = False) -> list[OrderRecord]:
        """The store's :meth:`~.session_reads.SessionReads.read_orders` (what is spilled is not seen until replayed).

        Raises:
            StorageUnavailable: the store is down.
        """
        return await self.storage.read_orders(source, instrument_name, start_ns, end_ns, limit=limit,
                                              newest_first=newest_first)

    async def read_fills(self, source: str, instrument_name: str, start_ns: int, end_ns: int, *,
                         limit: int | None = None, newest_first: bool = False) -> list[FillRecord]:
        return await self.storage.read_fills(source, instrument_name, start_ns, end_ns, limit=limit,
                                             newest_first=newest_first)

    async def read_positions(self, source: str, instrument_name: str, start_ns: int, end_ns: int, *,
                             limit: int | None = None, newest_first: bool = False) -> list[PositionRecord]:
        return await self.storage.read_positions(source, instrument_name, start_ns, end_ns, limit=limit,
                                                 newest_first=newest_first)

    async def read_equity(self, source: str, start_ns: int, end_ns: int, *, limit: int | None = None,
                          newest_first: bool = False) -> list[EquityRecord]:
        return await self.storage.read_equity(source, start_ns, end_ns, limit=limit, newest_first=newest_first)


def _checked(sender: object, seq: object, records: object) -> list[Record]:
    """The batch as a list, or InvalidValue naming what is wrong (before anything is applied)."""
    if not isinstance(sender, str) or not sender:
        raise InvalidValue(f"PersistenceService.submit: sender must be a non-empty str, was {sender!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise InvalidValue(f"PersistenceService.submit({sender!r}): seq must be an int >= 0, was {seq!r}")
    if not isinstance(records, list | tuple):
        raise InvalidValue(f"PersistenceService.submit({sender!r}, seq {seq}): records must be a list of records, "
                           f"was {type(records).__name__}")
    for i, record in enumerate(records):
        if type(record) not in _RECORD_TYPES:
            raise InvalidValue(
                f"PersistenceService.submit({sender!r}, seq {seq}): records[{i}] must be one of "
                f"{[t.__name__ for t in RECORD_TYPES]}, was {type(record).__name__}"
            )
    return list(records)

"""Non-blocking write path: an in-memory buffer, a background flusher, and a spill directory for outages.

The hot path calls :meth:`WriteBuffer.append` (a deque append, O(1), no I/O, no await). A background task ships
batches to the store. What happens to a batch:

* stored: the store took it (it skips rows it already holds, so replays add nothing twice);
* spilled: the store is unavailable (down, or failing transiently: disk full, deadlock, timeout, read-only after a
  failover): the batch goes to this writer's segment in the spill directory (:mod:`.spill_dir`), replayed in order
  once the store answers, chunk by chunk from where the last replay stopped, read off the event loop;
* quarantined: the store refused it for good (a constraint, a value it cannot take): the batch goes to the spill
  directory's ``quarantine/`` with the reason, is counted and logged, and the buffer goes on;
* kept in memory: the spill directory is at its cap or the disk is full; retried at the next flush. Past
  ``max_pending`` records in memory, new records are refused, counted in ``dropped`` and logged: the one
  explicit loss, when both the store and the disk have been unable to take anything for that long.

The store may be handed over unopened: the flusher opens it, and a store unreachable then is retried like an outage.
The flusher never stops on an error; :meth:`WriteBuffer.stop` always ends with a flush or a spill of what is left
(past the cap if need be), and only a full disk at that moment loses records (``lost``, logged).

Durability: records are in memory until the next flush (``flush_interval_s``); a crash in that window loses them.
Spilled batches are fsynced before they count as spilled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path
from typing import Final

import msgspec

from thalex_modular.platform.domain.storage import Record, Storage, StorageUnavailable

from .spill import encode_frame
from .spill_dir import Segment, SpillDirectory, SpillFull

log = logging.getLogger(__name__)
#: What encoding a record for a spill file can raise (an int outside msgpack's 64 bits).
_UNENCODABLE: Final = (msgspec.EncodeError, OverflowError, TypeError, ValueError)


class WriteBuffer:
    """Buffers records for a :class:`Storage`; never blocks the caller.

    Args:
        storage: where records go.
        spill_dir: the spill directory (may be shared with other writers; each has its own segment files).
        batch_size: records per write (one transaction / COPY) and per spill frame.
        flush_interval_s: the flusher runs at least this often (seconds).
        retry_interval_s: while the store is down, how often to try it again (seconds).
        max_spill_bytes: cap on the spill directory's size (None: the disk is the limit).
        max_pending: records kept in memory while neither the store nor the spill takes them; beyond, refused.
        segment_age_s: a spill segment is closed (replayable by other writers) once this old (seconds).
    """

    def __init__(
        self,
        storage: Storage,
        spill_dir: Path,
        *,
        batch_size: int = 10_000,
        flush_interval_s: float = 0.25,
        retry_interval_s: float = 1.0,
        max_spill_bytes: int | None = None,
        max_pending: int = 2_000_000,
        segment_age_s: float = 60.0,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"WriteBuffer.batch_size must be > 0, was {batch_size}")
        if max_pending < batch_size:
            raise ValueError(f"WriteBuffer.max_pending must be >= batch_size {batch_size}, was {max_pending}")
        self._storage = storage
        self.spill = SpillDirectory(spill_dir, max_bytes=max_spill_bytes, segment_age_s=segment_age_s)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._retry_interval_s = retry_interval_s
        self._max_pending = max_pending
        self._pending: deque[Record] = deque()
        self._unquarantined: list[tuple[list[Record], str]] = []  # refused batches the disk would not take yet
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_retry = 0.0
        self._opened = False  # the store has been opened once (by its owner, or here on a flush)
        self._spill_refused = False
        self._last_drop_log = 0.0
        self.store_down = False
        self.written = 0  # records the store accepted (including ones it already had)
        self.spilled = 0
        self.replayed = 0
        self.quarantined = 0
        self.bad_frames = 0  # damaged spill frames skipped on replay (their file is kept in damaged/)
        self.torn_bytes = 0  # incomplete last frames (a crash mid-write) found on replay
        self.dropped = 0  # refused by append: memory full while the store and the spill were both unavailable
        self.lost = 0  # left in memory when stop() could neither store nor spill them

    # -- hot path ---------------------------------------------------------------------------------------

    def append(self, record: Record) -> None:
        """Queue one record. O(1); wakes the flusher when a batch is full."""
        if len(self._pending) >= self._max_pending:
            self._drop()
            return
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def _drop(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 10.0:
            self._last_drop_log = now
            log.error("write buffer full (%d records in memory; the store and the spill directory %s take nothing): "
                      "%d records refused so far", len(self._pending), self.spill.path, self.dropped)

    @property
    def pending(self) -> int:
        """Records waiting in memory."""
        return len(self._pending) + sum(len(batch) for batch, _ in self._unquarantined)

    def summary(self) -> str:
        """The counters in one line."""
        return (f"written {self.written:,}, spilled {self.spilled:,}, replayed {self.replayed:,}, "
                f"quarantined {self.quarantined:,}, damaged frames {self.bad_frames:,}, dropped {self.dropped:,}, "
                f"lost {self.lost:,}, in memory {self.pending:,}")

    # -- background flusher -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flusher task on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="storage-write-buffer")
            self._task.add_done_callback(self._on_done)

    async def stop(self) -> None:
        """Stop the flusher, then flush; whatever the store will not take is spilled (past the cap if need be)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):  # _run logs its own failures
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("storage write buffer: last flush failed")
        await self._spill_at_stop()
        self.spill.close()

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("storage write buffer flusher failed", exc_info=task.exception())

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a bug must not stop the flusher: the records stay in memory for the next round
                log.exception("storage write buffer: flush failed; retrying")
                await asyncio.sleep(self._retry_interval_s)

    async def flush(self) -> None:
        """Ship everything pending: replay the spill first if the store is back, else spill."""
        await self._retry_quarantine()
        if self.store_down and time.monotonic() < self._next_retry:
            await self._spill_pending()
            return
        if not self._opened and not await self._open_store():
            await self._spill_pending()
            return
        if not await self._replay():
            await self._spill_pending()
            return
        while self._pending:
            batch = self._take()
            if not await self._write(batch):
                self._pending.extendleft(reversed(batch))
                await self._spill_pending()
                return
        self.store_down = False

    async def _open_store(self) -> bool:
        """Open the store (a no-op when its owner did); one that cannot be opened is retried like an outage."""
        try:
            await self._storage.open()
        except Exception as exc:
            self._mark_down(exc)
            return False
        self._opened = True
        return True

    async def _write(self, batch: list[Record]) -> bool:
        """Store ``batch`` or quarantine it (refused for good); False when the store is unavailable (untouched)."""
        try:
            await self._storage.write(batch)
        except StorageUnavailable as exc:
            self._mark_down(exc)
            return False
        except Exception as exc:  # permanent for this batch: keep it aside, go on with the next
            await self._quarantine(batch, f"{type(exc).__name__}: {exc}")
            return True
        self.written += len(batch)
        return True

    async def _quarantine(self, batch: list[Record], reason: str) -> None:
        try:
            path = await asyncio.to_thread(self.spill.quarantine, batch, reason)
        except OSError as exc:
            log.error("could not quarantine %d refused records (%s); kept in memory: %s", len(batch), exc, reason)
            self._unquarantined.append((batch, reason))
            return
        except _UNENCODABLE as exc:
            good = self._drop_unencodable(batch, exc)
            if good:
                await self._quarantine(good, reason)
            return
        self.quarantined += len(batch)
        log.error("the store refused %d records for good; quarantined in %s: %s", len(batch), path, reason)

    async def _retry_quarantine(self) -> None:
        held, self._unquarantined = self._unquarantined, []
        for batch, reason in held:
            await self._quarantine(batch, reason)

    def _take(self) -> list[Record]:
        n = min(self._batch_size, len(self._pending))
        return [self._pending.popleft() for _ in range(n)]

    async def _spill_pending(self, ignore_cap: bool = False) -> None:
        while self._pending:
            batch = self._take()
            if not await self._spill_batch(batch, ignore_cap):
                self._pending.extendleft(reversed(batch))
                return

    async def _spill_batch(self, batch: list[Record], ignore_cap: bool) -> bool:
        try:
            await asyncio.to_thread(self.spill.append, batch, ignore_cap=ignore_cap)
        except (SpillFull, OSError) as exc:
            if not self._spill_refused:
                log.warning("spill refused (%s): keeping records in memory (up to %d) and retrying", exc,
                            self._max_pending)
            self._spill_refused = True
            return False
        except _UNENCODABLE as exc:
            good = self._drop_unencodable(batch, exc)
            return not good or await self._spill_batch(good, ignore_cap)
        if self._spill_refused:
            log.info("spilling again to %s", self.spill.path)
        self._spill_refused = False
        self.spilled += len(batch)
        return True

    def _drop_unencodable(self, batch: list[Record], exc: Exception) -> list[Record]:
        """The records of ``batch`` a spill file can hold; the others (a value out of every range, a bug upstream)
        can be kept nowhere: counted as lost and logged one by one."""
        good: list[Record] = []
        for record in batch:
            try:
                encode_frame([record])
            except _UNENCODABLE:
                self.lost += 1
                log.error("record cannot be stored, spilled or quarantined (%s), lost: %r", exc, record)
                continue
            good.append(record)
        return good

    async def _spill_at_stop(self) -> None:
        await self._retry_quarantine()
        await self._spill_pending(ignore_cap=True)
        left = self.pending
        if left:
            self.lost += left
            log.error("storage write buffer stopped with %d records neither stored nor spilled (disk full?): lost",
                      left)
            self._pending.clear()
            self._unquarantined.clear()

    def _mark_down(self, exc: Exception) -> None:
        if not self.store_down:
            log.warning("storage unavailable, spilling to %s: %s", self.spill.path, exc)
        self.store_down = True
        self._next_retry = time.monotonic() + self._retry_interval_s

    # -- replay ---------------------------------------------------------------------------------------------

    async def _replay(self) -> bool:
        """Write every closed segment of the spill directory (this writer's included) to the store, oldest first.

        Returns False when the store became unavailable (the segment's offset is kept for the next try).
        """
        self.spill.rotate()
        for path in self.spill.segments():
            try:
                segment = await asyncio.to_thread(self.spill.claim, path)
            except OSError as exc:
                moved = await asyncio.to_thread(self.spill.move_aside, path)
                log.error("spill segment %s cannot be read (%s): moved to %s", path, exc, moved)
                continue
            if segment is not None and not await self._replay_segment(segment):
                return False
        return True

    async def _replay_segment(self, segment: Segment) -> bool:
        done = False
        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(segment.read, self._batch_size)
                except OSError as exc:  # the disk fails under it: keep the file, go on with the others
                    aside = await asyncio.to_thread(self.spill.move_aside, segment.path)
                    log.error("spill segment %s cannot be read (%s): moved to %s", segment.path, exc, aside)
                    return True
                if chunk.records and not await self._write(chunk.records):
                    return False
                segment.advance(chunk)
                self.replayed += len(chunk.records)
                self.bad_frames += chunk.bad_frames
                self.torn_bytes += chunk.torn_bytes
                if chunk.at_end:
                    break
            moved = await asyncio.to_thread(self.spill.finish, segment)
            done = True
        finally:
            if not done:
                self.spill.release(segment)
        if moved is not None:
            log.error("spill segment %s held %d damaged frames (skipped); kept as %s", segment.path,
                      segment.bad_frames, moved)
        elif segment.torn_bytes:
            log.warning("spill segment %s ended in an incomplete frame of %d bytes (a crash mid-write)",
                        segment.path, segment.torn_bytes)
        log.info("replayed spill segment %s", segment.path)
        return True

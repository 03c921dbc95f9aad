"""Non-blocking write path: an in-memory buffer, a background flusher, and a spill file for outages.

The hot path calls :meth:`WriteBuffer.append` (a deque append, O(1), no I/O, no await). A background task
ships batches to the store. When the store is unavailable, each batch is appended to a local spill file
(``msgpack`` frames: 4-byte big-endian length + a list of tagged records) instead of being dropped; when a
later write succeeds the spill file is replayed and deleted. Stores skip rows they already hold, so a replay
that is interrupted and rerun adds nothing twice. The store may be handed over unopened: the flusher opens it, and
a store unreachable then is retried like an outage (records spill meanwhile).

Durability: records are in memory until the next flush (``flush_interval_s``); a crash in that window loses
them. A torn final frame (crash mid-spill) is skipped on replay and reported in ``torn_frames``.
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

log = logging.getLogger(__name__)
_FRAME_HEADER: Final = 4
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Record])


def write_spill(path: Path, records: list[Record]) -> None:
    """Append one frame of records to the spill file (created if missing)."""
    payload = _encoder.encode(records)
    with path.open("ab") as f:
        f.write(len(payload).to_bytes(_FRAME_HEADER, "big") + payload)
        f.flush()


def read_spill(path: Path) -> tuple[list[list[Record]], int]:
    """All complete frames of a spill file, and the number of torn (truncated) trailing frames (0 or 1)."""
    data = path.read_bytes()
    frames: list[list[Record]] = []
    pos = 0
    while pos + _FRAME_HEADER <= len(data):
        size = int.from_bytes(data[pos : pos + _FRAME_HEADER], "big")
        end = pos + _FRAME_HEADER + size
        if end > len(data):
            return frames, 1
        frames.append(_decoder.decode(data[pos + _FRAME_HEADER : end]))
        pos = end
    return frames, int(pos != len(data))


class WriteBuffer:
    """Buffers records for a :class:`Storage`; never blocks the caller.

    Args:
        storage: where records go.
        spill_path: the append-only spill file used while the store is unavailable.
        batch_size: records per write (one transaction / COPY).
        flush_interval_s: the flusher runs at least this often (seconds).
        retry_interval_s: while the store is down, how often to try replaying the spill file (seconds).
    """

    def __init__(
        self,
        storage: Storage,
        spill_path: Path,
        *,
        batch_size: int = 10_000,
        flush_interval_s: float = 0.25,
        retry_interval_s: float = 1.0,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"WriteBuffer.batch_size must be > 0, was {batch_size}")
        self._storage = storage
        self.spill_path = spill_path
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._retry_interval_s = retry_interval_s
        self._pending: deque[Record] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_retry = 0.0
        self._opened = False  # the store has been opened once (by its owner, or here on a flush)
        self.store_down = False
        self.written = 0  # records the store accepted (including ones it already had)
        self.spilled = 0
        self.replayed = 0
        self.torn_frames = 0

    # -- hot path ---------------------------------------------------------------------------------------

    def append(self, record: Record) -> None:
        """Queue one record. O(1); wakes the flusher when a batch is full."""
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records waiting in memory."""
        return len(self._pending)

    # -- background flusher -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flusher task on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="storage-write-buffer")
            self._task.add_done_callback(self._on_done)

    async def stop(self) -> None:
        """Stop the flusher after a last flush (spilling whatever the store will not take)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("storage write buffer flusher failed", exc_info=task.exception())

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Ship everything pending: replay the spill file first if the store is back, else spill."""
        if self.store_down and time.monotonic() < self._next_retry:
            await self._spill_pending()
            return
        if not self._opened and not await self._open_store():
            await self._spill_pending()
            return
        if self.spill_path.exists() and not await self._replay():
            await self._spill_pending()
            return
        while self._pending:
            batch = self._take()
            try:
                await self._storage.write(batch)
            except StorageUnavailable as exc:
                self._mark_down(exc)
                await asyncio.to_thread(write_spill, self.spill_path, batch)
                self.spilled += len(batch)
                await self._spill_pending()
                return
            self.written += len(batch)
        self.store_down = False

    async def _open_store(self) -> bool:
        """Open the store (a no-op when its owner did): a store unreachable at start is retried like an outage."""
        try:
            await self._storage.open()
        except StorageUnavailable as exc:
            self._mark_down(exc)
            return False
        self._opened = True
        return True

    def _take(self) -> list[Record]:
        n = min(self._batch_size, len(self._pending))
        return [self._pending.popleft() for _ in range(n)]

    async def _spill_pending(self) -> None:
        while self._pending:
            batch = self._take()
            await asyncio.to_thread(write_spill, self.spill_path, batch)
            self.spilled += len(batch)

    def _mark_down(self, exc: Exception) -> None:
        if not self.store_down:
            log.warning("storage unavailable, spilling to %s: %s", self.spill_path, exc)
        self.store_down = True
        self._next_retry = time.monotonic() + self._retry_interval_s

    async def _replay(self) -> bool:
        """Write the spill file's records to the store; delete the file once all are stored."""
        frames, torn = await asyncio.to_thread(read_spill, self.spill_path)
        records = [r for frame in frames for r in frame]
        for start in range(0, len(records), self._batch_size):
            batch = records[start : start + self._batch_size]
            try:
                await self._storage.write(batch)
            except StorageUnavailable as exc:
                self._mark_down(exc)
                return False
        self.replayed += len(records)
        self.torn_frames += torn
        self.spill_path.unlink()
        self.store_down = False
        log.info("replayed %d spilled records from %s", len(records), self.spill_path)
        return True

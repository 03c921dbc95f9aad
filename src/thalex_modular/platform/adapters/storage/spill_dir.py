"""A spill directory shared safely by several writers: one segment file per writer, locked while in use.

Layout of ``<dir>``::

    <ns>-<pid>-<rand>.spill      segments: frames of records (:mod:`.spill`), named so that they sort by age
    quarantine/<same>.spill      batches the store refused for good, with <same>.txt saying why (never replayed)
    damaged/<name>               files that could not be read whole; moved here, never deleted

A writer appends only to its own current segment and holds an exclusive ``flock`` on it. It closes it (rotation)
once it is ``segment_bytes`` large or ``segment_age_s`` old, and before replaying: a closed segment belongs to
whoever locks it next. A replayer claims a closed segment by locking it (and checking it is still the file of that
name), reads it chunk by chunk from the offset where an earlier replay stopped, and deletes it once every record is
stored; a segment that held damaged frames is moved to ``damaged/`` instead. Frames another writer appends
meanwhile go to that writer's own segment, which nobody else touches while it is locked.

The directory's size is capped (``max_bytes``, all segments of all writers): past it, or when the disk is full, an
append raises :class:`SpillFull` / ``OSError`` and the caller keeps the batch in memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from thalex_modular.platform.domain.storage import Record, StorageError

from .spill import Chunk, SpillWriter, encode_frame, is_v1, read_frames, read_frames_v1

SUFFIX: Final = ".spill"
QUARANTINE: Final = "quarantine"
DAMAGED: Final = "damaged"


class SpillFull(StorageError):
    """The spill directory reached its size cap; the batch was not written."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Segment:
    """A closed segment this process has locked for replay. ``offset``: where the next read starts."""

    path: Path
    fd: int
    offset: int
    legacy: bool = False
    bad_frames: int = 0
    torn_bytes: int = 0

    def read(self, max_records: int) -> Chunk:
        """The next records (at least ``max_records`` unless the end comes first), from ``offset``; blocking."""
        size = os.fstat(self.fd).st_size
        if size <= self.offset:
            return Chunk(self.offset, self.offset, at_end=True)
        with mmap.mmap(self.fd, size, access=mmap.ACCESS_READ) as data:
            if self.offset == 0:
                self.legacy = is_v1(data)
            return (read_frames_v1 if self.legacy else read_frames)(data, self.offset, max_records)

    def advance(self, chunk: Chunk) -> None:
        """The chunk's records are stored: the next read starts after it."""
        self.offset = chunk.end
        self.bad_frames += chunk.bad_frames
        self.torn_bytes += chunk.torn_bytes


class SpillDirectory:
    """One writer's view of a spill directory (see the module doc).

    Args:
        path: the directory (created 0700 if missing).
        max_bytes: cap on the size of all segments in it (None: no cap but the disk).
        segment_bytes: a segment is closed once this large.
        segment_age_s: ... or once this old (seconds), so others can replay it while this writer lives.
    """

    def __init__(
        self, path: Path, *, max_bytes: int | None = None, segment_bytes: int = 64 << 20, segment_age_s: float = 60.0
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._segment_age_s = segment_age_s
        self.writer_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._current: SpillWriter | None = None
        self._opened_at = 0.0
        self._quarantine: SpillWriter | None = None
        # (st_dev, st_ino) -> (offset, first format?, bad frames, torn bytes) of a segment partly replayed here
        self._resume: dict[tuple[int, int], tuple[int, bool, int, int]] = {}

    # -- writing ----------------------------------------------------------------------------------------------

    def append(self, records: Sequence[Record], *, ignore_cap: bool = False) -> int:
        """Append one batch to this writer's segment (fsynced); returns its size in bytes.

        Raises:
            SpillFull: the directory would exceed ``max_bytes`` (unless ``ignore_cap``); OSError: the disk refused
                it (nothing was kept).
        """
        frame = encode_frame(records)
        if self.max_bytes is not None and not ignore_cap:
            used = self.used_bytes()
            if used + len(frame) > self.max_bytes:
                raise SpillFull(
                    f"spill directory {self.path} holds {used:,} bytes; a batch of {len(frame):,} would pass its "
                    f"cap of {self.max_bytes:,}"
                )
        self.maybe_rotate()
        if self._current is None:
            self._current = self._new_segment()
        self._current.append(frame)
        return len(frame)

    def maybe_rotate(self) -> None:
        """Close the current segment if it is large or old enough."""
        current = self._current
        if current is not None and (
            current.size >= self._segment_bytes or time.monotonic() - self._opened_at >= self._segment_age_s
        ):
            self.rotate()

    def rotate(self) -> None:
        """Close this writer's current segment (unlocking it): from now on it is replayable by anyone."""
        current, self._current = self._current, None
        if current is not None:
            if current.size == 0:
                with contextlib.suppress(FileNotFoundError):
                    current.path.unlink()
            current.close()

    def _new_segment(self) -> SpillWriter:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        writer = SpillWriter(self.path / f"{time.time_ns():020d}-{self.writer_id}{SUFFIX}")
        try:
            fcntl.flock(writer.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _fsync_dir(self.path)
        except BaseException:
            writer.close()
            raise
        self._opened_at = time.monotonic()
        return writer

    def used_bytes(self) -> int:
        """Bytes in all segments of the directory (every writer's)."""
        total = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(self.path) as entries:
            for entry in entries:
                if entry.name.endswith(SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        total += entry.stat().st_size
        return total

    def adopt(self, path: Path) -> Path:
        """Move a spill file from elsewhere (e.g. an older version's single spill file) into the directory as a
        closed segment, replayed before the others; returns its new path."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path / f"{0:020d}-adopted-{time.time_ns()}{SUFFIX}"
        path.rename(target)
        return target

    # -- replay ---------------------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Segments other than this writer's current one, oldest first (some may be locked by their writers)."""
        current = None if self._current is None else self._current.path
        try:
            names = sorted(e.name for e in os.scandir(self.path) if e.name.endswith(SUFFIX) and e.is_file())
        except FileNotFoundError:
            return []
        return [self.path / n for n in names if self.path / n != current]

    def claim(self, path: Path) -> Segment | None:
        """Lock a closed segment for replay; None when another process holds it or it is gone.

        Raises:
            OSError: it exists but cannot be opened (the caller moves it aside).
        """
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != _identity(path):  # replayed and deleted by another process meanwhile
                os.close(fd)
                return None
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return Segment(path, fd, *self._resume.get((st.st_dev, st.st_ino), (0, False, 0, 0)))

    def release(self, segment: Segment) -> None:
        """Unlock a segment that is not done; a later claim (by this process) resumes at its offset."""
        st = os.fstat(segment.fd)
        self._resume[(st.st_dev, st.st_ino)] = (segment.offset, segment.legacy, segment.bad_frames, segment.torn_bytes)
        os.close(segment.fd)

    def finish(self, segment: Segment) -> Path | None:
        """Every record of the segment is stored: delete it, or move it to ``damaged/`` (returned) when some of its
        frames were damaged."""
        st = os.fstat(segment.fd)
        self._resume.pop((st.st_dev, st.st_ino), None)
        try:
            if segment.bad_frames:
                return self.move_aside(segment.path)
            segment.path.unlink()
            return None
        finally:
            os.close(segment.fd)

    def move_aside(self, path: Path) -> Path:
        """Move a file that cannot be replayed whole into ``damaged/`` (never deleted); returns its new path."""
        target_dir = self.path / DAMAGED
        target_dir.mkdir(mode=0o700, exist_ok=True)
        target = target_dir / f"{path.name}.{time.time_ns()}"
        path.rename(target)
        return target

    # -- quarantine -----------------------------------------------------------------------------------------

    def quarantine(self, records: Sequence[Record], reason: str) -> Path:
        """Keep a batch the store refused for good in ``quarantine/`` with the reason; returns the file.

        Raises:
            OSError: it could not be written (the caller keeps the batch in memory).
        """
        if self._quarantine is None:
            target_dir = self.path / QUARANTINE
            target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._quarantine = SpillWriter(target_dir / f"{time.time_ns():020d}-{self.writer_id}{SUFFIX}")
            _fsync_dir(target_dir)
        self._quarantine.append(encode_frame(records))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._quarantine.path.with_suffix(".txt").open("a") as notes:
            notes.write(f"{stamp}\t{len(records)} records\t{' '.join(reason.split())[:2000]}\n")
        return self._quarantine.path

    def close(self) -> None:
        """Close this writer's files (its last segment becomes replayable by others)."""
        self.rotate()
        if self._quarantine is not None:
            self._quarantine.close()
            self._quarantine = None


def _identity(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_dev, st.st_ino)

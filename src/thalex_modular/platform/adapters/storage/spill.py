"""The spill file format: framed, checksummed batches of records, appended and fsynced one batch at a time.

A frame is a 12-byte header (``b"TMS2"``, the payload's length and its CRC-32, both big-endian u32) and the
payload (a msgpack list of tagged records). Reading checks every frame: a frame whose header, length or checksum
does not hold, or whose payload does not decode, is skipped and counted, and reading resumes at the next header that
checks out, so one damaged frame never hides the good ones after it. An incomplete frame at the very end (the
process died while writing it) is a torn tail: counted, and cut when a writer opens the file to append.

Files of the first format (4-byte length + payload, no header magic or checksum) are still read, so a spill left
by an older version is replayed rather than lost; their quote records get the exchange-time column of migration 5.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from thalex_modular.platform.domain.storage import (
    CandleFetchRecord,
    CandleRecord,
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    QuoteRecord,
    Record,
    TradeRecord,
)

MAGIC: Final = b"TMS2"
HEADER: Final = struct.Struct(">4sII")
#: A header claiming a larger payload is damaged (a batch of 10k records is ~1 MB).
MAX_PAYLOAD: Final = 1 << 30
_V1_LENGTH: Final = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Record])


class QuoteRecordV1(msgspec.Struct, frozen=True, gc=False, tag="quote"):
    """A quote as the first spill format stored it (before migration 5's exchange-time column)."""

    instrument_name: str
    ts_ns: int
    seq: int
    bid_price: float
    bid_amount: float
    ask_price: float
    ask_amount: float
    mark_price: float
    ts_local_ns: int

    def upgrade(self) -> QuoteRecord:
        """``ts_ns`` equal to ``ts_local_ns`` meant "no exchange time" (the receive time stood in for it)."""
        exchange_ns = None if self.ts_ns == self.ts_local_ns else self.ts_ns
        return QuoteRecord(
            self.instrument_name, self.ts_ns, self.seq, self.bid_price, self.bid_amount, self.ask_price,
            self.ask_amount, self.mark_price, self.ts_local_ns, exchange_ns,
        )


_V1Record = (
    TradeRecord | QuoteRecordV1 | OrderRecord | FillRecord | PositionRecord | EquityRecord | CandleRecord
    | CandleFetchRecord
)
_v1_decoder = msgspec.msgpack.Decoder(list[_V1Record])


def encode_frame(records: Sequence[Record]) -> bytes:
    """One frame holding ``records``."""
    payload = _encoder.encode(records)
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


@dataclass
class Chunk:
    """What one read from ``start`` found.

    ``end`` is where the next read starts; ``bad_frames`` frames were damaged and skipped; ``torn_bytes`` is the size
    of an incomplete frame at the end of the file (0 unless ``at_end``).
    """

    start: int
    end: int = 0
    records: list[Record] = field(default_factory=list)
    frames: int = 0
    bad_frames: int = 0
    torn_bytes: int = 0
    at_end: bool = False


def _frame_at(data: mmap.mmap | bytes, pos: int) -> int:
    """The end offset of the valid frame at ``pos`` (header and checksum hold), or -1."""
    if len(data) - pos < HEADER.size:
        return -1
    magic, length, crc = HEADER.unpack_from(data, pos)
    end = pos + HEADER.size + length
    if magic != MAGIC or length > MAX_PAYLOAD or end > len(data):
        return -1
    return end if zlib.crc32(data[pos + HEADER.size : end]) == crc else -1


def _is_torn(data: mmap.mmap | bytes, pos: int) -> bool:
    """Whether the bytes from ``pos`` to the end are the beginning of a frame cut short (not a damaged one)."""
    rest = len(data) - pos
    if rest < HEADER.size:
        return bytes(data[pos : pos + min(rest, len(MAGIC))]) == MAGIC[: min(rest, len(MAGIC))]
    magic, length, _ = HEADER.unpack_from(data, pos)
    return bool(magic == MAGIC and length <= MAX_PAYLOAD and pos + HEADER.size + length > len(data))


def _next_frame(data: mmap.mmap | bytes, start: int) -> int:
    """The offset of the next valid frame at or after ``start``, or -1."""
    pos = data.find(MAGIC, start)
    while pos >= 0:
        if _frame_at(data, pos) >= 0:
            return pos
        pos = data.find(MAGIC, pos + 1)
    return -1


def read_frames(data: mmap.mmap | bytes, start: int, max_records: int) -> Chunk:
    """Frames from offset ``start`` until at least ``max_records`` records or the end of ``data``."""
    chunk = Chunk(start)
    pos, size = start, len(data)
    while pos < size and len(chunk.records) < max_records:
        end = _frame_at(data, pos)
        if end < 0:
            resume = _next_frame(data, pos + 1)
            if resume < 0 and _is_torn(data, pos):
                chunk.torn_bytes = size - pos
            else:
                chunk.bad_frames += 1
            pos = size if resume < 0 else resume
            continue
        try:
            chunk.records.extend(_decoder.decode(data[pos + HEADER.size : end]))
            chunk.frames += 1
        except (msgspec.DecodeError, msgspec.ValidationError):
            chunk.bad_frames += 1
        pos = end
    chunk.end, chunk.at_end = pos, pos >= size
    return chunk


def read_frames_v1(data: mmap.mmap | bytes, start: int, max_records: int) -> Chunk:
    """Frames of the first format (no magic or checksum: the first undecodable frame ends the file as damaged)."""
    chunk = Chunk(start)
    pos, size = start, len(data)
    while pos < size and len(chunk.records) < max_records:
        if size - pos < _V1_LENGTH.size:
            chunk.torn_bytes = size - pos
            pos = size
            break
        end = pos + _V1_LENGTH.size + _V1_LENGTH.unpack_from(data, pos)[0]
        if end > size:
            chunk.torn_bytes = size - pos
            pos = size
            break
        try:
            records = _v1_decoder.decode(data[pos + _V1_LENGTH.size : end])
        except (msgspec.DecodeError, msgspec.ValidationError):
            chunk.bad_frames += 1  # without a checksum nothing after it can be trusted to start a frame
            pos = size
            break
        chunk.records += [r.upgrade() if isinstance(r, QuoteRecordV1) else r for r in records]
        chunk.frames += 1
        pos = end
    chunk.end, chunk.at_end = pos, pos >= size
    return chunk


def is_v1(data: mmap.mmap | bytes) -> bool:
    """Whether ``data`` (a whole file) is of the first format."""
    return len(data) >= _V1_LENGTH.size and data[: len(MAGIC)] != MAGIC


def valid_length(data: mmap.mmap | bytes) -> int:
    """The offset after the last valid frame that only valid or damaged frames precede (where a torn tail begins)."""
    pos = last = 0
    while pos < len(data):
        end = _frame_at(data, pos)
        if end >= 0:
            pos = last = end
            continue
        pos = _next_frame(data, pos + 1)
        if pos < 0:
            break
    return last


class SpillWriter:
    """Appends frames to one file; each append is fsynced before it returns (a batch boundary).

    Opening an existing file cuts its torn tail first, so appends never land after half a frame. A failed append
    (disk full) is cut back, so the file stays whole frames.

    Args:
        path: the file (created 0600 if missing; a symlink is refused).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        self.fd = os.open(path, flags, 0o600)
        self.torn_bytes_cut = 0
        try:
            self.size = self._cut_torn_tail()
        except BaseException:
            os.close(self.fd)
            raise

    def _cut_torn_tail(self) -> int:
        size = os.fstat(self.fd).st_size
        if size == 0:
            return 0
        with mmap.mmap(self.fd, size, access=mmap.ACCESS_READ) as data:
            keep = size if is_v1(data) else valid_length(data)
        if keep < size:
            os.ftruncate(self.fd, keep)
            os.fsync(self.fd)
            self.torn_bytes_cut = size - keep
        return keep

    def append(self, frame: bytes) -> None:
        """Write one frame at the end and fsync.

        Raises:
            OSError: the write failed (e.g. ENOSPC); the file is cut back to its previous size.
        """
        try:
            written = 0
            while written < len(frame):
                written += os.pwrite(self.fd, frame[written:], self.size + written)
            os.fsync(self.fd)
        except OSError:
            with contextlib.suppress(OSError):  # if even this fails, the next open cuts the torn tail
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(frame)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

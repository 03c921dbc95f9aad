"""Issue 13 item 2: damaged spill files. Frames carry a length and a checksum; a half-written tail is cut when a
writer opens the file; damaged frames are skipped and counted, the good ones after them still read; a segment that
held damaged frames, or a file that cannot be read, is moved aside, never deleted; an older version's spill file is
still replayed."""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import msgspec
from storage_kit import Backend, random_trades
from test_outage import spill_files, started_buffer, wait_for

from thalex_modular.platform.adapters.storage import EmbeddedStorage
from thalex_modular.platform.adapters.storage.spill import (
    HEADER,
    QuoteRecordV1,
    SpillWriter,
    encode_frame,
    read_frames,
)
from thalex_modular.platform.adapters.storage.spill_dir import DAMAGED, SpillDirectory
from thalex_modular.platform.domain.storage import QuoteRecord, Record, TradeRecord

TRADES = random_trades(60, seed=31)
BATCHES = [TRADES[i : i + 10] for i in range(0, 60, 10)]


def write_frames(path: Path, batches: list[list[TradeRecord]]) -> list[int]:
    """Append one frame per batch; returns each frame's start offset."""
    starts = []
    writer = SpillWriter(path)
    for batch in batches:
        starts.append(writer.size)
        writer.append(encode_frame(batch))
    writer.close()
    return starts


def read_all(path: Path) -> tuple[list[Record], int, int]:
    chunk = read_frames(path.read_bytes(), 0, 10**9)
    return chunk.records, chunk.bad_frames, chunk.torn_bytes


def test_a_crash_mid_write_then_appends_after_it_loses_only_the_torn_frame(tmp_path: Path) -> None:
    # Arrange: two frames, half of a third (the process died), and a next run appending two more after it
    path = tmp_path / "a.spill"
    write_frames(path, BATCHES[:2])
    with path.open("ab") as f:
        f.write(encode_frame(BATCHES[2])[:57])

    # Act: before, the next run appended after the half frame and every later read failed
    with path.open("ab") as f:
        for batch in BATCHES[3:5]:
            f.write(encode_frame(batch))
    records, bad, torn = read_all(path)

    # Assert: every whole frame is read; the torn one is counted
    assert records == [t for b in BATCHES[:2] + BATCHES[3:5] for t in b]
    assert (bad, torn) == (1, 0)


def test_a_frame_claiming_more_bytes_than_follow_does_not_hide_the_frames_after_it(tmp_path: Path) -> None:
    # Arrange: the third frame's length field is damaged to claim 1 MB
    path = tmp_path / "a.spill"
    starts = write_frames(path, BATCHES)
    data = bytearray(path.read_bytes())
    struct.pack_into(">I", data, starts[2] + 4, 1 << 20)
    path.write_bytes(bytes(data))

    # Act: before, the reader stopped there, called the rest torn, and the replay deleted the file
    records, bad, torn = read_all(path)

    # Assert
    assert records == [t for i, b in enumerate(BATCHES) if i != 2 for t in b]
    assert (bad, torn) == (1, 0)


def test_frames_damaged_at_random_offsets_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "a.spill"
    starts = write_frames(path, BATCHES)
    ends = [*starts[1:], path.stat().st_size]
    rng = random.Random(7)
    for _ in range(20):
        # Arrange: flip one byte somewhere
        data = bytearray(path.read_bytes())
        at = rng.randrange(len(data))
        data[at] ^= 0xFF
        damaged = next(i for i, (lo, hi) in enumerate(zip(starts, ends, strict=True)) if lo <= at < hi)
        # Act
        records, bad, torn = read_all_bytes(bytes(data))
        # Assert: exactly the damaged frame is lost, and it is counted (the last one as a torn tail if its length
        # field now claims more than follows)
        assert records == [t for i, b in enumerate(BATCHES) if i != damaged for t in b], at
        assert bad + (torn > 0) == 1, at


def read_all_bytes(data: bytes) -> tuple[list[Record], int, int]:
    chunk = read_frames(data, 0, 10**9)
    return chunk.records, chunk.bad_frames, chunk.torn_bytes


def test_a_writer_opening_a_file_cuts_its_torn_tail_first(tmp_path: Path) -> None:
    # Arrange: a file ending in half a frame
    path = tmp_path / "a.spill"
    write_frames(path, BATCHES[:2])
    whole = path.stat().st_size
    with path.open("ab") as f:
        f.write(encode_frame(BATCHES[2])[: HEADER.size + 5])

    # Act
    writer = SpillWriter(path)
    writer.append(encode_frame(BATCHES[3]))
    writer.close()

    # Assert: the half frame is gone, the new frame follows the whole ones, nothing is reported damaged
    assert writer.torn_bytes_cut == HEADER.size + 5
    records, bad, torn = read_all(path)
    assert records == [t for b in (BATCHES[0], BATCHES[1], BATCHES[3]) for t in b]
    assert (bad, torn) == (0, 0) and path.stat().st_size > whole


async def test_replay_stores_the_good_frames_and_keeps_the_damaged_file(backend: Backend, tmp_path: Path) -> None:
    # Arrange: a segment left in the spill directory with its third frame damaged (one byte of its payload)
    spill = tmp_path / "spill"
    spill.mkdir()
    segment = spill / "00000000000000000001-dead-beef.spill"
    starts = write_frames(segment, BATCHES)
    data = bytearray(segment.read_bytes())
    data[starts[2] + HEADER.size + 3] ^= 0x55
    segment.write_bytes(bytes(data))
    store = backend.make()

    # Act
    buffer = started_buffer(store, tmp_path)
    await wait_for(lambda: buffer.replayed >= 50)
    await buffer.stop()

    # Assert: the 50 good records stored, the bad frame counted, the file moved aside (not deleted)
    assert await store.count("trades") == 50
    assert buffer.bad_frames == 1 and not spill_files(buffer)
    kept = list((spill / DAMAGED).iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)
    await store.close()


async def test_a_file_that_cannot_be_read_is_moved_aside(tmp_path: Path) -> None:
    # Arrange: a "segment" that is a symlink (refused: never followed) next to a good segment
    spill = tmp_path / "spill"
    spill.mkdir()
    write_frames(spill / "00000000000000000002-good-0001.spill", BATCHES[:1])
    (tmp_path / "elsewhere").write_text("not a spill file")
    (spill / "00000000000000000001-link-0001.spill").symlink_to(tmp_path / "elsewhere")
    store = EmbeddedStorage(tmp_path / "store.duckdb")

    # Act
    buffer = started_buffer(store, tmp_path)
    await wait_for(lambda: buffer.replayed >= 10)
    await buffer.stop()

    # Assert: the good one replayed; the unreadable one kept in damaged/, its target untouched
    assert await store.count("trades") == 10
    kept = list((spill / DAMAGED).iterdir())
    assert len(kept) == 1 and kept[0].is_symlink()
    assert (tmp_path / "elsewhere").read_text() == "not a spill file"
    await store.close()


async def test_an_earlier_versions_spill_file_is_adopted_and_replayed(tmp_path: Path) -> None:
    # Arrange: the first format (4-byte length + msgpack, no checksum), with trades and quotes of that time (one
    # without exchange time: ts_ns == ts_local_ns), and a torn last frame
    legacy = tmp_path / "record-spill.msgpack"
    old_quotes = [QuoteRecordV1("BTC-PERPETUAL", 5, 0, 1.0, 1.0, 2.0, 1.0, 1.5, 9),
                  QuoteRecordV1("BTC-PERPETUAL", 7, 0, 1.0, 1.0, 2.0, 1.0, 1.5, 7)]
    with legacy.open("wb") as f:
        for payload in (msgspec.msgpack.encode(TRADES[:30]), msgspec.msgpack.encode(old_quotes),
                        msgspec.msgpack.encode(TRADES[30:40])):
            f.write(len(payload).to_bytes(4, "big") + payload)
        f.write((500).to_bytes(4, "big") + b"torn")
    spill = SpillDirectory(tmp_path / "spill")
    store = EmbeddedStorage(tmp_path / "store.duckdb")

    # Act
    spill.adopt(legacy)
    buffer = started_buffer(store, tmp_path)
    await wait_for(lambda: buffer.replayed >= 42)
    await buffer.stop()

    # Assert: all of it stored, the quotes with their exchange time where they had one
    assert await store.count("trades") == 40 and not legacy.exists()
    quotes = sorted(await store.fetch_rows("quotes"), key=lambda r: r[1])
    ts_exchange = QuoteRecord.__struct_fields__.index("ts_exchange_ns")
    assert [(q[1], q[ts_exchange]) for q in quotes] == [(5, 5), (7, None)]
    assert buffer.torn_bytes == 8 and buffer.bad_frames == 0
    await store.close()


def test_segments_are_private_files(tmp_path: Path) -> None:
    spill = SpillDirectory(tmp_path / "spill")
    spill.append(BATCHES[0])
    (segment,) = (tmp_path / "spill").glob("*.spill")
    assert os.stat(tmp_path / "spill").st_mode & 0o777 == 0o700
    assert segment.stat().st_mode & 0o777 == 0o600
    spill.close()


class _QuoteRecordV5(msgspec.Struct, frozen=True, gc=False, tag="quote"):
    """A quote as spill frames held it before migration 7 (no funding rate, no index)."""

    instrument_name: str
    ts_ns: int
    seq: int
    bid_price: float
    bid_amount: float
    ask_price: float
    ask_amount: float
    mark_price: float
    ts_local_ns: int
    ts_exchange_ns: int | None


def test_a_frame_written_before_migration_7_reads_its_quotes_without_funding(tmp_path: Path) -> None:
    # Arrange: a frame of an earlier version's quote, written by that version's encoder
    path = tmp_path / "old.spill"
    payload = msgspec.msgpack.encode([_QuoteRecordV5("BTC-PERPETUAL", 5, 0, 1.0, 1.0, 2.0, 1.0, 1.5, 9, 5)])
    path.write_bytes(HEADER.pack(b"TMS2", len(payload), zlib.crc32(payload)) + payload)
    # Act
    records, bad, torn = read_all(path)
    # Assert: read whole, funding unknown (NaN), not 0
    assert (bad, torn) == (0, 0) and len(records) == 1
    quote = records[0]
    assert isinstance(quote, QuoteRecord) and quote.bid_price == 1.0 and quote.ts_exchange_ns == 5
    assert quote.funding_rate_24h != quote.funding_rate_24h and quote.index_price != quote.index_price

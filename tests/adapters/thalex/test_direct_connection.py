"""DirectClientConnection: messages handled inside data_received, in order, a drain per received chunk."""

from __future__ import annotations

import asyncio

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from thalex_modular.platform.adapters.exchanges.thalex.direct_connection import DirectClientConnection


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None


def _frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=False, extensions=[])  # server frames are not masked


def _open_connection() -> DirectClientConnection:
    conn = DirectClientConnection(ClientProtocol(parse_uri("ws://127.0.0.1/ws"), state=State.OPEN))
    conn.connection_made(_Transport())
    conn.response = Response(101, "Switching Protocols", Headers())  # the handshake is done
    return conn


async def test_chunk_messages_in_order_then_one_drain_and_fragments_joined() -> None:
    conn = _open_connection()
    seen: list[bytes | str] = []
    conn.data_received(_frame(Opcode.TEXT, b"early"))  # before attach: kept
    # Act
    conn.attach(seen.append, lambda: seen.append("drained"))
    conn.data_received(
        _frame(Opcode.TEXT, b'{"a":1}') + _frame(Opcode.TEXT, b'{"b":', fin=False) + _frame(Opcode.CONT, b"2}")
    )
    conn.data_received(_frame(Opcode.PING, b"p"))  # no data message: no drain
    conn.data_received(_frame(Opcode.TEXT, b'{"c":3}'))
    # Assert
    assert seen == [b"early", "drained", b'{"a":1}', b'{"b":2}', "drained", b'{"c":3}', "drained"]


async def test_send_text_now_writes_one_masked_text_frame_or_declines() -> None:
    conn = _open_connection()
    transport = conn.transport
    assert isinstance(transport, _Transport)
    # Act: the usual case, written at once
    assert conn.send_text_now(b'{"method":"public/time","params":{},"id":1}')
    # Assert: one client (masked) text frame carrying the payload
    assert len(transport.written) == 1
    server = ServerProtocol(state=State.OPEN)  # parses (and unmasks) what a server would receive
    server.receive_data(transport.written[0])
    (frame,) = server.events_received()
    assert isinstance(frame, Frame)
    assert frame.opcode is Opcode.TEXT and frame.data == b'{"method":"public/time","params":{},"id":1}'
    # a paused transport (full buffer) or a closing connection: nothing written, the caller uses send()
    conn.paused = True
    assert not conn.send_text_now(b"{}")
    conn.paused = False
    conn.protocol.state = State.CLOSING
    assert not conn.send_text_now(b"{}")
    assert len(transport.written) == 1


def _received_by_server(written: list[bytes]) -> list[Frame]:
    server = ServerProtocol(state=State.OPEN)
    server.receive_data(b"".join(written))
    return [event for event in server.events_received() if isinstance(event, Frame)]


async def test_whole_data_frames_skip_websockets_parser_and_others_go_through_it() -> None:
    conn = _open_connection()
    seen: list[bytes | str] = []
    conn.attach(seen.append, lambda: seen.append("drained"))
    big = b"x" * 70_000  # 64-bit length field
    # Act: whole data frames, one chunk each or several per chunk: split here
    conn.data_received(_frame(Opcode.TEXT, b'{"a":1}'))
    conn.data_received(_frame(Opcode.TEXT, b"m" * 300) + _frame(Opcode.BINARY, big))
    # Assert: delivered in order, one drain per chunk, websockets' parser never saw them
    assert seen == [b'{"a":1}', "drained", b"m" * 300, big, "drained"]
    assert conn.fast_chunks == 2 and not conn.protocol.reader.buffer
    # a ping in the chunk: websockets parses the whole chunk and answers with a pong
    seen.clear()
    conn.data_received(_frame(Opcode.TEXT, b'{"b":2}') + _frame(Opcode.PING, b"p"))
    assert seen == [b'{"b":2}', "drained"] and conn.fast_chunks == 2
    (pong,) = _received_by_server(conn.transport.written)  # type: ignore[attr-defined]
    assert pong.opcode is Opcode.PONG and pong.data == b"p"
    # back at a frame boundary: the next whole frame takes the fast path again
    conn.data_received(_frame(Opcode.TEXT, b'{"c":3}'))
    assert seen[-2:] == [b'{"c":3}', "drained"] and conn.fast_chunks == 3


async def test_a_frame_cut_across_chunks_goes_through_websockets_until_a_boundary() -> None:
    conn = _open_connection()
    seen: list[bytes | str] = []
    conn.attach(seen.append, lambda: seen.append("drained"))
    frame = _frame(Opcode.TEXT, b"y" * 200)  # a 4-byte header (16-bit length)
    # Act: the header alone (websockets consumes it and waits for the payload with an empty buffer), then the
    # payload with the start of the next frame, then its rest
    conn.data_received(frame[:4])
    assert seen == [] and not conn.protocol.reader.buffer
    conn.data_received(frame[4:] + frame[:10])
    conn.data_received(frame[10:])
    conn.data_received(_frame(Opcode.TEXT, b'{"d":4}'))
    # Assert: nothing lost, nothing doubled, in order; the fast path resumed only at the boundary
    assert seen == [b"y" * 200, "drained", b"y" * 200, "drained", b'{"d":4}', "drained"]
    assert conn.fast_chunks == 1


async def test_fragments_masked_or_oversized_frames_are_left_to_websockets() -> None:
    conn = _open_connection()
    seen: list[bytes | str] = []
    conn.attach(seen.append, lambda: seen.append("drained"))
    # Act / Assert: a fragmented message is joined by the websockets path
    conn.data_received(_frame(Opcode.TEXT, b'{"e":', fin=False))
    conn.data_received(_frame(Opcode.CONT, b"5}"))
    assert seen == [b'{"e":5}', "drained"] and conn.fast_chunks == 0
    # a masked frame from the server is websockets' protocol error: it fails the connection
    conn.data_received(Frame(Opcode.TEXT, b"{}").serialize(mask=True, extensions=[]))
    assert conn.protocol.state is State.CLOSING and seen == [b'{"e":5}', "drained"]


async def test_oversized_frame_is_refused_by_websockets() -> None:
    conn = _open_connection()
    conn.protocol.max_message_size = 100
    seen: list[bytes | str] = []
    conn.attach(seen.append, lambda: seen.append("drained"))
    conn.data_received(_frame(Opcode.TEXT, b"z" * 101))
    assert seen == [] and conn.protocol.state is State.CLOSING and conn.fast_chunks == 0


async def test_sent_frames_use_fresh_mask_keys_and_queued_bytes_keep_their_order() -> None:
    conn = _open_connection()
    transport = conn.transport
    assert isinstance(transport, _Transport)
    payloads = [b'{"id":%d}' % i for i in range(1_500)] + [b"L" * 200, b"H" * 70_000]  # past one mask pool
    # Act
    for payload in payloads:
        assert conn.send_text_now(payload)
    # Assert: a server reads every frame back intact; mask keys vary
    frames = _received_by_server(transport.written)
    assert [f.data for f in frames] == payloads and all(f.opcode is Opcode.TEXT and f.fin for f in frames)
    keys = {bytes(w[2:6]) for w in transport.written[:1_000]}
    assert len(keys) > 990
    # bytes websockets queued (a pong) go out before the next frame
    transport.written.clear()
    conn.protocol.send_pong(b"q")
    assert conn.send_text_now(b'{"after":"pong"}')
    assert [(f.opcode, f.data) for f in _received_by_server(transport.written)] == [
        (Opcode.PONG, b"q"), (Opcode.TEXT, b'{"after":"pong"}')
    ]

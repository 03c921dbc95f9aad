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

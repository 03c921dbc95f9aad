"""DirectClientConnection: a websockets client connection that hands messages over where they are parsed.

Websockets' asyncio connection queues each received message for ``recv()``, so a reader task wakes up once per
message (an event-loop hop on the order path). This subclass calls a callback with each complete data message
inside ``data_received`` and a drain callback once a received chunk's messages are handled, and writes a text frame
at once when nothing stands in the way.

Two fast paths skip websockets' general frame machinery on the order path (its generator-based parser and its
Frame objects cost more than the rest of the receive and the send):

* receive: a chunk that holds only whole, unfragmented, unmasked data frames, arriving while websockets' parser
  waits at a frame boundary with nothing buffered, is split here and never fed to it, so its state stays exactly
  what it was. Any other chunk (control frames, fragments, a frame cut across chunks, anything malformed or too
  big) goes to websockets whole, which handles it as usual; whether its parser is back at a boundary is checked
  after such a chunk only.
* send: a text frame is serialised here (masked, RFC 6455 5.3, with a key from a pool of ``os.urandom`` bytes
  rather than one syscall per frame) and written straight to the transport when websockets has nothing queued.

It overrides ``process_event`` and ``data_received`` and reads websockets' protocol state, none of which is
websockets' public API: ``tests/adapters/thalex/test_direct_connection.py`` pins the behaviour relied on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from websockets.asyncio.client import ClientConnection
from websockets.frames import DATA_OPCODES, Frame, apply_mask
from websockets.protocol import Event, State

__all__ = ["DirectClientConnection", "split_data_frames"]

_MASK_POOL_BYTES: Final = 4096
_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82


def split_data_frames(data: bytes, max_size: int | None) -> list[bytes] | None:
    """The payloads of ``data`` when it is a sequence of whole server data frames (FIN set, no RSV bits, text or
    binary, unmasked, each at most ``max_size`` bytes); None for anything else, which websockets must parse."""
    messages: list[bytes] = []
    end = len(data)
    at = 0
    while at < end:
        if end - at < 2:
            return None
        head = data[at]
        length = data[at + 1]  # the mask bit is 0 (a masked server frame is websockets' protocol error to report)
        if head != _FIN_TEXT and head != _FIN_BINARY:
            return None
        if length < 126:
            at += 2
        elif length == 126:
            if end - at < 4:
                return None
            length = (data[at + 2] << 8) | data[at + 3]
            at += 4
        elif length == 127:
            if end - at < 10:
                return None
            length = int.from_bytes(data[at + 2:at + 10], "big")
            at += 10
        else:
            return None
        if (max_size is not None and length > max_size) or end - at < length:
            return None
        messages.append(data[at:at + length])
        at += length
    return messages


class DirectClientConnection(ClientConnection):
    """A websockets client connection that hands each complete data message to a callback inside
    ``data_received`` instead of queueing it for ``recv`` (saves an event-loop hop per message), and calls
    ``on_drained`` once the messages of a received chunk are handled (a burst is seen whole first). Messages that
    arrive before :meth:`attach` are kept and handed over there, in order. Fragments are joined."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message: Callable[[bytes], None] | None = None
        self._on_drained: Callable[[], None] | None = None
        self._early: list[bytes] = []
        self._fragments: list[bytes] = []
        self._delivered = False
        self._at_boundary = False  # websockets' parser waits for a frame header with nothing buffered
        self._mask_pool = b""
        self._mask_at = _MASK_POOL_BYTES
        self.fast_chunks = 0  # chunks split here (not fed to websockets)

    def attach(self, on_message: Callable[[bytes], None], on_drained: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_drained = on_drained
        early, self._early = self._early, []
        for message in early:
            on_message(message)
        if early:
            on_drained()
        self._at_boundary = self._parser_at_boundary()

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)  # the handshake response, pongs
            return
        if not event.fin:
            self._fragments.append(bytes(event.data))
            return
        message = bytes(event.data)
        if self._fragments:
            message = b"".join([*self._fragments, message])
            self._fragments = []
        if self._on_message is None:
            self._early.append(message)
            return
        self._delivered = True
        self._on_message(message)

    def can_send_now(self) -> bool:
        """:meth:`send_text_now` would send: the connection open, no fragmented send in progress, the transport
        accepting writes."""
        return self.protocol.state is State.OPEN and self.send_in_progress is None and not self.paused

    def send_text_now(self, data: bytes) -> bool:
        """Send ``data`` (UTF-8 JSON) as one text frame at once, without ``send()``'s async context machinery,
        when :meth:`can_send_now`. Returns False (nothing sent) otherwise: use ``send()``, which waits or raises."""
        if not self.can_send_now():
            return False
        protocol = self.protocol
        if protocol.writes or protocol.extensions or protocol.expect_continuation_frame:
            protocol.send_text(data)  # behind queued bytes, or transformed by an extension: websockets frames it
            self.send_data()
            return True
        at = self._mask_at
        if at >= _MASK_POOL_BYTES:
            self._mask_pool = os.urandom(_MASK_POOL_BYTES)
            at = 0
        mask = self._mask_pool[at:at + 4]
        self._mask_at = at + 4
        length = len(data)
        if length < 126:
            head = bytes((_FIN_TEXT, 0x80 | length))
        elif length < 65536:
            head = bytes((_FIN_TEXT, 0xFE, length >> 8, length & 0xFF))
        else:
            head = bytes((_FIN_TEXT, 0xFF)) + length.to_bytes(8, "big")
        self.transport.write(head + mask + apply_mask(data, mask))
        return True

    def data_received(self, data: bytes) -> None:
        on_message = self._on_message
        if self._at_boundary and on_message is not None and self.protocol.state is State.OPEN:
            messages = split_data_frames(data, self.protocol.max_message_size)
            if messages is not None:
                self.fast_chunks += 1
                for message in messages:
                    on_message(message)
                if messages and self._on_drained is not None:
                    self._on_drained()
                return
        super().data_received(data)
        self._at_boundary = self._parser_at_boundary()
        if self._delivered and self._on_drained is not None:
            self._delivered = False
            self._on_drained()

    def _parser_at_boundary(self) -> bool:
        """Websockets' parser is between frames (suspended in ``at_eof`` at the top of its loop, not inside a
        frame), nothing is buffered and no fragmented message is open: the next bytes start a frame."""
        protocol = self.protocol
        if protocol.state is not State.OPEN or protocol.reader.buffer or protocol.current_size is not None:
            return False
        if self._fragments:
            return False
        waiting = protocol.parser  # ClientProtocol.parse -> Protocol.parse -> the innermost generator it awaits
        while (inner := getattr(waiting, "gi_yieldfrom", None)) is not None:
            waiting = inner
        return getattr(getattr(waiting, "gi_code", None), "co_name", None) == "at_eof"

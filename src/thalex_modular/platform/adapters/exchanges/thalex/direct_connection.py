"""DirectClientConnection: a websockets client connection that hands messages over where they are parsed.

Websockets' asyncio connection queues each received message for ``recv()``, so a reader task wakes up once per
message (an event-loop hop on the order path). This subclass calls a callback with each complete data message
inside ``data_received`` and a drain callback once a received chunk's messages are handled, and writes a text frame
at once when nothing stands in the way. It overrides ``process_event`` and ``data_received``, which are not
websockets' public API: ``tests/adapters/thalex/test_direct_connection.py`` pins the behaviour relied on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import Event, State

__all__ = ["DirectClientConnection"]


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

    def attach(self, on_message: Callable[[bytes], None], on_drained: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_drained = on_drained
        early, self._early = self._early, []
        for message in early:
            on_message(message)
        if early:
            on_drained()

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

    def send_text_now(self, data: bytes) -> bool:
        """Send ``data`` (UTF-8 JSON) as one text frame at once, without ``send()``'s async context machinery,
        when nothing stands in the way: the connection open, no fragmented send in progress, the transport
        accepting writes. Returns False (nothing sent) otherwise: use ``send()``, which waits or raises."""
        if self.protocol.state is not State.OPEN or self.send_in_progress is not None or self.paused:
            return False
        self.protocol.send_text(data)
        self.send_data()
        return True

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._delivered and self._on_drained is not None:
            self._delivered = False
            self._on_drained()

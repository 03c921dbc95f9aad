"""Server-sent event streams: per stream a bounded history (for ``Last-Event-ID`` resumes) and per client a bounded
queue; the frames a client gets (events with ids, gap events, heartbeats).

A client that reads slowly or not at all only fills its own queue: when it is full the oldest event is dropped and
counted, and the client gets one ``gap`` event saying how many it missed before the next ones. Publishing costs the
same whatever the clients do (each event is encoded once; offering it is an append), so a stuck client never slows
the others or the feed. No Ray, no I/O.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import msgspec

from thalex_modular.deployment.snapshots import Event

__all__ = ["ClientQueue", "Frame", "StreamHub", "gap_frame", "heartbeat_frame", "sse_frames"]

#: How long a browser waits before reconnecting after the stream broke (ms), sent once per connection.
RETRY_MS = 2_000


@dataclass(frozen=True, slots=True)
class Frame:
    """One event as it goes out: its id in the stream, its instrument (clients filter on it), its JSON and the
    encoded frame."""

    event_id: int
    instrument: str
    body: bytes
    data: bytes


def event_frame(stream: str, event_id: int, event: Event) -> Frame:
    body = msgspec.json.encode(event)
    data = b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, stream.encode(), body)
    return Frame(event_id, event.instrument, body, data)


def gap_frame(missed: int) -> bytes:
    """Events this client will never get (dropped from its queue, or older than the history held)."""
    return b"event: gap\ndata: " + json.dumps({"missed": missed}).encode() + b"\n\n"


def heartbeat_frame(ts_ns: int) -> bytes:
    return b"event: heartbeat\ndata: " + json.dumps({"ts_ns": ts_ns}).encode() + b"\n\n"


class ClientQueue:
    """One client's events not yet sent: at most ``capacity``; when full the oldest is dropped and counted.

    Args:
        capacity: events held.
        instrument: only this instrument's events (None: all).
    """

    def __init__(self, capacity: int, instrument: str | None) -> None:
        self.instrument = instrument
        self._frames: deque[bytes] = deque()
        self._capacity = capacity
        self.dropped = 0  # not yet reported to the client
        self.dropped_total = 0
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._frames)

    def offer(self, frame: Frame) -> None:
        if self.instrument is not None and frame.instrument != self.instrument:
            return
        self.put(frame.data)

    def put(self, data: bytes) -> None:
        if len(self._frames) >= self._capacity:
            self._frames.popleft()
            self.dropped += 1
            self.dropped_total += 1
        self._frames.append(data)
        self._wake.set()

    def missed(self, count: int) -> None:
        """``count`` events this client cannot get (older than the history held)."""
        if count > 0:
            self.dropped += count
            self.dropped_total += count
            self._wake.set()

    def take(self) -> bytes:
        """Everything pending as one chunk: a gap event first when some were dropped, then the events in order."""
        chunk = b"".join(self._frames)
        self._frames.clear()
        if self.dropped:
            chunk = gap_frame(self.dropped) + chunk
            self.dropped = 0
        self._wake.clear()
        return chunk

    async def wait(self, timeout_s: float) -> bool:
        """True once something is pending, False after ``timeout_s``."""
        if self._frames or self.dropped:
            return True
        try:
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class StreamHub:
    """One event stream inside an API replica: its last ``history`` frames and its clients.

    Args:
        name: the stream (equity, fills, quotes, regime).
        history: frames kept for resumes and backlogs.
        queue_capacity: each client's queue bound.
    """

    def __init__(self, name: str, history: int, queue_capacity: int) -> None:
        self.name = name
        self.history: deque[Frame] = deque(maxlen=history)
        self._queue_capacity = queue_capacity
        self.clients: set[ClientQueue] = set()
        self.last_id = 0

    def publish(self, events: Iterable[tuple[int, Event]]) -> None:
        """New events of the stream, in id order: encoded once, kept, offered to every client."""
        for event_id, event in events:
            if event_id <= self.last_id:
                continue  # already held (a resent page)
            frame = event_frame(self.name, event_id, event)
            self.history.append(frame)
            self.last_id = event_id
            for client in self.clients:
                client.offer(frame)

    def reset(self) -> None:
        """The source's ids started again (a restarted Controller): forget the history."""
        self.history.clear()
        self.last_id = 0

    def subscribe(self, instrument: str | None, last_event_id: int | None, backlog: int = 0) -> ClientQueue:
        """A new client. With ``last_event_id`` it first gets every held event after that id (and a gap event for
        those no longer held); otherwise the last ``backlog`` events (of its instrument), then live ones."""
        client = ClientQueue(self._queue_capacity, instrument)
        if last_event_id is not None:
            oldest = self.history[0].event_id if self.history else self.last_id + 1
            if last_event_id < self.last_id:
                client.missed(oldest - last_event_id - 1)
            for frame in self.history:
                if frame.event_id > last_event_id:
                    client.offer(frame)
        elif backlog > 0:
            held = [f for f in self.history if instrument is None or f.instrument == instrument]
            for frame in held[-backlog:]:
                client.offer(frame)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: ClientQueue) -> None:
        self.clients.discard(client)

    def recent(self, instrument: str, limit: int) -> list[bytes]:
        """The JSON of the last ``limit`` held events of ``instrument``, oldest first."""
        out: list[bytes] = []
        for frame in reversed(self.history):
            if frame.instrument == instrument:
                out.append(frame.body)
                if len(out) >= limit:
                    break
        out.reverse()
        return out


async def sse_frames(hub: StreamHub, client: ClientQueue, heartbeat_s: float,
                     max_bytes: int) -> AsyncIterator[bytes]:
    """The byte chunks of one client's stream until it disconnects (the server cancels this generator then) or
    about ``max_bytes`` went out: the response then ends and the client resumes on a new one with its
    ``Last-Event-ID``. uvicorn already waits for a full socket before sending more; ending the response is a second
    bound on a stuck client's cost (it was the only one behind Ray Serve's proxy, which buffered without limit)."""
    sent = 0
    try:
        yield b"retry: %d\n\n" % RETRY_MS
        while sent < max_bytes:
            chunk = client.take() if await client.wait(heartbeat_s) else heartbeat_frame(time.time_ns())
            sent += len(chunk)
            yield chunk
    finally:
        hub.unsubscribe(client)

"""EventLog: the deployment's event streams (equity, fills, quotes, regime) with increasing ids and a bounded history.

Instrument actors publish events in batches; readers (the API's server-sent event streams, ``platform status``) ask
for what came after the last id they saw. Each stream keeps its last ``capacity`` events: a reader that fell further
behind learns how many it missed (a gap) and goes on from the oldest held. No Ray, no I/O.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

from thalex_modular.deployment.snapshots import EquityEvent, Event, FillEvent, QuoteEvent, RegimeEvent

__all__ = ["STREAMS", "EventLog", "Page"]

#: stream name -> the event type it carries
STREAMS: dict[str, type[Event]] = {
    "equity": EquityEvent, "fills": FillEvent, "quotes": QuoteEvent, "regime": RegimeEvent,
}


class Page(NamedTuple):
    """Events of one stream after a reader's last id: ``(id, event)`` in order, ``missed`` events no longer held
    (0 when the reader kept up), and ``last_id`` the stream's newest id (to resume from when nothing matched)."""

    events: list[tuple[int, Event]]
    missed: int
    last_id: int


class _Stream:
    __slots__ = ("events", "next_id")

    def __init__(self, capacity: int) -> None:
        self.events: deque[tuple[int, Event]] = deque(maxlen=capacity)
        self.next_id = 1


class EventLog:
    """Bounded streams of events with ids increasing from 1 per stream.

    Args:
        capacity: events held per stream.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"invalid EventLog capacity < 1, was {capacity}")
        self._streams = {name: _Stream(capacity) for name in STREAMS}

    def add(self, events: Iterable[Event]) -> None:
        """Append events, each to the stream of its type."""
        for event in events:
            stream = self._streams[_stream_of(event)]
            stream.events.append((stream.next_id, event))
            stream.next_id += 1

    def last_id(self, stream: str) -> int:
        """The newest id of ``stream`` (0: none yet; unknown streams too)."""
        held = self._streams.get(stream)
        return 0 if held is None else held.next_id - 1

    def since(self, stream: str, after_id: int = 0, instrument: str | None = None, limit: int = 1_000) -> Page:
        """At most ``limit`` events of ``stream`` with an id above ``after_id`` (of ``instrument`` only, when given).

        Raises:
            KeyError: an unknown stream (the message lists the known ones).
        """
        try:
            held = self._streams[stream]
        except KeyError:
            raise KeyError(f"unknown event stream {stream!r}; the streams are {sorted(self._streams)}") from None
        events = held.events
        oldest = events[0][0] if events else held.next_id
        missed = max(0, oldest - after_id - 1) if after_id < held.next_id - 1 else 0
        out: list[tuple[int, Event]] = []
        # ids are consecutive: start at the first one after after_id
        start = max(0, after_id + 1 - oldest)
        for event_id, event in itertools.islice(events, start, None):
            if instrument is None or event.instrument == instrument:
                out.append((event_id, event))
                if len(out) >= limit:
                    break
        return Page(out, missed, held.next_id - 1)


def _stream_of(event: Event) -> str:
    if isinstance(event, FillEvent):
        return "fills"
    if isinstance(event, QuoteEvent):
        return "quotes"
    if isinstance(event, RegimeEvent):
        return "regime"
    return "equity"

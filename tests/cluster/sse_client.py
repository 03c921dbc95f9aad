"""A small SSE reader for the API tests and the benchmark: parses ``text/event-stream`` frames off an httpx stream,
stamping each with the time it arrived."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Message:
    event: str
    data: str
    id: int | None
    received_s: float  # time.monotonic() when its bytes arrived
    received_ns: int  # time.time_ns() then (to compare with the event's own ts_ns)


def messages(response: httpx.Response) -> Iterator[Message]:
    """The frames of a streaming response as they arrive (comments and ``retry:`` lines skipped)."""
    buffer = ""
    for chunk in response.iter_text():
        now_s, now_ns = time.monotonic(), time.time_ns()
        buffer += chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in frame.split("\n"):
                key, _, value = line.partition(": ")
                fields[key] = value
            if "event" in fields:
                yield Message(fields["event"], fields.get("data", ""),
                              int(fields["id"]) if "id" in fields else None, now_s, now_ns)

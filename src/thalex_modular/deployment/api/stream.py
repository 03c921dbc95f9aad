"""SSE routes: ``/api/v1/stream/{equity,fills,quotes,regime}`` (``?instrument=`` filters one instrument,
``?backlog=N`` starts with the last N held events; a ``Last-Event-ID`` header, or ``?last_event_id=`` for a client
that cannot set it, resumes after that id instead)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from thalex_modular.deployment.api.feed import ControllerFeed, FeedUnavailable
from thalex_modular.deployment.api.models import Problem
from thalex_modular.deployment.api.sse import sse_frames
from thalex_modular.deployment.event_log import STREAMS

__all__ = ["stream_router"]

_DESCRIPTION = (
    "Server-sent events (text/event-stream): `id:` increasing per stream, `event:` the stream's name, `data:` the "
    "event as JSON. `event: gap` says how many events this client missed (it fell behind, or resumed from an id "
    "older than the history held); `event: heartbeat` comes when nothing else did for a while."
)


def stream_router(heartbeat_s: float, max_bytes: int) -> APIRouter:
    router = APIRouter(prefix="/api/v1/stream")

    for name in STREAMS:
        def route(name: str = name) -> None:
            async def stream(request: Request,
                             instrument: Annotated[str | None, Query(description="only this instrument")] = None,
                             backlog: Annotated[int, Query(ge=0, le=10_000)] = 0,
                             resume_after: Annotated[int | None, Query(
                                 alias="last_event_id", ge=0,
                                 description="resume after this id (for clients that cannot send the header)")] = None,
                             last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
                feed: ControllerFeed = request.app.state.feed
                resume = _event_id(last_event_id)
                if resume is None:
                    resume = resume_after
                if instrument is not None:
                    try:
                        feed.snapshot(instrument)
                    except KeyError as exc:
                        raise HTTPException(404, exc.args[0]) from None
                    except FeedUnavailable:
                        pass  # stream anyway: events flow once the Controller answers
                hub = feed.hubs[name]
                client = hub.subscribe(instrument, resume, backlog)
                frames = sse_frames(hub, client, heartbeat_s, max_bytes)
                return StreamingResponse(frames, media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

            router.add_api_route(
                f"/{name}", stream, methods=["GET"], tags=["streams"], summary=f"the {name} stream",
                description=_DESCRIPTION, response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
                           404: {"model": Problem, "description": "the instrument is not deployed"}},
            )

        route()
    return router


def _event_id(header: str | None) -> int | None:
    """The ``Last-Event-ID`` header as an id (not a number: ignored, like a fresh connection)."""
    if header is None:
        return None
    try:
        value = int(header.strip())
    except ValueError:
        return None
    return value if value >= 0 else None

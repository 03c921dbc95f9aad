"""An ASGI middleware keeping the answers of the GET routes that only read the replica's feed (the instruments, their
market, portfolio, orders and fills, the account) until the feed changes (at most every report, 250 ms): between two
reports the same URL gets the same bytes, without routing, validation or encoding again. Measured under load
(docs/api.md), building and encoding those answers was most of the replica's work per request.

Only 200 answers are kept, keyed by path and query; each is stamped with the feed's version seen when its request
came in, so an answer built while the feed changed is not served for the new state. Not used when every route
needs the token (off loopback): the token is checked per request by the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["FeedCache"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PREFIXES = ("/api/v1/instruments", "/api/v1/account")
_CAPACITY = 512


class FeedCache:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self._held: dict[tuple[str, bytes], tuple[int, Message, bytes]] = {}
        self.hits = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(_PREFIXES):
            await self.app(scope, receive, send)
            return
        feed = getattr(scope["app"].state, "feed", None)
        if feed is None:
            await self.app(scope, receive, send)
            return
        version = feed.version
        key = (scope["path"], scope["query_string"])
        held = self._held.get(key)
        if held is not None and held[0] == version:
            self.hits += 1
            await send(held[1])
            await send({"type": "http.response.body", "body": held[2]})
            return
        start: Message | None = None

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif (message["type"] == "http.response.body" and not message.get("more_body") and start is not None
                  and start["status"] == 200):
                if len(self._held) >= _CAPACITY:
                    self._held.clear()
                self._held[key] = (version, start, bytes(message.get("body", b"")))
            await send(message)

        await self.app(scope, receive, keep)

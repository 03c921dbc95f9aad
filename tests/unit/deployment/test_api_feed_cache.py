"""FeedCache: between two feed changes the same GET gets the same bytes without the route running again; a new
feed version, another query, an error answer or a route outside the feed's are not served from it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
from fastapi import FastAPI, HTTPException

from thalex_modular.deployment.api.feed_cache import FeedCache


def _app() -> tuple[FastAPI, dict[str, int]]:
    calls = {"instruments": 0, "health": 0}
    app = FastAPI()
    app.state.feed = SimpleNamespace(version=1)
    app.add_middleware(FeedCache)

    @app.get("/api/v1/instruments")
    async def instruments(limit: int = 1) -> dict[str, int]:
        calls["instruments"] += 1
        return {"version": app.state.feed.version, "limit": limit, "call": calls["instruments"]}

    @app.get("/api/v1/instruments/{name}/market")
    async def market(name: str) -> dict[str, str]:
        raise HTTPException(404, f"no {name}")

    @app.get("/api/v1/health")
    async def health() -> dict[str, int]:
        calls["health"] += 1
        return calls

    return app, calls


def test_answers_are_kept_until_the_feed_changes() -> None:
    app, calls = _app()

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = await client.get("/api/v1/instruments")
            again = await client.get("/api/v1/instruments")
            assert first.content == again.content and calls["instruments"] == 1
            assert again.headers["content-type"] == "application/json"
            assert (await client.get("/api/v1/instruments?limit=2")).json()["limit"] == 2
            assert calls["instruments"] == 2
            app.state.feed.version = 2
            fresh = await client.get("/api/v1/instruments")
            assert fresh.json() == {"version": 2, "limit": 1, "call": 3}
            for _ in range(2):
                assert (await client.get("/api/v1/instruments/X/market")).status_code == 404
            await client.get("/api/v1/health")
            await client.get("/api/v1/health")
            assert calls["health"] == 2

    asyncio.run(run())

"""REST routes under ``/api/v1``: health, instruments and their market / portfolio / orders / fills, the account,
config (read and a validated strategy update) and control (pause / resume / kill switch). Everything reads the
replica's :class:`ControllerFeed`; commands go to the Controller, which relays them to the instrument actors."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import ValidationError
from ray.exceptions import RayError

from thalex_modular.deployment.api.feed import ControllerFeed, FeedUnavailable
from thalex_modular.deployment.api.models import (
    Account,
    Action,
    ControlResult,
    DeploymentConfig,
    Fill,
    Fills,
    Health,
    Instrument,
    Market,
    Orders,
    Portfolio,
    Problem,
    QuoteSet,
    StrategyConfig,
    levels,
)
from thalex_modular.deployment.config import StrategySettings
from thalex_modular.deployment.snapshots import FillEvent, InstrumentSnapshot, QuoteEvent

__all__ = ["rest_router"]

_COMMAND_TIMEOUT_S = 10.0
_Responses = dict[int | str, dict[str, Any]]
_UNAVAILABLE: _Responses = {503: {"model": Problem, "description": "the deployment's Controller cannot be read"}}
_UNKNOWN: _Responses = {404: {"model": Problem, "description": "the instrument is not deployed"}, **_UNAVAILABLE}
_fill_decoder = msgspec.json.Decoder(FillEvent)
_quote_decoder = msgspec.json.Decoder(QuoteEvent)


async def feed_of(request: Request) -> ControllerFeed:  # async: a sync one runs in a thread per request
    feed: ControllerFeed = request.app.state.feed
    return feed


FeedDep = Annotated[ControllerFeed, Depends(feed_of)]


def _snapshot(feed: ControllerFeed, instrument: str) -> InstrumentSnapshot:
    try:
        return feed.snapshot(instrument)
    except KeyError as exc:
        raise HTTPException(404, exc.args[0]) from None
    except FeedUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


def _known(feed: ControllerFeed, instrument: str) -> None:
    _snapshot(feed, instrument)


async def _command(feed: ControllerFeed, method: str, *args: Any) -> Any:
    """Call the Controller's ``method``; a Controller that cannot be reached is a 503."""
    try:
        ref = getattr(feed.controller(), method).remote(*args)
        return await asyncio.wait_for(ref, _COMMAND_TIMEOUT_S)
    except FeedUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except TimeoutError:
        raise HTTPException(503, f"the Controller did not answer {method} in {_COMMAND_TIMEOUT_S:.0f} s") from None
    except RayError as exc:  # the actor refused or is gone (e.g. an instrument still starting): say why, not a 500
        cause = getattr(exc, "cause", None) or exc
        first_line = (str(cause).splitlines() or [""])[0]
        raise HTTPException(503, f"{method} failed: {type(cause).__name__}: {first_line}") from None


def rest_router(auth: Any) -> APIRouter:
    """The REST routes; ``auth`` is the dependency that config and control routes need."""
    router = APIRouter(prefix="/api/v1")
    secured = {"dependencies": [Depends(auth)],
               "responses": {401: {"model": Problem, "description": "no or a wrong bearer token"}}}

    @router.get("/health", response_model=Health, tags=["status"])
    async def health(feed: FeedDep) -> Health:
        clients = [c for hub in feed.hubs.values() for c in hub.clients]
        try:
            count = len(feed.status)
        except FeedUnavailable:
            count = 0
        return Health(status="ok" if feed.error is None else "degraded", error=feed.error,
                      feed_age_ms=feed.age_ms, instruments=count, sse_clients=len(clients),
                      sse_max_queued_events=max((len(c) for c in clients), default=0),
                      sse_dropped_events=sum(c.dropped_total for c in clients))

    @router.get("/instruments", response_model=list[Instrument], responses=_UNAVAILABLE, tags=["status"])
    async def instruments(feed: FeedDep) -> list[Instrument]:
        try:
            return [Instrument.of(s) for s in feed.status]
        except FeedUnavailable as exc:
            raise HTTPException(503, str(exc)) from None

    @router.get("/instruments/{instrument}/market", response_model=Market, responses=_UNKNOWN, tags=["status"])
    async def market(instrument: str, feed: FeedDep) -> Market:
        return Market.of(_snapshot(feed, instrument))

    @router.get("/instruments/{instrument}/portfolio", response_model=Portfolio, responses=_UNKNOWN,
                tags=["status"])
    async def portfolio(instrument: str, feed: FeedDep) -> Portfolio:
        return Portfolio.of(_snapshot(feed, instrument))

    @router.get("/instruments/{instrument}/orders", response_model=Orders, responses=_UNKNOWN, tags=["status"])
    async def orders(instrument: str, feed: FeedDep,
                     limit: Annotated[int, Query(ge=1, le=1_000)] = 50) -> Orders:
        s = _snapshot(feed, instrument)
        recent = [_quote_decoder.decode(body) for body in feed.hubs["quotes"].recent(instrument, limit)]
        return Orders(instrument=instrument, state=s.state, bids=levels(s.bids), asks=levels(s.asks),
                      recent=[QuoteSet(ts_ns=q.ts_ns, bids=levels(q.bids), asks=levels(q.asks),
                                       mark_price=q.mark_price, best_bid_price=q.best_bid_price,
                                       best_ask_price=q.best_ask_price) for q in recent])

    @router.get("/instruments/{instrument}/fills", response_model=Fills, responses=_UNKNOWN, tags=["status"])
    async def fills(instrument: str, feed: FeedDep, limit: Annotated[int, Query(ge=1, le=1_000)] = 100) -> Fills:
        s = _snapshot(feed, instrument)
        recent = [_fill_decoder.decode(body) for body in feed.hubs["fills"].recent(instrument, limit)]
        return Fills(instrument=instrument, total=s.fills, fills=[
            Fill(ts_ns=f.ts_ns, trade_id=f.trade_id, side=f.side, price=f.price, amount=f.amount,
                 maker_taker=f.maker_taker, fee_usd=f.fee_usd) for f in recent])

    @router.get("/account", response_model=Account, responses=_UNAVAILABLE, tags=["status"])
    async def account(feed: FeedDep) -> Account:
        try:
            return Account.of(feed.account)
        except FeedUnavailable as exc:
            raise HTTPException(503, str(exc)) from None

    @router.get("/config", response_model=DeploymentConfig, tags=["config"], **_merge(secured, _UNAVAILABLE))
    async def config(feed: FeedDep) -> DeploymentConfig:
        spec = await _command(feed, "spec")
        strategies = {}
        for name in spec.instruments:
            strategies[name] = await _command(feed, "strategy", name)
        return DeploymentConfig(mode=spec.mode, network=spec.network, instruments=list(spec.instruments),
                                strategies=strategies)

    @router.get("/config/{instrument}/strategy", response_model=StrategyConfig, tags=["config"],
                **_merge(secured, _UNKNOWN))
    async def strategy(instrument: str, feed: FeedDep) -> StrategyConfig:
        _known(feed, instrument)
        return StrategyConfig(instrument=instrument, strategy=await _command(feed, "strategy", instrument))

    @router.patch("/config/{instrument}/strategy", response_model=StrategyConfig, tags=["config"],
                  **_merge(secured, _UNKNOWN))
    async def update_strategy(instrument: str, feed: FeedDep,
                              changes: Annotated[dict[str, Any], Body(examples=[{"gamma": 0.003}])]) -> StrategyConfig:
        """Change some of the instrument's strategy parameters (the others stay); validated by the config file's
        model, applied from its next tick on. A bad field is a 422 naming the field and the reason."""
        _known(feed, instrument)
        current = await _command(feed, "strategy", instrument)
        try:
            settings = StrategySettings.model_validate({**current, **changes})
        except ValidationError as exc:
            detail = [{"loc": ["body", *(str(p) for p in e["loc"])], "msg": e["msg"], "type": e["type"]}
                      for e in exc.errors()]
            raise HTTPException(422, detail) from None
        dumped = settings.model_dump(mode="json")
        await _command(feed, "update_strategy", instrument, dumped)
        return StrategyConfig(instrument=instrument, strategy=dumped)

    @router.post("/control/{action}", response_model=ControlResult, tags=["control"],
                 **_merge(secured, _UNAVAILABLE))
    async def control_all(action: Action, feed: FeedDep) -> ControlResult:
        """Pause, resume or engage the kill switch of every instrument."""
        await _command(feed, action.value, None)
        try:
            names = feed.instruments()
        except FeedUnavailable as exc:
            raise HTTPException(503, str(exc)) from None
        return ControlResult(action=action, instruments=names)

    @router.post("/control/{instrument}/{action}", response_model=ControlResult, tags=["control"],
                 **_merge(secured, _UNKNOWN))
    async def control(instrument: str, action: Action, feed: FeedDep) -> ControlResult:
        """Pause, resume or engage the kill switch of one instrument (kill: quotes pulled, every order of ours
        cancelled, paused until resumed)."""
        _known(feed, instrument)
        await _command(feed, action.value, instrument)
        return ControlResult(action=action, instruments=[instrument])

    return router


def _merge(secured: dict[str, Any], responses: _Responses) -> dict[str, Any]:
    return {"dependencies": secured["dependencies"], "responses": {**secured["responses"], **responses}}

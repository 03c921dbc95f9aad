"""Reconnect + resync and rate limiting against the real emulator (fault injection through its control API)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
from thalex_kit import KeyFiles, Recorder, WallClock, emulator_config

from thalex_modular.emulator.config import RateLimitConfig as EmulatorRateLimits
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer
from thalex_modular.platform.adapters.exchanges.thalex import (
    LocalTokenBuckets,
    RateLimitConfig,
    ResyncSnapshot,
    RpcConnection,
    ThalexConfig,
    ThalexCredentials,
    ThalexGateway,
    ThalexMarketFeed,
    ThalexSession,
)
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_order
from thalex_modular.platform.domain.entities import OrderUpdate
from thalex_modular.platform.domain.enums import OrderStatus, Side
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import InsertOrder
from thalex_modular.platform.domain.tracking import StateTracker
from thalex_modular.platform.domain.tracking.account_exposure import OrderOwnership
from thalex_modular.platform.use_cases.ports import GatewayAnswer

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERP = "BTC-PERPETUAL"
LABEL = "test-bot"
OURS = OrderOwnership(LABEL)


async def raw_connection(url: str, credentials: ThalexCredentials) -> RpcConnection:
    """A second, persistent (no cancel-on-disconnect) session of the same account: the 'other trader'."""
    clock = WallClock()
    conn = await RpcConnection.open(
        url,
        clock=clock,
        mono_ns=time.monotonic_ns,
        tokens=LocalTokenBuckets(RateLimitConfig(), time.monotonic_ns()),
        handlers={},
        request_timeout_s=5.0,
        connect_timeout_s=5.0,
        ping_interval_s=2.0,
        user_agent="test",
    )
    await conn.call("public/login", {"token": credentials.token(time.time())})
    return conn


class TrackedLive:
    """A StateTracker fed by the gateway the way the QuotingService will feed it."""

    def __init__(self) -> None:
        from stubs import perpetual

        self.tracker = StateTracker((perpetual(),))
        self.rec = Recorder()
        self.resyncs: list[ResyncSnapshot] = []

    def answer(self, answer: GatewayAnswer) -> None:
        self.rec(answer)
        if isinstance(answer, OrderUpdate):
            self.tracker.on_order_update(answer)
        else:
            self.tracker.on_request_failed(answer.client_order_id, answer.ts_local_ns, answer.message)

    def resync(self, snapshot: ResyncSnapshot) -> None:
        self.resyncs.append(snapshot)
        self.tracker.on_open_orders_snapshot(snapshot.open_orders, snapshot.ts_ns, [PERP])
        self.tracker.on_portfolio(snapshot.portfolio, snapshot.ts_ns, complete=True)


async def test_dropped_connection_leaves_no_orphans_and_resync_matches_exchange(
    emulator: EmulatorServer, credentials: ThalexCredentials, other_credentials: ThalexCredentials
) -> None:
    # Arrange: our quoting session with two resting bids, one filled by another session of the account
    clock = WallClock()
    live = TrackedLive()
    session = ThalexSession(ThalexConfig.local(emulator.url), clock, credentials)
    gateway = ThalexGateway(session, clock, ownership=OURS, instrument_names=[PERP], on_resync=live.resync)
    gateway.set_answer_sink(live.answer)
    ThalexMarketFeed(session, PERP, live.rec)
    await session.start(timeout_s=10)
    await live.rec.wait_for(lambda: bool(live.rec.tickers), what="ticker")
    bid = float(int(live.rec.tickers[-1].mark_price * 0.985))
    for cid, price in ((11, bid), (12, bid - 10.0)):
        request = InsertOrder(cid, PERP, Side.BUY, price, 0.01, label=LABEL)
        live.tracker.register_pending(request, clock.now_ns())
        await gateway.submit(request)
    counterparty = await raw_connection(emulator.url, other_credentials)
    await counterparty.call("private/sell", {"instrument_name": PERP, "amount": 0.01, "price": bid})
    await counterparty.close()
    await live.rec.wait_for(lambda: live.tracker.position_amount(PERP) > 0, what="fill of cid 11")
    # a persistent order another session of the account placed (a manual trader): never ours
    other_trader = await raw_connection(emulator.url, credentials)
    persistent = decode_order(
        await other_trader.call(
            "private/buy", {"instrument_name": PERP, "amount": 0.02, "price": bid - 50.0, "label": LABEL}
        ), 0
    )
    await other_trader.close()

    # Act: the emulator drops our connection mid-quoting
    await session.call("emulator/authenticate", {"token": emulator.control_token})
    await session.call("emulator/drop_connections", {"account": "A000000001"})
    await live.rec.wait_for(lambda: len(live.resyncs) == 2 and session.ready, timeout_s=10, what="resync")

    # Assert: COD pulled our quotes; the tracker equals the exchange's view of OUR orders after the resync; the
    # other session's order (persistent, even with our label) is left alone and counted as exposure only
    assert await gateway.open_orders() == []
    assert live.tracker.open_orders(PERP) == []
    assert gateway.exposure.open_amount(PERP, Side.BUY) == pytest.approx(0.02)
    exchange_position = {p.instrument_name: p.position for p in await gateway.portfolio()}
    assert exchange_position[PERP] == pytest.approx(0.01)  # the fill moved the position
    assert live.tracker.position_amount(PERP) == pytest.approx(exchange_position[PERP])
    assert live.rec.downs and session.connects == 2
    assert live.tracker.order_by_client_id(12) is not None
    assert live.tracker.order_by_client_id(12).status is OrderStatus.CANCELLED  # type: ignore[union-attr]

    # Act: our cancel_all on the instrument
    assert await gateway.cancel_all() == 0
    await session.stop()

    # Assert: the other trader's order survived both our cancel_all and our clean stop
    other_trader = await raw_connection(emulator.url, credentials)
    still_open = [o["order_id"] for o in msgspec.json.decode(await other_trader.call("private/open_orders"))]
    assert still_open == [persistent.order_id]
    await other_trader.call("private/cancel", {"order_id": persistent.order_id})
    await other_trader.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def throttled_emulator(key_files: KeyFiles) -> AsyncIterator[EmulatorServer]:
    limits = EmulatorRateLimits(enabled=True, persistent_per_s=5.0, cod_per_s=10.0, cancel_per_s=1000.0)
    server = build_server(emulator_config(key_files.keys_json, rate_limits=limits))
    await server.start()
    yield server
    await server.stop()


class LooseBuckets(LocalTokenBuckets):
    """A misconfigured budget: keeps 100/s after cancel-on-disconnect whatever the exchange says."""

    def set_message_rate(self, limit_per_s: float, now_ns: int) -> None:
        super().set_message_rate(100.0, now_ns)


async def _burst(session: ThalexSession, gateway: ThalexGateway, rec: Recorder, start_cid: int, n: int) -> float:
    await session.start(timeout_s=10)
    t0 = time.monotonic()
    for i in range(n):
        await gateway.submit(InsertOrder(start_cid + i, PERP, Side.BUY, 50_000.0 - i, 0.001))
        if i % 5 == 4:
            await asyncio.sleep(0.05)
    await rec.wait_for(lambda: session.connection is not None and session.connection.pending == 0, what="replies")
    return time.monotonic() - t0


async def test_our_buckets_keep_us_under_the_limit_and_throttle_errors_back_off(
    throttled_emulator: EmulatorServer, credentials: ThalexCredentials
) -> None:
    clock = WallClock()
    # Arrange: our limits configured as the exchange's (5/s persistent, 10/s after COD)
    limits = RateLimitConfig(persistent_per_s=5.0, cod_per_s=10.0)
    session = ThalexSession(ThalexConfig.local(throttled_emulator.url, rate_limits=limits), clock, credentials)
    gateway = ThalexGateway(session, clock, ownership=OURS, instrument_names=[PERP])
    rec = Recorder()
    gateway.set_answer_sink(rec)

    # Act: 60 inserts in ~0.6 s, far more than 9/s
    elapsed = await _burst(session, gateway, rec, 1000, 60)

    # Assert: the exchange never throttled us; the surplus was refused locally (code 4, nothing sent)
    server_throttles = [r for r in rec.rejections() if r.message == "throttle exceeded"]
    local = [r for r in rec.rejections() if r.message.startswith("throttled locally")]
    accepted = {u.client_order_id for u in rec.answers if isinstance(u, OrderUpdate)}
    assert server_throttles == [] and isinstance(session.tokens, LocalTokenBuckets)
    assert session.tokens.throttles == 0
    assert local and all(r.code == 4 for r in local)
    assert len(accepted) + len(local) == 60
    assert len(accepted) <= 9 * elapsed + 9 + 1  # rate x time + burst (our 90 % share)
    await session.stop()

    # Arrange: a token source that believes the COD limit is 10x higher than it is (and ignores message_rate)
    loose = RateLimitConfig(persistent_per_s=5.0, cod_per_s=100.0, throttle_backoff_initial_s=0.5)
    tokens = LooseBuckets(loose, time.monotonic_ns())
    config = ThalexConfig.local(throttled_emulator.url, rate_limits=loose)
    session2 = ThalexSession(config, clock, credentials, tokens=tokens)
    gateway2 = ThalexGateway(session2, clock, ownership=OURS, instrument_names=[PERP])
    rec2 = Recorder()
    gateway2.set_answer_sink(rec2)

    # Act
    await _burst(session2, gateway2, rec2, 5000, 60)

    # Assert: the exchange's code 4 reaches the sink and starts a back-off: later requests are held locally,
    # so only a handful of requests ever reach the exchange after the first throttle (no retry storm)
    rejections = rec2.rejections()
    server = [r for r in rejections if r.message == "throttle exceeded"]
    assert server and all(r.code == 4 for r in server)
    assert tokens.throttles >= len(server)  # (plus any control-plane call throttled during setup)
    local = [r for r in rejections if r.message.startswith("throttled locally")]
    assert len(server) <= 12 and len(local) >= 30
    assert all(isinstance(r, RequestRejected) and r.code == 4 for r in local)
    await session2.stop()

"""QuotingService on SimGateway with a feed driven by the test (no network): the service logic in wall time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from stubs import perpetual, ticker, trade
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.sim_gateway import SimGateway
from thalex_modular.platform.domain.entities import OrderUpdate, PortfolioEntry
from thalex_modular.platform.domain.enums import ChangeReason, OrderStatus, OrderType, Side, TimeInForce
from thalex_modular.platform.domain.market.toxic_flow import ToxicFlowConfig, ToxicFlowDetector
from thalex_modular.platform.domain.requests import InsertOrder, OrderRequest
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.use_cases.ports import AnswerSink, MarketDataSink
from thalex_modular.platform.use_cases.quoting_service import QuotingService
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig
from thalex_modular.platform.use_cases.sim_session import CoreParameters, build_core

MS = 1_000_000
NAME = "BTC-PERPETUAL"


class Rig:
    def __init__(
        self,
        config: QuotingServiceConfig | None = None,
        toxic: ToxicFlowDetector | None = None,
        params: CoreParameters | None = None,
    ) -> None:
        self.clock = LiveClock()
        inst = perpetual()
        latency = SimMatchConfig(order_entry_latency_ns=MS, cancel_latency_ns=MS, response_latency_ns=MS)
        self.gateway = SimGateway(SimMatchEngine(inst, self.clock, latency), self.clock)
        self.service = QuotingService(build_core(inst, params), self.gateway, self.clock, config, toxic=toxic)
        self.feed: MarketDataSink = self.gateway.market_sink(self.service)

    def tick(self, mid: float) -> None:
        now = self.clock.now_ns()
        self.feed.on_ticker(ticker(bid=mid - 1, ask=mid + 1, mark=mid, ts_ns=now))

    async def settle(self, seconds: float = 0.05) -> None:
        await asyncio.sleep(seconds)
        await self.gateway.flush()
        await asyncio.sleep(0.01)

    def orders(self, side: Side | None = None) -> list[float]:
        tracker = self.service.core.tracker
        return sorted(o.price for o in tracker.open_orders(NAME) if side is None or o.side is side)

    async def close(self) -> None:
        await self.service.stop()
        await self.gateway.flush()
        await self.gateway.close()


async def test_quotes_follow_the_market() -> None:
    # Arrange
    rig = Rig()
    await rig.service.start()
    # Act
    rig.tick(100_000.0)
    await rig.settle()
    before_bids, before_asks = rig.orders(Side.BUY), rig.orders(Side.SELL)
    for step in range(1, 41):
        rig.tick(100_000.0 + step)
        await asyncio.sleep(0.01)
    await rig.settle()
    after_bids, after_asks = rig.orders(Side.BUY), rig.orders(Side.SELL)
    # Assert
    assert before_bids and before_asks
    assert max(before_bids) < 100_000 < min(before_asks)
    assert max(after_bids) < 100_040 < min(after_asks)
    before_mid = (max(before_bids) + min(before_asks)) / 2
    after_mid = (max(after_bids) + min(after_asks)) / 2
    assert after_mid > before_mid + 20  # the quotes moved up with the market
    assert rig.gateway.engine.open_order_count() == len(rig.orders())  # exchange view == tracked view
    await rig.close()
    assert rig.gateway.engine.open_order_count() == 0


async def test_fill_moves_position_and_requotes() -> None:
    rig = Rig()
    await rig.service.start()
    rig.tick(100_000.0)
    await rig.settle()
    best_bid = max(rig.orders(Side.BUY))
    sent_before = rig.service.stats.requests_sent
    # a sell aggressor trading 5 ticks through our best bid fills it (slippage_ticks = 1)
    rig.feed.on_trade(trade(best_bid - 5, 0.5, Side.SELL, rig.clock.now_ns()))
    await rig.settle()
    position = rig.service.core.tracker.position_amount(NAME)
    assert position > 0
    assert rig.service.stats.fills >= 1
    assert rig.service.stats.requests_sent > sent_before  # requoted after the fill
    portfolio = {e.instrument_name: e.position for e in await rig.gateway.portfolio()}
    assert portfolio[NAME] == pytest.approx(position)
    await rig.close()


async def test_toxic_buy_burst_pulls_asks_then_they_return() -> None:
    toxic = ToxicFlowDetector(ToxicFlowConfig(window_ns=1000 * MS, threshold_amount=1.0, cooldown_ns=300 * MS))
    rig = Rig(QuotingServiceConfig(check_interval_ns=20 * MS), toxic)
    await rig.service.start()
    rig.tick(100_000.0)
    await rig.settle()
    assert rig.orders(Side.SELL)
    # buys far below our asks (no fill), 1.5 BTC in one burst
    for _ in range(3):
        rig.feed.on_trade(trade(100_000.0, 0.5, Side.BUY, rig.clock.now_ns()))
    await rig.settle()
    assert rig.orders(Side.SELL) == []
    assert rig.orders(Side.BUY)
    assert rig.service.stats.toxic_pulls == 1
    await asyncio.sleep(0.4)  # cool-down over: the guard timer requotes
    rig.tick(100_000.0)
    await rig.settle()
    assert rig.orders(Side.SELL)
    await rig.close()


async def test_stale_feed_pulls_quotes_and_fresh_data_restores_them() -> None:
    rig = Rig(QuotingServiceConfig(max_feed_silence_ns=150 * MS, check_interval_ns=20 * MS))
    await rig.service.start()
    rig.tick(100_000.0)
    await rig.settle()
    assert rig.orders()
    await asyncio.sleep(0.25)  # feed silent
    await rig.settle()
    assert rig.orders() == []
    assert rig.gateway.engine.open_order_count() == 0
    assert not rig.service.quoting
    rig.tick(100_000.0)
    await rig.settle()
    assert rig.orders()
    await rig.close()


async def test_frozen_exchange_timestamp_counts_as_stale() -> None:
    rig = Rig(QuotingServiceConfig(max_data_age_ns=150 * MS, check_interval_ns=20 * MS))
    await rig.service.start()
    frozen = ticker(bid=99_999.0, ask=100_001.0, mark=100_000.0, ts_ns=rig.clock.now_ns())
    rig.feed.on_ticker(frozen)
    await rig.settle()
    assert rig.orders()
    for _ in range(8):  # tickers keep arriving, but the exchange time never advances
        rig.feed.on_ticker(frozen)
        await asyncio.sleep(0.04)
    await rig.settle()
    assert rig.orders() == []
    assert rig.service.stats.last_pull_reason == "market data not advancing"
    await rig.close()


async def test_feed_down_pulls_quotes() -> None:
    rig = Rig()
    await rig.service.start()
    rig.tick(100_000.0)
    await rig.settle()
    rig.feed.on_feed_down("disconnected")
    await rig.settle()
    assert rig.orders() == []
    await rig.close()


async def test_runs_coalesce_under_a_burst_of_tickers() -> None:
    rig = Rig()
    await rig.service.start()
    for i in range(2_000):  # synchronous burst: the reader never yields, runs cannot pile up
        rig.tick(100_000.0 + (i % 7))
    await rig.settle()
    assert rig.service.stats.tickers == 2_000
    assert rig.service.stats.runs <= 3
    assert rig.orders()
    await rig.close()


async def test_resync_rebuilds_tracker_from_the_exchange() -> None:
    rig = Rig()
    await rig.service.start()
    rig.tick(100_000.0)
    await rig.settle()
    exchange = {u.order_id for u in await rig.gateway.open_orders()}
    # a fresh tracker (as after a restart) learns the same orders from the snapshot
    tracker = rig.service.core.tracker
    for order in tracker.open_orders(NAME):
        tracker.on_request_failed(order.client_order_id, rig.clock.now_ns(), "forget")
    await rig.service.resyncs.request_and_wait("test", connection_lost=True)
    tracked = {o.order_id for o in tracker.open_orders(NAME)}
    assert tracked == exchange
    await rig.close()


async def test_run_pending_runs_at_once_on_the_newest_ticker_of_a_burst() -> None:
    rig = Rig()
    await rig.service.start()
    await rig.settle()
    runs = rig.service.stats.runs
    for i in range(50):  # one received chunk: the reader hands over every ticker, then drains once
        rig.tick(100_000.0 + i)
    # Act: no await between the burst and the run
    rig.service.run_pending()
    # Assert: one run, on the newest ticker, its requests registered and sent before the caller continues
    assert rig.service.stats.runs == runs + 1
    assert rig.service.core.last_ticker is not None and rig.service.core.last_ticker.mark_price == 100_049.0
    assert rig.gateway.requests_submitted > 0
    rig.service.run_pending()  # nothing pending anymore: no second run
    await rig.settle()
    assert rig.service.stats.runs == runs + 1
    await rig.close()


async def test_run_pending_leaves_the_run_pending_while_a_run_holds_the_lock() -> None:
    rig = Rig()
    await rig.service.start()
    await rig.settle()
    runs = rig.service.stats.runs
    # Act: a resync (or a run) holds the lock when the reader drains
    async with rig.service._lock:
        rig.tick(100_010.0)
        rig.service.run_pending()
        assert rig.service.stats.runs == runs  # not inline: the plan must not be built on half-rebuilt state
    await rig.settle()
    # Assert: the run task did it once the lock was free
    assert rig.service.stats.runs == runs + 1
    await rig.close()


async def test_reader_drained_market_data_waits_for_the_drain_and_the_guard_is_the_safety_net() -> None:
    rig = Rig(QuotingServiceConfig(check_interval_ns=20 * MS))
    rig.service.drained_by_reader()
    await rig.service.start()
    rig.tick(100_000.0)
    rig.service.run_pending()
    await rig.settle()
    runs = rig.service.stats.runs
    # Act 1: a ticker alone starts no run task; the reader's drain runs it
    rig.tick(100_005.0)
    await asyncio.sleep(0)
    assert rig.service.stats.runs == runs
    rig.service.run_pending()
    assert rig.service.stats.runs == runs + 1
    # Act 2: a drain that never comes (a reader bug): the guard notices the pending run
    rig.tick(100_010.0)
    await rig.settle(0.1)
    assert rig.service.stats.runs == runs + 2
    assert rig.service.core.last_ticker is not None and rig.service.core.last_ticker.mark_price == 100_010.0
    await rig.close()


async def test_a_fill_reported_but_never_received_triggers_a_resync_after_the_grace() -> None:
    rig = Rig(QuotingServiceConfig(check_interval_ns=20 * MS), params=CoreParameters(fill_report_grace_ns=100 * MS))
    await rig.service.start()
    rig.tick(100_000.0)
    await rig.settle()
    [order, *_] = rig.service.core.tracker.open_orders(NAME)
    assert order.order_id is not None
    resyncs = rig.service.stats.resyncs
    # Act: a reply counts one lot filled; the notification with that fill never comes
    rig.service.on_answer(OrderUpdate(
        order.order_id, order.client_order_id, NAME, order.side, OrderType.LIMIT, TimeInForce.GTC, order.price,
        order.amount, 0.001, order.amount - 0.001, OrderStatus.PARTIALLY_FILLED, ChangeReason.AMEND,
        rig.clock.now_ns(), rig.clock.now_ns(),
    ))
    await asyncio.sleep(0.05)
    assert rig.service.stats.resyncs == resyncs  # within the grace: waiting for the fill
    # Assert: the guard reports it once the grace is over
    await rig.settle(0.2)
    assert rig.service.stats.resyncs == resyncs + 1
    await rig.close()


class _HeldGateway:
    """SimGateway whose submit waits until released (a full socket buffer): the inline run must be finished on a
    task, atomically."""

    def __init__(self, inner: SimGateway) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.sent: list[OrderRequest] = []

    @property
    def ready(self) -> bool:
        return True

    def request_budget(self) -> int:
        return self.inner.request_budget()

    def set_answer_sink(self, sink: AnswerSink) -> None:
        self.inner.set_answer_sink(sink)

    async def submit(self, request: OrderRequest) -> None:
        await self.release.wait()
        self.sent.append(request)
        await self.inner.submit(request)

    def submit_now(self, request: OrderRequest) -> bool:
        return False  # always has to wait

    async def cancel_all(self) -> int:
        return await self.inner.cancel_all()

    async def open_orders(self) -> Sequence[OrderUpdate]:
        return await self.inner.open_orders()

    async def portfolio(self) -> Sequence[PortfolioEntry]:
        return await self.inner.portfolio()


async def test_an_inline_run_that_has_to_wait_finishes_on_a_task_and_keeps_the_lock() -> None:
    clock = LiveClock()
    inst = perpetual()
    inner = SimGateway(SimMatchEngine(inst, clock, SimMatchConfig()), clock)
    gateway = _HeldGateway(inner)
    service = QuotingService(build_core(inst), gateway, clock)
    await service.start()
    feed = inner.market_sink(service)
    feed.on_ticker(ticker(bid=99_999.0, ask=100_001.0, mark=100_000.0, ts_ns=clock.now_ns()))
    # Act
    service.run_pending()
    # Assert: suspended inside submit, holding the lock; a newer ticker stays pending (no second, interleaved run)
    assert service._lock.locked() and gateway.sent == []
    feed.on_ticker(ticker(bid=100_009.0, ask=100_011.0, mark=100_010.0, ts_ns=clock.now_ns()))
    service.run_pending()
    assert service.stats.runs == 1
    gateway.release.set()
    for _ in range(100):
        await asyncio.sleep(0.005)
        if service.stats.runs >= 2 and not service._lock.locked():
            break
    # the first run sent both sides, then the pending ticker ran once more
    assert service.stats.runs == 2
    assert {type(r) for r in gateway.sent[:2]} == {InsertOrder}
    assert not service._lock.locked()
    await service.stop()
    await inner.flush()
    await inner.close()

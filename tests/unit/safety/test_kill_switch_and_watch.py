"""The kill switch's triggers, the portfolio feed's position watch, the mass-quote planner's one RiskCheck, and the
QuotingService holding every quote down once the kill switch fired, until an operator resumes."""

from __future__ import annotations

import asyncio

import pytest

from stubs import perpetual, ticker, trade
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.sim_gateway import SimGateway
from thalex_modular.platform.domain.entities import Quote
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.kill_switch import KillSwitchConfig, KillSwitchMonitor, LimitsUsed
from thalex_modular.platform.domain.risk import OpenBook, RiskCheck, RiskConfig, RiskContext, RiskLimit
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.domain.tracking.position_watch import PositionWatch
from thalex_modular.platform.use_cases.mass_quoting import plan_mass_quote
from thalex_modular.platform.use_cases.quoting_service import QuotingService
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig
from thalex_modular.platform.use_cases.sim_session import build_core

S = 1_000_000_000
DAY = 86_400 * S
BTC = perpetual()


def monitor(**kw: object) -> KillSwitchMonitor:
    return KillSwitchMonitor(KillSwitchConfig(**kw), max_position=0.5, position_tolerance=0.0005)  # type: ignore[arg-type]


def test_daily_loss_counts_from_the_start_of_the_utc_day_and_from_a_resume() -> None:
    m = monitor(max_daily_loss_usd=100.0)
    assert m.check(3 * DAY + 10 * S, 50.0, 0.0) is None  # the day starts at +50
    assert m.check(3 * DAY + 20 * S, -40.0, 0.0) is None  # 90 lost
    reason = m.check(3 * DAY + 30 * S, -60.0, 0.0)
    assert reason is not None and "daily loss 110.00 USD" in reason
    assert m.check(4 * DAY + 1, -60.0, 0.0) is None  # a new day counts from its own start
    m.rebase(4 * DAY + 2, -200.0)  # an operator resumed at -200: losses count from there
    assert m.check(4 * DAY + 3, -250.0, 0.0) is None


def test_a_restarted_session_carries_the_loss_and_drawdown_its_predecessor_used() -> None:
    # Arrange: a session lost 80 of a 100 USD daily budget and is 25 below its peak (limit 30), then restarts
    before = monitor(max_daily_loss_usd=100.0, max_drawdown_usd=30.0)
    assert before.used(0.0) is None
    before.check(3 * DAY + S, 0.0, 0.0)
    before.check(3 * DAY + 2 * S, 5.0, 0.0)
    assert before.check(3 * DAY + 3 * S, -20.0, 0.0) is None
    used = before.used(-20.0)
    assert used == LimitsUsed(3, 20.0, 25.0)
    # Act: the new session starts from its own zero (realised PnL is per session) with what was used carried
    after = monitor(max_daily_loss_usd=100.0, max_drawdown_usd=30.0)
    after.carry(LimitsUsed(3, 80.0, 25.0))
    assert after.used(1.0) == LimitsUsed(3, 80.0, 25.0)  # reported as carried until its first check
    assert after.check(3 * DAY + 10 * S, 0.0, 0.0) is None
    # Assert: 6 more USD lost trips the drawdown (25 + 6 > 30); 21 more would trip the daily loss (80 + 21 > 100)
    assert "drawdown 31.00" in (after.check(3 * DAY + 11 * S, -6.0, 0.0) or "")
    daily = monitor(max_daily_loss_usd=100.0)
    daily.carry(LimitsUsed(3, 80.0, 0.0))
    daily.check(3 * DAY + 10 * S, 0.0, 0.0)
    assert daily.check(3 * DAY + 11 * S, -19.0, 0.0) is None
    assert "daily loss 101.00" in (daily.check(3 * DAY + 12 * S, -21.0, 0.0) or "")
    # a carry from an earlier UTC day keeps the drawdown but not the day's loss; a resume drops the carry
    next_day = monitor(max_daily_loss_usd=100.0, max_drawdown_usd=30.0)
    next_day.carry(LimitsUsed(2, 90.0, 10.0))
    next_day.check(3 * DAY + S, 0.0, 0.0)
    assert next_day.used(0.0) == LimitsUsed(3, 0.0, 10.0)
    resumed = monitor(max_daily_loss_usd=100.0)
    resumed.carry(LimitsUsed(3, 99.0, 0.0))
    resumed.rebase(3 * DAY, 0.0)
    assert resumed.check(3 * DAY + S, -50.0, 0.0) is None
    with pytest.raises(InvalidValue, match=r"LimitsUsed\.loss_usd"):
        LimitsUsed(3, float("nan"), 0.0)


def test_limits_used_known_late_add_to_what_the_running_session_used_since_its_start() -> None:
    # Arrange: a restarted session that did not get its predecessor's figures in time checks from its own start
    late = monitor(max_daily_loss_usd=100.0, max_drawdown_usd=30.0)
    assert late.check(3 * DAY + S, 0.0, 0.0) is None
    late.check(3 * DAY + 2 * S, 4.0, 0.0)
    assert late.check(3 * DAY + 3 * S, 1.0, 0.0) is None
    assert late.used(1.0) == LimitsUsed(3, -1.0, 3.0)
    # Act: the predecessor's 80 lost and 25 below its peak arrive
    late.carry(LimitsUsed(3, 80.0, 25.0))
    # Assert: as if carried from the start: 79 lost today, the peak 25 above the start (24 below it now)
    assert late.used(1.0) == LimitsUsed(3, 79.0, 24.0)
    assert "drawdown 31.00" in (late.check(3 * DAY + 4 * S, -6.0, 0.0) or "")
    assert "daily loss 101.00" in (late.check(3 * DAY + 5 * S, -21.0, 0.0) or "")
    # the session's own peak stays when it is the higher one; an earlier day's loss does not count today
    higher = monitor(max_drawdown_usd=30.0)
    higher.check(3 * DAY + S, 0.0, 0.0)
    higher.check(3 * DAY + 2 * S, 40.0, 0.0)
    higher.carry(LimitsUsed(2, 90.0, 10.0))
    assert higher.used(35.0) == LimitsUsed(3, -35.0, 5.0)


def test_drawdown_from_the_peak_position_breach_and_repeated_rejects_or_resyncs() -> None:
    m = monitor(max_drawdown_usd=30.0)
    m.check(S, 0.0, 0.0)
    m.check(2 * S, 100.0, 0.0)
    assert m.check(3 * S, 71.0, 0.0) is None
    assert "drawdown 31.00" in (m.check(4 * S, 69.0, 0.0) or "")
    assert "beyond max_position" in (monitor().check(S, 0.0, -0.502) or "")
    assert monitor(trip_on_position_breach=False).check(S, 0.0, -0.9) is None
    rejects = monitor(max_rejects=3, reject_window_ns=10 * S)
    for t in (1, 2, 3):
        rejects.on_reject(t * S)
    assert rejects.check(4 * S, 0.0, 0.0) is None
    rejects.on_reject(5 * S)
    assert "4 requests rejected within 10 s" in (rejects.check(6 * S, 0.0, 0.0) or "")
    assert rejects.check(30 * S, 0.0, 0.0) is None  # the window slid past them
    resyncs = monitor(max_resyncs=1, resync_window_ns=60 * S)
    resyncs.on_resync(S)
    resyncs.on_resync(2 * S)
    assert "2 resyncs within 60 s" in (resyncs.check(3 * S, 0.0, 0.0) or "")
    with pytest.raises(InvalidValue, match="max_daily_loss_usd"):
        KillSwitchConfig(max_daily_loss_usd=-1.0)


def test_a_position_difference_counts_only_when_it_holds_with_no_fill_of_ours() -> None:
    watch = PositionWatch(0.0005, S)
    assert watch.check(0.1, 0.0, 0, 0) is None  # first seen
    assert watch.check(0.1, 0.0, 1, S // 2) is None  # a fill of ours arrived: wait again from here
    assert watch.check(0.1, 0.0, 1, S) is None
    reason = watch.check(0.1, 0.0, 1, 2 * S)
    assert reason is not None and "0.1" in reason
    assert watch.check(0.1, 0.0, 1, 2 * S + 1) is None  # reported once
    assert watch.check(0.1, 0.1, 1, 5 * S) is None  # agreed meanwhile
    assert watch.check(None, 0.3, 1, 9 * S) is None  # no portfolio yet


def test_mass_quote_levels_are_checked_against_what_stays_and_deduplicated_by_tick() -> None:
    check = RiskCheck(RiskConfig(0.1, 1.0, 1e9, 10, 100.0))
    ctx = RiskContext(0.0, 100_000.0, 0)
    desired = [Quote(Side.BUY, 99_990, 40, 0), Quote(Side.BUY, 99_990, 40, 1), Quote(Side.BUY, 99_980, 40, 2),
               Quote(Side.SELL, 100_010, 40, 0)]
    # a resting 0.03 bid that is not a mass quote stays when the levels are replaced: 0.03 + 0.04 + 0.04 > 0.1
    plan = plan_mass_quote(BTC, desired, check, ctx, OpenBook(0.03, 0.0, 1), quote_amount=1.0)
    assert plan.bids == [(99_990.0, 0.04)]  # the second level at the same tick is dropped, the third refused
    assert plan.asks == [(100_010.0, 0.04)]
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]
    # the kill switch of the instrument's one RiskCheck empties both sides
    check.engage_kill_switch("test")
    plan = plan_mass_quote(BTC, desired, check, ctx, OpenBook(), quote_amount=1.0)
    assert plan.bids == [] and plan.asks == [] and {d.limit for d in plan.denials} == {RiskLimit.KILL_SWITCH}


async def test_a_fired_kill_switch_pulls_every_quote_and_holds_until_resumed() -> None:
    # Arrange: shadow quoting on the simulated exchange with a one-cent drawdown limit
    clock = LiveClock()
    gateway = SimGateway(SimMatchEngine(BTC, clock, SimMatchConfig(1_000_000, 1_000_000, 1_000_000)), clock)
    service = QuotingService(build_core(BTC), gateway, clock, QuotingServiceConfig(check_interval_ns=20_000_000),
                             kill_switch=KillSwitchConfig(max_drawdown_usd=0.01))
    feed = gateway.market_sink(service)
    await service.start()
    feed.on_ticker(ticker(bid=99_999.0, ask=100_001.0, mark=100_000.0, ts_ns=clock.now_ns()))
    await asyncio.sleep(0.05)
    await gateway.flush()
    assert gateway.engine.open_order_count() == 6
    # Act: the market trades through our bids (fills: we are long), then the mark falls: equity drops below the peak
    best_bid = max(o.price for o in service.core.tracker.open_orders(BTC.instrument_name) if o.side is Side.BUY)
    feed.on_trade(trade(best_bid - 5, 0.5, Side.SELL, clock.now_ns()))
    await asyncio.sleep(0.05)
    feed.on_ticker(ticker(bid=99_995.0, ask=99_997.0, mark=99_996.0, ts_ns=clock.now_ns()))
    await asyncio.sleep(0.1)
    await gateway.flush()
    # Assert: fired, every order pulled, and new market data quotes nothing
    assert service.stats.kill_reason is not None and "drawdown" in service.stats.kill_reason
    assert gateway.engine.open_order_count() == 0
    for step in range(5):
        feed.on_ticker(ticker(bid=99_995.0 - step, ask=99_997.0 - step, mark=99_996.0 - step, ts_ns=clock.now_ns()))
        await asyncio.sleep(0.02)
    await gateway.flush()
    assert gateway.engine.open_order_count() == 0 and not service.quoting
    assert (service.controls.held_reason or "").startswith("kill switch: drawdown")
    # Act: an operator resumes (losses count from now)
    service.controls.resume()
    feed.on_ticker(ticker(bid=99_993.0, ask=99_995.0, mark=99_994.0, ts_ns=clock.now_ns()))
    await asyncio.sleep(0.05)
    await gateway.flush()
    # Assert: quoting again
    assert gateway.engine.open_order_count() > 0 and service.controls.held_reason is None
    await service.stop()
    await gateway.flush()
    await gateway.close()


async def test_an_operator_pause_pulls_quotes_and_resume_brings_them_back() -> None:
    clock = LiveClock()
    gateway = SimGateway(SimMatchEngine(BTC, clock, SimMatchConfig(1_000_000, 1_000_000, 1_000_000)), clock)
    service = QuotingService(build_core(BTC), gateway, clock)
    feed = gateway.market_sink(service)
    await service.start()
    feed.on_ticker(ticker(ts_ns=clock.now_ns()))
    await asyncio.sleep(0.05)
    await gateway.flush()
    assert gateway.engine.open_order_count() == 6
    service.controls.pause("maintenance")
    await asyncio.sleep(0.05)
    await gateway.flush()
    assert gateway.engine.open_order_count() == 0 and service.controls.held_reason == "maintenance"
    service.controls.resume()
    feed.on_ticker(ticker(ts_ns=clock.now_ns()))
    await asyncio.sleep(0.05)
    await gateway.flush()
    assert gateway.engine.open_order_count() == 6
    await service.stop()
    await gateway.flush()
    await gateway.close()

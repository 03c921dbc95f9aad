"""An instrument actor that started without its carried state (the Controller did not answer in time): held, its
reports leave the kept PnL, fees and limits alone, and when the state comes it joins what the session did since."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from stubs import perpetual, ticker, trade
from thalex_modular.deployment.carried_state import AWAITING_CARRIED, CarriedState, adopt_late
from thalex_modular.deployment.config import RunConfig, RunMode, StrategySettings, load_run_config
from thalex_modular.deployment.deployment_book import DeploymentBook, DeploySpec
from thalex_modular.deployment.instrument_host import InstrumentHost
from thalex_modular.deployment.instrument_runtime import (
    InstrumentRuntime,
    hold_before_start,
    service_parts,
    thalex_config,
)
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState
from thalex_modular.platform.adapters.exchanges.thalex.session import ThalexSession
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.sim_gateway import SimGateway
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.kill_switch import LimitsUsed
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.use_cases.quoting_service import QuotingService
from thalex_modular.platform.use_cases.sim_session import build_core

S = 1_000_000_000
DAY = 86_400 * S
BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
KEPT = CarriedState(strategy={"gamma": 0.002}, limits_used=LimitsUsed(3, 80.0, 25.0), realised_pnl_usd=12.5,
                    fees_usd=0.75)


# -- how the late state joins the session's (pure) ------------------------------------------------------------


def test_a_running_kept_state_lifts_the_awaiting_hold_and_becomes_the_base_of_the_pnl_and_limits() -> None:
    plan = adopt_late(CarriedState(paused=AWAITING_CARRIED), KEPT, resumed=False, strategy_set=False)
    assert plan.lift_awaiting and plan.pause is None and plan.kill is None
    assert plan.limits_used == LimitsUsed(3, 80.0, 25.0)
    assert plan.carried == CarriedState(strategy={"gamma": 0.002}, limits_used=LimitsUsed(3, 80.0, 25.0),
                                        realised_pnl_usd=12.5, fees_usd=0.75)


def test_a_kept_pause_or_kill_switch_replaces_the_awaiting_hold() -> None:
    paused = adopt_late(CarriedState(paused=AWAITING_CARRIED), CarriedState(paused="maintenance"), resumed=False,
                        strategy_set=False)
    assert (paused.pause, paused.lift_awaiting, paused.carried.paused) == ("maintenance", False, "maintenance")
    killed = adopt_late(CarriedState(paused=AWAITING_CARRIED), CarriedState(kill_reason="daily loss 1001 USD"),
                        resumed=False, strategy_set=False)
    assert killed.kill == "daily loss 1001 USD" and killed.carried.kill_reason == "daily loss 1001 USD"
    # the awaiting hold itself goes: the kill switch holds now (a resume lifts both)
    assert killed.lift_awaiting and killed.carried.paused is None


def test_commands_sent_while_awaiting_are_newer_than_the_kept_state() -> None:
    # an operator paused and set a strategy since the start: their pause and strategy stay, the kept kill adds
    own = CarriedState(paused="operator", strategy={"gamma": 0.009})
    plan = adopt_late(own, msgspec.structs.replace(KEPT, kill_reason="test"), resumed=False, strategy_set=True)
    assert plan.carried.paused == "operator" and plan.pause is None and not plan.lift_awaiting
    assert plan.carried.strategy == {"gamma": 0.009} and plan.kill == "test"
    # an operator resumed since the start (seeing the Controller's state): kept holds and limits are lifted, as a
    # resume does; the PnL and fees are history and stay the base
    resumed = adopt_late(CarriedState(), msgspec.structs.replace(KEPT, kill_reason="test", paused="x"), resumed=True,
                         strategy_set=False)
    assert (resumed.kill, resumed.pause, resumed.limits_used, resumed.lift_awaiting) == (None, None, None, False)
    assert resumed.carried == CarriedState(strategy={"gamma": 0.002}, realised_pnl_usd=12.5, fees_usd=0.75)


def test_limits_used_by_a_session_that_did_not_know_the_earlier_ones_join_them() -> None:
    earlier = LimitsUsed(3, 80.0, 25.0)
    # same day: the losses add up; the drawdown is the deeper of the later's own and the earlier's extended by it
    assert earlier.then(LimitsUsed(3, 10.0, 12.0)) == LimitsUsed(3, 90.0, 35.0)
    assert earlier.then(LimitsUsed(3, -30.0, 40.0)) == LimitsUsed(3, 50.0, 40.0)
    # a later day: its own loss, and a drawdown no smaller than the true one
    assert earlier.then(LimitsUsed(4, 5.0, 6.0)) == LimitsUsed(4, 5.0, 31.0)
    folded = KEPT.followed_by(LimitsUsed(3, 10.0, 12.0), -2.0, 0.25)
    assert folded == msgspec.structs.replace(KEPT, limits_used=LimitsUsed(3, 90.0, 35.0), realised_pnl_usd=10.5,
                                             fees_usd=1.0)
    assert CarriedState().followed_by(LimitsUsed(3, 1.0, 2.0), 0.0, 0.0).limits_used == LimitsUsed(3, 1.0, 2.0)


# -- the Controller's book ------------------------------------------------------------------------------------


def report(started_ns: int, ts_ns: int, adopted: bool, **kw: Any) -> InstrumentSnapshot:
    return InstrumentSnapshot(instrument=BTC, mode="shadow", state=InstrumentState.PAUSED, started_ns=started_ns,
                              ts_ns=ts_ns, carried_adopted=adopted, **kw)


def test_reports_of_an_actor_without_its_carried_state_do_not_overwrite_the_kept_pnl_and_limits() -> None:
    book = DeploymentBook(DeploySpec.of(load_run_config(None, {}, {}), [BTC, ETH]))
    book.publish(report(1, S, True, realised_pnl_usd=12.5, fees_usd=0.75, limits_used=LimitsUsed(3, 80.0, 25.0)),
                 [], S)
    # Act: the actor restarts, the Controller is slow: the new session reports its own figures only
    book.publish(report(2, 3 * S, False, realised_pnl_usd=0.5, fees_usd=0.1, limits_used=LimitsUsed(3, 2.0, 1.0)),
                 [], 3 * S)
    # Assert: the kept ones stand (what the actor is handed when it asks), the status shows both added
    assert book.carried(BTC) == CarriedState(limits_used=LimitsUsed(3, 80.0, 25.0), realised_pnl_usd=12.5,
                                             fees_usd=0.75)
    assert book.hand_over(BTC, 2) == book.carried(BTC)  # the asking session is the one reporting: nothing folded
    status = book.snapshot(BTC, 3 * S)
    assert (status.realised_pnl_usd, status.fees_usd) == (13.0, 0.85) and book.account(3 * S).fees_usd == 0.85
    assert status.limits_used == LimitsUsed(3, 82.0, 27.0)
    # a kill switch its own limits tripped holds all the same
    book.publish(report(2, 4 * S, False, kill_reason="position 1.0 beyond max_position 0.5"), [], 4 * S)
    assert book.carried(BTC).kill_reason == "position 1.0 beyond max_position 0.5"
    assert book.carried(BTC).realised_pnl_usd == 12.5
    # once adopted, its reports include the kept figures and are kept as before
    book.publish(report(2, 5 * S, True, realised_pnl_usd=13.5, fees_usd=0.9, limits_used=LimitsUsed(3, 83.0, 26.0)),
                 [], 5 * S)
    assert book.carried(BTC).limits_used == LimitsUsed(3, 83.0, 26.0) and book.carried(BTC).realised_pnl_usd == 13.5
    assert book.hand_over(BTC, 3).realised_pnl_usd == 13.5  # nothing left to fold


def test_a_session_that_ended_before_adopting_is_added_to_what_its_successor_is_handed() -> None:
    book = DeploymentBook(DeploySpec.of(load_run_config(None, {}, {}), [BTC]))
    book.publish(report(1, S, True, realised_pnl_usd=12.5, fees_usd=0.75, limits_used=LimitsUsed(3, 80.0, 25.0)),
                 [], S)
    book.publish(report(2, 2 * S, False, realised_pnl_usd=-2.0, fees_usd=0.25, limits_used=LimitsUsed(3, 10.0, 12.0)),
                 [], 2 * S)
    # Act: session 2 died unadopted; session 3 asks
    handed = book.hand_over(BTC, 3)
    # Assert: nothing session 2 did is lost, and it is folded once
    assert handed == CarriedState(limits_used=LimitsUsed(3, 90.0, 35.0), realised_pnl_usd=10.5, fees_usd=1.0)
    assert book.hand_over(BTC, 3) == handed and book.carried(BTC) == handed


# -- the host: a real QuotingService on the simulated exchange (what shadow mode runs) ----------------------------


class SimBuilder:
    """Builds the host's runtime as ``build_shadow`` does, with a SimGateway fed by the test instead of the exchange's
    market data; ``gate`` holds the build (a runtime still being built)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.clock = LiveClock()
        self.runtime: InstrumentRuntime | None = None

    async def __call__(self, config: RunConfig, *, carried: CarriedState | None = None, journal: Any = None,
                       **_: Any) -> InstrumentRuntime:
        await self.gate.wait()
        instrument = perpetual()
        gateway = SimGateway(SimMatchEngine(instrument, self.clock, SimMatchConfig(1_000_000, 1_000_000, 1_000_000)),
                             self.clock)
        params, service_config, toxic, kill_switch = service_parts(config)
        service = QuotingService(build_core(instrument, params), gateway, self.clock, service_config, toxic=toxic,
                                 kill_switch=kill_switch, journal=journal)
        gateway.set_fill_sink(service.on_own_trade)
        if carried is not None:
            hold_before_start(service, carried)
        await service.start()
        self.runtime = InstrumentRuntime(RunMode.SHADOW, ThalexSession(thalex_config(config), self.clock), service,
                                         instrument, gateway)
        return self.runtime

    async def tick(self, mid: float = 100_000.0) -> None:
        """A ticker at ``mid``, then the simulated exchange's answers."""
        assert self.runtime is not None
        gateway = self.runtime.gateway
        assert isinstance(gateway, SimGateway)
        gateway.market_sink(self.runtime.service).on_ticker(
            ticker(bid=mid - 1, ask=mid + 1, mark=mid, ts_ns=self.clock.now_ns())
        )
        await asyncio.sleep(0.05)
        await gateway.flush()

    def open_orders(self) -> int:
        assert self.runtime is not None and isinstance(self.runtime.gateway, SimGateway)
        return self.runtime.gateway.engine.open_order_count()


def config(**flags: Any) -> RunConfig:
    return load_run_config(None, {}, {"instrument": BTC, "mode": "shadow", "toxic_flow.enabled": False,
                                      "options_vol.enabled": False, **flags})


def today() -> int:
    return LiveClock().now_ns() // DAY


async def test_a_host_held_without_its_carried_state_adopts_it_late_and_quotes_from_the_kept_pnl() -> None:
    build = SimBuilder()
    host = InstrumentHost(config(), builder=build)
    host.await_carried()
    await host.start()
    await build.tick()
    # held: nothing quoted, its reports say they have not adopted
    snap = host.snapshot()
    assert snap.state is InstrumentState.PAUSED and snap.reason == AWAITING_CARRIED and not snap.carried_adopted
    assert build.open_orders() == 0 and host.awaiting_carried
    # Act: the Controller answers: it was running, with PnL, fees, limits and a strategy set through the API
    gamma = StrategySettings.model_validate({**config().strategy.model_dump(mode="json"), "gamma": 0.0123})
    kept = CarriedState(strategy=gamma.model_dump(mode="json"), limits_used=LimitsUsed(today(), 80.0, 25.0),
                        realised_pnl_usd=12.5, fees_usd=0.75)
    host.adopt(kept)
    await build.tick()
    # Assert: quoting on its own, with the kept strategy; the kept PnL and limits are the base of its own
    assert build.open_orders() > 0 and host.state is InstrumentState.QUOTING and not host.awaiting_carried
    assert host.config.strategy.gamma == 0.0123
    snap = host.snapshot()
    assert snap.carried_adopted and (snap.realised_pnl_usd, snap.fees_usd) == (12.5, 0.75)
    assert snap.limits_used is not None and snap.limits_used.loss_usd == pytest.approx(80.0, abs=1e-6)
    assert snap.limits_used.drawdown_usd >= 25.0 - 1e-6
    # its fills add to the kept figures
    runtime = build.runtime
    assert runtime is not None
    best_bid = max(o.price for o in runtime.service.core.tracker.open_orders(BTC) if o.side is Side.BUY)
    build.runtime.gateway.market_sink(runtime.service).on_trade(  # type: ignore[union-attr]
        trade(best_bid - 5, 0.5, Side.SELL, build.clock.now_ns())
    )
    await build.tick()
    own_fees = runtime.service.core.tracker.fees_usd(BTC)
    assert runtime.service.stats.fills > 0 and host.snapshot().fees_usd == pytest.approx(0.75 + own_fees)
    assert host.current_carried().fees_usd == pytest.approx(0.75 + own_fees)
    await host.stop()


def test_a_host_reports_its_figures_as_its_own_until_it_adopted_the_carried_state() -> None:
    failed = InstrumentHost(config())  # e.g. no credentials on its node: it never asks
    failed.fail("no usable live credentials")
    assert not failed.adopted and not failed.snapshot().carried_adopted
    restarted = InstrumentHost(config())
    restarted.adopt(CarriedState(realised_pnl_usd=2.0))
    snap = restarted.snapshot()
    assert restarted.adopted and snap.carried_adopted and snap.realised_pnl_usd == 2.0


async def test_kept_limits_adopted_late_still_trip_the_kill_switch() -> None:
    build = SimBuilder()
    host = InstrumentHost(config(**{"kill_switch.max_daily_loss_usd": 100.0}), builder=build)
    host.await_carried()
    await host.start()
    await build.tick()
    # Act: the day's loss kept by the Controller is past the limit (a fresh budget would have let it quote)
    host.adopt(CarriedState(limits_used=LimitsUsed(today(), 150.0, 0.0)))
    await build.tick()
    # Assert
    snap = host.snapshot()
    assert snap.state is InstrumentState.PAUSED and "daily loss 150.00" in (snap.reason or "")
    assert build.open_orders() == 0 and host.current_carried().kill_reason is not None
    await host.stop()


async def test_a_kept_kill_switch_adopted_late_keeps_the_host_held_with_its_reason() -> None:
    build = SimBuilder()
    host = InstrumentHost(config(), builder=build)
    host.await_carried()
    await host.start()
    host.adopt(CarriedState(kill_reason="test", realised_pnl_usd=-3.0))
    await build.tick()
    snap = host.snapshot()
    assert snap.state is InstrumentState.PAUSED and snap.reason == "kill switch: test" and snap.realised_pnl_usd == -3.0
    assert build.open_orders() == 0
    host.resume()  # only a resume lifts it
    await build.tick()
    assert build.open_orders() > 0
    await host.stop()


async def test_what_arrives_while_the_runtime_is_built_is_applied_once_it_is() -> None:
    build = SimBuilder()
    build.gate.clear()
    host = InstrumentHost(config(), builder=build)
    host.await_carried()
    starting = asyncio.create_task(host.start())
    await asyncio.sleep(0.01)
    # Act: the kept state (paused by an operator) arrives mid-build
    host.adopt(CarriedState(paused="maintenance", realised_pnl_usd=4.0))
    build.gate.set()
    await starting
    await build.tick()
    # Assert: built with the awaiting hold, then held as the kept state says
    assert host.snapshot().reason == "maintenance" and build.open_orders() == 0
    assert host.snapshot().realised_pnl_usd == 4.0
    # an operator's command taken while building is applied too (the build had the state of its start)
    build2 = SimBuilder()
    build2.gate.clear()
    host2 = InstrumentHost(config(), builder=build2)
    starting = asyncio.create_task(host2.start())
    await asyncio.sleep(0.01)
    host2.kill("operator")
    build2.gate.set()
    await starting
    await build2.tick()
    assert host2.snapshot().reason == "kill switch: operator" and build2.open_orders() == 0
    await host.stop()
    await host2.stop()

"""QuotingService against the REAL emulator over a real websocket: shadow and live, the issue's scenarios."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Any

from exchange_kit import (
    NAME,
    START_S,
    Accounts,
    EmulatorFactory,
    Raw,
    eventually,
    own,
    raw_positions,
    run_config,
)
from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.instrument_runtime import build_runtime
from thalex_modular.emulator.process import emulator_process
from thalex_modular.platform.adapters.sim_gateway import SimGateway
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.use_cases.quoting_core import QuotingCore


async def test_shadow_quotes_follow_the_market_and_never_log_in(start_emulator: EmulatorFactory,
                                                                  accounts: Accounts) -> None:
    # Arrange: credentials ARE configured, shadow must not use them
    server = await start_emulator(speed=5.0)
    gc.unfreeze()
    runtime = await build_runtime(run_config(server, "shadow", accounts[1][0]))
    try:
        # Act / Assert
        assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's reach
        assert isinstance(runtime.gateway, SimGateway)
        assert not runtime.session.logged_in
        assert all(session.account is None for session in server.sessions)
        mids = []
        for _ in range(5):
            await asyncio.sleep(0.8)
            await eventually(lambda: bool(own(runtime, Side.BUY) and own(runtime, Side.SELL)))
            ticker = runtime.service.core.last_ticker
            assert ticker is not None
            bids, asks = own(runtime, Side.BUY), own(runtime, Side.SELL)
            quote_mid = (max(bids) + min(asks)) / 2
            assert max(bids) < min(asks)
            assert abs(quote_mid - ticker.mid_price) < 0.001 * ticker.mid_price  # centred on the market
            mids.append(quote_mid)
        assert len(set(mids)) > 1  # the market moved and the quotes with it
    finally:
        await runtime.stop()
    assert runtime.gateway.engine.open_order_count() == 0  # type: ignore[union-attr]


async def test_live_fills_move_the_position(start_emulator: EmulatorFactory, accounts: Accounts) -> None:
    server = await start_emulator(speed=5.0)
    runtime = await build_runtime(run_config(server, "live", accounts[1][0]))
    try:
        tracker = runtime.service.core.tracker
        await eventually(lambda: tracker.position_amount(NAME) != 0.0, timeout_s=20.0)  # filled: position moved
        assert runtime.service.stats.fills > 0

        async def positions_agree() -> bool:
            exchange = {e.instrument_name: e.position for e in await runtime.gateway.portfolio()}
            return abs(exchange.get(NAME, 0.0) - runtime.service.core.tracker.position_amount(NAME)) < 1e-9

        await eventually(positions_agree)  # fill-derived position == the exchange's portfolio
    finally:
        await runtime.stop()


async def test_dropped_connection_leaves_no_orphans_and_state_matches(start_emulator: EmulatorFactory,
                                                                      accounts: Accounts) -> None:
    server = await start_emulator(speed=2.0)
    account = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", account))
    control = await Raw.control(server)
    try:
        await eventually(lambda: len(own(runtime)) == 6)
        old_ids = {o.order_id for o in runtime.service.core.tracker.open_orders(NAME)}
        # Act: the exchange drops our connection mid-quoting
        await control.call("emulator/drop_connections", account=account.account)
        await eventually(lambda: runtime.session.connects >= 2 and runtime.service.quoting, timeout_s=15.0)

        async def tracked_equals_exchange() -> bool:
            tracker = runtime.service.core.tracker
            tracked = {o.order_id for o in tracker.open_orders(NAME)}
            exchange = {u.order_id for u in await runtime.gateway.open_orders()}
            settled = all(o.request_in_flight is None for o in tracker.open_orders(NAME))
            return settled and tracked == exchange and len(exchange) == 6

        await eventually(tracked_equals_exchange, timeout_s=10.0)
        # Assert: the old session's orders were deleted by cancel-on-disconnect, none survive untracked
        exchange_ids = {u.order_id for u in await runtime.gateway.open_orders()}
        assert not exchange_ids & old_ids
        assert runtime.service.stats.resyncs >= 2
    finally:
        await control.close()
        await runtime.stop()
    trader = await Raw.open(server.url, account)
    assert await trader.call("private/open_orders") == []  # clean stop: cancel_session pulled everything
    await trader.close()


async def test_throttling_is_respected(start_emulator: EmulatorFactory, accounts: Accounts) -> None:
    server = await start_emulator(speed=20.0, rate_limits={"enabled": True, "cod_per_s": 5.0, "persistent_per_s": 5.0})
    runtime = await build_runtime(run_config(server, "live", accounts[1][0], **{"strategy.amend_tolerance_ticks": 0}))
    try:
        await asyncio.sleep(4.0)
        gateway = runtime.gateway
        stats = runtime.service.stats
        local = gateway.local_throttles  # type: ignore[union-attr]
        assert stats.requests_sent > 5
        assert stats.throttled == local  # every throttle was our own bucket: the exchange never throttled us
        assert runtime.service.quoting  # backing off did not stop quoting
    finally:
        await runtime.stop()


async def test_toxic_burst_pulls_the_threatened_side(start_emulator: EmulatorFactory, accounts: Accounts) -> None:
    server = await start_emulator(speed=1.0)
    ours, other = accounts[1]
    config = run_config(server, "live", ours, **{"toxic_flow.threshold_underlying": 1.0,
                                                 "toxic_flow.cooldown_ms": 3_000})
    runtime = await build_runtime(config)
    trader = await Raw.open(server.url, other)
    try:
        await eventually(lambda: len(own(runtime)) == 6)
        # Act: another account lifts asks aggressively, 1.6 BTC in a moment
        for _ in range(4):
            await trader.call("private/buy", instrument_name=NAME, amount=0.4, order_type="market")
        # Assert: our asks are pulled, our bids stay
        await eventually(lambda: runtime.service.stats.toxic_pulls >= 1 and not own(runtime, Side.SELL), 5.0)
        assert own(runtime, Side.BUY)
        exchange = await runtime.gateway.open_orders()
        await eventually(lambda: not [u for u in exchange if u.side is Side.SELL], 2.0)
        # ... and come back after the cool-down
        await eventually(lambda: bool(own(runtime, Side.SELL)), timeout_s=8.0)
    finally:
        await trader.close()
        await runtime.stop()


async def test_live_and_shadow_on_the_same_seed_quote_the_same_prices(start_emulator: EmulatorFactory,
                                                                      accounts: Accounts) -> None:
    # sim time nearly frozen: both runs see the same market, so the first quotes must be identical
    results = []
    for mode in ("live", "shadow"):
        server = await start_emulator(speed=1e-6, seed=11)
        runtime = await build_runtime(run_config(server, mode, accounts[1][0]), record_prices=True)
        try:
            await eventually(lambda: len(runtime.service.stats.sent_prices) >= 6)  # noqa: B023
            results.append(sorted(runtime.service.stats.sent_prices[:6]))
        finally:
            await runtime.stop()
    assert results[0] == results[1]
    assert {side for side, _ in results[0]} == {Side.BUY, Side.SELL}


async def test_live_mass_quote_mode_quotes_under_mm_protection(start_emulator: EmulatorFactory,
                                                              accounts: Accounts) -> None:
    # Arrange: mass-quote mode on the real emulator
    server = await start_emulator(speed=2.0)
    account = accounts[1][0]
    config = run_config(server, "live", account, **{
        "mass_quote.enabled": True, "mass_quote.trade_amount_underlying": 0.5,
        "mass_quote.quote_amount_underlying": 0.5,
    })
    runtime = await build_runtime(config)
    observer = await Raw.open(server.url, account)
    try:
        # Act / Assert: quotes appear on the exchange as non-persistent orders of both sides
        async def both_sides_quoted() -> bool:
            orders = [o for o in await observer.call("private/open_orders") if o["instrument_name"] == NAME]
            return {o["direction"] for o in orders} == {"buy", "sell"} and not any(o["persistent"] for o in orders)

        await eventually(both_sides_quoted, timeout_s=15.0)
        assert runtime.service.stats.mass_quotes_sent > 0
        assert runtime.service.stats.requests_sent == 0  # nothing went through insert/amend
    finally:
        await runtime.stop()
        await observer.close()

    # Assert: a clean stop leaves nothing quoted
    observer = await Raw.open(server.url, account)
    try:
        orders = [o for o in await observer.call("private/open_orders") if o["instrument_name"] == NAME]
        assert orders == []
    finally:
        await observer.close()


async def test_reordered_notifications_keep_the_position_exact_without_resyncs(start_emulator: EmulatorFactory,
                                                                               accounts: Accounts) -> None:
    # Arrange: every private notification is held back until the next one (or 50 ms), so order updates and
    # fills arrive out of order and after the replies (the tracker's reply-overtakes-fill grace is unit-tested)
    server = await start_emulator(speed=5.0, faults={"reorder_share": 1.0})
    runtime = await build_runtime(run_config(server, "live", accounts[1][0]))
    try:
        tracker = runtime.service.core.tracker
        resyncs_at_start = runtime.service.stats.resyncs
        # Act: quote until several fills came in
        await eventually(lambda: runtime.service.stats.fills >= 3, timeout_s=30.0)

        async def positions_agree() -> bool:
            exchange = {e.instrument_name: e.position for e in await runtime.gateway.portfolio()}
            return abs(exchange.get(NAME, 0.0) - tracker.position_amount(NAME)) < 1e-9

        # Assert: every fill counted once (the position is the exchange's) and no resync was needed for them
        await eventually(positions_agree)
        assert runtime.service.stats.resyncs == resyncs_at_start
    finally:
        await runtime.stop()


async def test_mass_quotes_pause_after_a_protection_trip_then_come_back_refilled(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: mass-quote mode whose protection group trips on the first fill; no flow agents, so our quotes are
    # the only liquidity the trader can take
    server = await start_emulator(speed=1.0, flow_agents=False)
    ours, other = accounts[1]
    config = run_config(server, "live", ours, **{
        "mass_quote.enabled": True, "mass_quote.trade_amount_underlying": 0.01,
        "mass_quote.quote_amount_underlying": 0.5, "mass_quote.trip_cooldown_ms": 1_500, "toxic_flow.enabled": False,
    })
    runtime = await build_runtime(config)
    trader = await Raw.open(server.url, other)
    observer = await Raw.open(server.url, ours)

    async def exchange_sides() -> set[str]:  # what the exchange holds for us (polled sparingly: rate limits)
        return {o["direction"] for o in await observer.call("private/open_orders") if o["instrument_name"] == NAME}

    def tracked_sides() -> set[Side]:
        return {o.side for o in runtime.service.core.tracker.open_orders(NAME)}

    try:
        await eventually(lambda: tracked_sides() == {Side.BUY, Side.SELL}, timeout_s=15.0)
        assert await exchange_sides() == {"buy", "sell"}
        sent_before = runtime.service.stats.mass_quotes_sent
        # Act: another account lifts our asks: the fill uses up the group's trade amount
        await trader.call("private/buy", instrument_name=NAME, amount=0.1, order_type="market")
        await eventually(lambda: runtime.service.stats.mm_protection_trips >= 1, timeout_s=5.0)
        await asyncio.sleep(0.2)  # a mass quote in flight at the trip may still be answered (and counted)
        sent_at_trip = runtime.service.stats.mass_quotes_sent
        # Assert: the exchange pulled the group's quotes and we do not quote into the cool-down (1.5 s) ...
        await asyncio.sleep(0.4)
        assert await exchange_sides() == set()
        assert runtime.service.stats.mass_quotes_sent == sent_at_trip
        # ... then the group is refilled and both sides come back
        await eventually(lambda: tracked_sides() == {Side.BUY, Side.SELL}, timeout_s=10.0)
        assert await exchange_sides() == {"buy", "sell"}
        assert runtime.service.stats.mass_quotes_sent > sent_before
        assert runtime.service.stats.send_failures == 0
    finally:
        await trader.close()
        await observer.close()
        await runtime.stop()


async def test_a_fill_racing_the_resync_snapshot_is_counted_once(start_emulator: EmulatorFactory,
                                                                 accounts: Accounts) -> None:
    # Arrange: no flow agents (our quotes are the only asks), and session.orders notifications (our fills) reach
    # us 100 ms late while RPC replies do not: a resync's portfolio already holds fills still on the way to us
    server = await start_emulator(speed=1.0, flow_agents=False,
                                  faults={"delayed_feeds": ["session.orders"], "feed_delay_ms": 100})
    ours, other = accounts[1]
    runtime = await build_runtime(run_config(server, "live", ours, **{"toxic_flow.enabled": False}))
    trader = await Raw.open(server.url, other)
    try:
        await eventually(lambda: len(own(runtime, Side.SELL)) == 3, timeout_s=15.0)
        tracker = runtime.service.core.tracker
        # Act: every ask of ours is filled (they leave the open orders; only the portfolio holds their fills) and
        # a resync runs before the fill notifications arrive
        await trader.call("private/buy", instrument_name=NAME, amount=1.0, order_type="market")
        await runtime.service.resyncs.request_and_wait("test: snapshot racing fills")
        resyncs = runtime.service.stats.resyncs
        await asyncio.sleep(0.3)  # every delayed notification has arrived

        # Assert: each fill counted once: our position is the exchange's (short what was sold) with no further
        # resync needed to mend it (a fill counted twice would show here, until a later resync adopted again)
        exchange = {e.instrument_name: e.position for e in await runtime.gateway.portfolio()}
        assert exchange.get(NAME, 0.0) < 0.0
        assert abs(exchange[NAME] - tracker.position_amount(NAME)) < 1e-9
        assert runtime.service.stats.resyncs == resyncs
    finally:
        await trader.close()
        await runtime.stop()


async def test_a_resync_does_not_drop_a_fill_the_portfolio_does_not_show_yet(start_emulator: EmulatorFactory,
                                                                           accounts: Accounts) -> None:
    # Arrange: no flow agents (our quotes are the only asks); the exchange's portfolio lags its order feeds by
    # 500 ms (less than the 1 s resync settle): right after a fill, a resync's portfolio does not hold it yet
    server = await start_emulator(speed=1.0, flow_agents=False, faults={"portfolio_lag_ms": 500})
    ours, other = accounts[1]
    runtime = await build_runtime(run_config(server, "live", ours, **{"toxic_flow.enabled": False,
                                                                      "guard.resync_settle_ms": 1000}))
    trader = await Raw.open(server.url, other)
    observer = await Raw.open(server.url, ours)
    try:
        await eventually(lambda: len(own(runtime, Side.SELL)) == 3, timeout_s=15.0)
        tracker = runtime.service.core.tracker
        # Act: our asks are filled; as soon as we hold the fills, a resync runs
        await trader.call("private/buy", instrument_name=NAME, amount=1.0, order_type="market")
        await eventually(lambda: tracker.position_amount(NAME) < 0.0, timeout_s=2.0)
        lagging = await raw_positions(observer)
        started = time.monotonic()
        await runtime.service.resyncs.request_and_wait("test: portfolio lagging the fills")
        waited_s = time.monotonic() - started

        # Assert: the portfolio did lag (the fault works), the resync waited it out instead of adopting it, and
        # our position is the exchange's
        assert lagging.get(NAME, 0.0) == 0.0
        assert waited_s >= 1.0
        await asyncio.sleep(0.5)  # past the lag
        exchange = await raw_positions(observer)
        assert exchange[NAME] < 0.0
        assert abs(exchange[NAME] - tracker.position_amount(NAME)) < 1e-9
    finally:
        await trader.close()
        await observer.close()
        await runtime.stop()


async def test_live_fees_are_charged_once_per_trade_from_the_trade_history(start_emulator: EmulatorFactory,
                                                                          accounts: Accounts) -> None:
    # Arrange: live quoting until the market has filled us a few times
    server = await start_emulator(speed=5.0)
    account = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", account))
    observer = await Raw.open(server.url, account)
    try:
        await eventually(lambda: runtime.service.stats.fills >= 2, timeout_s=30.0)

        # Assert: the fees booked equal the exchange's fees of our trades (each charged once), net in the PnL
        async def fees_agree() -> bool:
            trades = (await observer.call("private/trade_history", limit=1000))["trades"]
            exchange_fees = sum(t["fee"] for t in trades if t["instrument_name"] == NAME)
            booked = runtime.service.core.tracker.fees_usd(NAME)
            counted = runtime.service.stats.fees_usd
            return exchange_fees > 0.0 and abs(booked - exchange_fees) < 1e-9 and abs(counted - booked) < 1e-9

        await eventually(fees_agree, timeout_s=10.0)
    finally:
        await observer.close()
        await runtime.stop()


async def test_shadow_fees_are_booked_once_per_simulated_trade(start_emulator: EmulatorFactory) -> None:
    # Arrange: shadow quoting until the simulated exchange has filled us a few times
    server = await start_emulator(speed=5.0)
    runtime = await build_runtime(run_config(server, "shadow", **{"shadow.maker_fee_bps": 2.0}))
    gateway = runtime.gateway
    assert isinstance(gateway, SimGateway)
    try:
        await eventually(lambda: runtime.service.stats.fills >= 2, timeout_s=30.0)
        await gateway.flush()

        # Assert: as in live, each trade's fee is charged to realised PnL once and counted in the stats
        tracker = runtime.service.core.tracker
        assert gateway.fees_usd > 0.0
        assert abs(tracker.fees_usd(NAME) - gateway.fees_usd) < 1e-9
        assert abs(runtime.service.stats.fees_usd - gateway.fees_usd) < 1e-9
    finally:
        await runtime.stop()


async def test_a_cold_compile_does_not_cost_the_live_session(accounts: Accounts, tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    # Arrange: the first warm-up of a process blocks the event loop for 2.5 s, as numba's first compile after an
    # install does (about 8 s), longer than the 1 s cancel-on-disconnect heartbeat; the exchange runs in its own
    # process (in this one, its watchdog would be blocked too)
    original = QuotingCore.warm_up
    calls: list[float] = []

    def cold_first_warm_up(core: QuotingCore) -> None:
        if not calls:
            time.sleep(2.5)
        calls.append(time.monotonic())
        original(core)

    monkeypatch.setattr(QuotingCore, "warm_up", cold_first_warm_up)
    account = accounts[1][0]
    async with emulator_process(tmp_path, accounts[0], {"seed": 7, "start_time_s": START_S}) as url:
        env = {"THALEX_KEY_ID": account.kid, "THALEX_PRIVATE_KEY_PATH": str(account.key_path)}
        config = load_run_config(None, env, {"mode": "live", "network": "local", "connection.emulator_url": url,
                                             "connection.cancel_on_disconnect_timeout_s": 1})
        # Act
        runtime = await build_runtime(config)
        try:
            # Assert: the session survived the compile (no reconnect, no resync but the one at start) and quotes
            await eventually(lambda: bool(own(runtime, Side.BUY) and own(runtime, Side.SELL)))
            await asyncio.sleep(1.5)
            assert runtime.session.connects == 1 and runtime.service.stats.resyncs == 1
        finally:
            await runtime.stop()

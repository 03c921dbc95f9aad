"""Order safety on the REAL emulator: an account shared with other sessions, orders that vanish, the kill switch,
reconnects in mass-quote mode, the portfolio feed, a key revoked mid-run, the start-up's rate budget."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from exchange_kit import NAME, Accounts, EmulatorFactory, Raw, eventually, own, raw_positions, run_config
from thalex_modular.deployment.instrument_runtime import build_runtime
from thalex_modular.deployment.run_cli import run
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.error_codes import ORDER_NOT_FOUND
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder

LABEL = "thalex-modular"  # the run config's default label


def _record_rejections(runtime: Any) -> list[RequestRejected]:
    """The exchange's refusals of our requests, as the service receives them."""
    refused: list[RequestRejected] = []
    service = runtime.service
    handle = service._on_rejected

    def recording(answer: RequestRejected) -> None:
        refused.append(answer)
        handle(answer)

    service._on_rejected = recording
    return refused


async def _mark(client: Raw) -> float:
    return float((await client.call("public/ticker", instrument_name=NAME))["mark_price"])


async def test_orders_of_other_sessions_are_never_adopted_amended_cancelled_or_charged(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: a manual trader on OUR account (a persistent session) rests a labelled bid and an unlabelled ask near
    # the market before we start
    server = await start_emulator(speed=2.0, flow_agents=False)
    ours, other = accounts[1]
    manual = await Raw.open(server.url, ours)
    mark = await _mark(manual)
    bid = await manual.call("private/buy", instrument_name=NAME, amount=0.02, price=float(int(mark * 0.99)),
                            label="manual")
    ask = await manual.call("private/sell", instrument_name=NAME, amount=0.03, price=float(int(mark * 1.01)))
    runtime = await build_runtime(run_config(server, "live", ours, **{"toxic_flow.enabled": False}))
    refused = _record_rejections(runtime)
    counterparty = await Raw.open(server.url, other)
    try:
        await eventually(lambda: len(own(runtime)) == 6)
        await asyncio.sleep(1.0)  # runs and amends happen meanwhile

        # Assert: neither order was adopted, amended or cancelled; risk counts them as the account's exposure
        held = {o["order_id"]: o for o in await manual.call("private/open_orders")}
        for order in (bid, ask):
            assert held[order["order_id"]]["price"] == order["price"]
            assert held[order["order_id"]]["amount"] == order["amount"]
        tracked = {o.order_id for o in runtime.service.core.tracker.open_orders(NAME)}
        assert not tracked & {bid["order_id"], ask["order_id"]}
        exposure = runtime.gateway.exposure  # type: ignore[union-attr]
        assert exposure.open_amount(NAME, Side.BUY) == 0.02 and exposure.open_amount(NAME, Side.SELL) == 0.03

        # Act: the manual trader cancels its bid (we never held it: nothing of ours is refused); a counterparty's
        # buy takes our asks and the manual ask
        await manual.call("private/cancel", order_id=bid["order_id"])
        await counterparty.call("private/buy", instrument_name=NAME, amount=0.09, price=ask["price"])
        await eventually(lambda: runtime.service.stats.fills >= 1)
        await eventually(lambda: exposure.open_amount(NAME, Side.BUY) == 0.0)
        # Assert: nothing addressed to the manual orders was refused; the only refusals allowed are the race of an
        # amend of one of our asks with the buy that filled it (the exchange answers "order not found")
        manual_ids = {bid["order_id"], ask["order_id"]}
        assert all(r.code == ORDER_NOT_FOUND and isinstance(r.request, AmendOrder | CancelOrder) for r in refused)
        assert not {r.request.order_id for r in refused} & manual_ids  # type: ignore[union-attr]
        our_trades = (await manual.call("private/trade_history", limit=1000))["trades"]
        filled_ids = {t["order_id"] for t in our_trades if t.get("label") == LABEL}
        assert {r.request.order_id for r in refused} <= filled_ids  # type: ignore[union-attr]

        # Assert: the fees we booked are our trades' only, not the manual order's
        async def fees_are_ours() -> bool:
            trades = (await manual.call("private/trade_history", limit=1000))["trades"]
            our_fees = sum(t["fee"] for t in trades if t.get("label") == LABEL)
            all_fees = sum(t["fee"] for t in trades)
            booked = runtime.service.core.tracker.fees_usd(NAME)
            return our_fees > 0 and all_fees > our_fees and abs(booked - our_fees) < 1e-9

        await eventually(fees_are_ours, interval_s=0.25)
    finally:
        await runtime.stop()
        await counterparty.close()
    # Assert: our clean stop left every order of the manual session alone
    try:
        remaining = {o["order_id"] for o in await manual.call("private/open_orders")}
        filled_ask = ask["order_id"] not in remaining
        assert remaining <= {ask["order_id"]} and (filled_ask or remaining == {ask["order_id"]})
        assert all(o["label"] != LABEL for o in await manual.call("private/open_orders"))
    finally:
        await manual.close()


async def test_an_order_the_exchange_no_longer_has_is_resynced_at_once_not_amended_again(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: our order notifications reach us 5 s late (replies do not): when another session of the account
    # cancels everything, we learn it only from the refusals of our next amends
    server = await start_emulator(speed=20.0, flow_agents=False,
                                  faults={"delayed_feeds": ["session.orders"], "feed_delay_ms": 5_000})
    ours = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", ours, **{
        "toxic_flow.enabled": False, "strategy.amend_tolerance_bps": 0.0, "strategy.amend_tolerance_ticks": 0,
    }))
    manual = await Raw.open(server.url, ours)
    try:
        await eventually(lambda: len(own(runtime)) == 6)
        resyncs = runtime.service.stats.resyncs
        # Act
        assert await manual.call("private/cancel_all") == 6
        await asyncio.sleep(3.0)  # the market moves: our runs amend orders that are gone

        # Assert: each gone order is refused at most once, then a resync rebuilds our state and we quote again
        assert 1 <= runtime.service.stats.rejections_by_code.get(ORDER_NOT_FOUND, 0) <= 6
        assert runtime.service.stats.resyncs > resyncs

        async def tracked_equals_exchange() -> bool:
            exchange = {o.order_id for o in await runtime.gateway.open_orders()}
            return {o.order_id for o in runtime.service.core.tracker.open_orders(NAME)} == exchange and bool(exchange)

        await eventually(tracked_equals_exchange)
    finally:
        await manual.close()
        await runtime.stop()


async def test_the_kill_switch_fires_pulls_every_quote_and_holds_until_an_operator_resumes(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: a drawdown limit of one cent: the first fill's fee or an adverse mark move trips it
    server = await start_emulator(speed=5.0)
    ours = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", ours, **{"kill_switch.max_drawdown_usd": 0.01}))
    observer = await Raw.open(server.url, ours)

    async def exchange_orders() -> list[dict[str, Any]]:
        return [o for o in await observer.call("private/open_orders") if o["instrument_name"] == NAME]

    async def none_rest() -> bool:
        return not await exchange_orders()

    try:
        # Act: quote until the market fills us
        await eventually(lambda: runtime.service.stats.kill_reason is not None, timeout_s=30.0)
        tripped = time.monotonic()
        # Assert: every order of ours is cancelled on the exchange within a second, and nothing quotes after
        await eventually(none_rest, timeout_s=1.0, interval_s=0.2)
        assert time.monotonic() - tripped <= 1.0
        assert "drawdown" in (runtime.service.stats.kill_reason or "")
        await asyncio.sleep(1.5)
        assert await exchange_orders() == []
        assert not runtime.service.quoting and "kill switch" in (runtime.status().held or "")
        # Act: the operator resumes
        runtime.service.controls.resume()
        # Assert: quotes come back
        await eventually(lambda: len(own(runtime)) > 0, timeout_s=5.0)
    finally:
        await observer.close()
        await runtime.stop()


async def test_mass_quotes_never_leave_before_the_resync_after_a_reconnect(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: mass-quote mode; every protection and mass-quote call is noted with the service's state at that time
    server = await start_emulator(speed=5.0)
    ours = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", ours, **{"mass_quote.enabled": True}))
    sender = runtime.service._mass
    assert sender is not None
    quoter = sender._quoter
    calls: list[tuple[str, int, bool, bool]] = []  # (method, connects, gateway ready, resync due)
    for name in ("set_mm_protection", "mass_quote"):
        original = getattr(quoter, name)

        def noting(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, runtime.session.connects, runtime.gateway.ready, runtime.service.resyncs.resyncing))
            return _original(*args, **kwargs)

        setattr(quoter, name, noting)
    control = await Raw.control(server)
    try:
        await eventually(lambda: runtime.service.stats.mass_quotes_sent > 0)
        # Act: the exchange drops our connection while tickers keep coming
        await control.call("emulator/drop_connections", account=ours.account)
        # Assert: on the new session the group is armed again, then quoted ...
        await eventually(lambda: [c[0] for c in calls if c[1] >= 2][:2] == ["set_mm_protection", "mass_quote"])
        # ... and no order-bearing call ever left while the session was not ready or a resync was due
        assert all(ready and not resyncing for _, _, ready, resyncing in calls)
    finally:
        await control.close()
        await runtime.stop()


async def test_a_position_the_portfolio_feed_contradicts_is_resynced_within_the_settle_time(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: no flow agents; a manual session of our account trades the instrument (its fill is not ours)
    server = await start_emulator(speed=1.0, flow_agents=False)
    ours = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", ours, **{"toxic_flow.enabled": False}))
    manual = await Raw.open(server.url, ours)
    try:
        await eventually(lambda: len(own(runtime)) == 6)
        tracker = runtime.service.core.tracker
        # Act: the manual session buys 0.1 at the market: it takes our asks (0.06: our fills, our position moves
        # down) and more from the book (the account's position moves up; that part is not our fill)
        await manual.call("private/buy", instrument_name=NAME, amount=0.1, order_type="market")
        started = time.monotonic()
        await eventually(lambda: runtime.service.stats.fills >= 1)

        # Assert: our position follows the account's within the hold time (1 s), not at some later resync
        async def agrees() -> bool:
            exchange = (await raw_positions(manual)).get(NAME, 0.0)
            return abs(exchange - tracker.position_amount(NAME)) < 1e-9

        await eventually(agrees, timeout_s=3.0, interval_s=0.25)
        assert time.monotonic() - started < 3.0
        assert runtime.service.stats.position_mismatches >= 1
    finally:
        await manual.close()
        await runtime.stop()


async def test_a_key_revoked_mid_run_ends_platform_run_with_a_clear_error(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: `platform run` live on the emulator
    server = await start_emulator(speed=2.0)
    ours = accounts[1][0]
    config = run_config(server, "live", ours, duration_s=20.0, status_interval_s=0.5)
    out = io.StringIO()
    task = asyncio.get_running_loop().create_task(run(config, out))
    control = await Raw.control(server)
    try:
        await eventually(lambda: "quoting=yes" in out.getvalue(), timeout_s=15.0)
        # Act: the key is revoked and the connection drops: every later login is refused
        assert (await control.call("emulator/revoke_key", kid=ours.kid)) == {"revoked": True}
        await control.call("emulator/drop_connections", account=ours.account)
        # Assert: the run ends at once with exit code 1 and says why (no silent `quoting=no` forever)
        code = await asyncio.wait_for(task, 10.0)
        assert code == 1
        assert "ended for good" in out.getvalue() and "authentication failed" in out.getvalue()
    finally:
        task.cancel()
        await control.close()


async def test_start_up_takes_one_snapshot_and_no_request_is_throttled(
    start_emulator: EmulatorFactory, accounts: Accounts
) -> None:
    # Arrange: the exchange's rate limits on (10/s persistent, 50/s after cancel-on-disconnect)
    server = await start_emulator(speed=5.0, rate_limits={"enabled": True})
    ours = accounts[1][0]
    runtime = await build_runtime(run_config(server, "live", ours))
    try:
        # Act
        await eventually(lambda: len(own(runtime)) == 6)
        await asyncio.sleep(2.0)
        # Assert: one open-orders and one portfolio snapshot at start; no request refused, locally or by the exchange
        requests = server.request_counts
        assert requests["private/open_orders"] == 1 and requests["private/portfolio"] == 1
        assert runtime.gateway.local_throttles == 0  # type: ignore[union-attr]
        assert runtime.service.stats.throttled == 0 and runtime.service.stats.rejections == 0
    finally:
        await runtime.stop()

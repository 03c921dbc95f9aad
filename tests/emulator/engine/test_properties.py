"""Property: after any sequence of operations the books are uncrossed and consistent, positions net to zero
across all accounts, and cash moves only by realised PnL and fees (which together conserve value). Perpetual
funding accrual steps (crossing 08:00 UTC settlements) are interleaved: funding is a transfer, so realised plus
unrealised funding sums to zero over all accounts."""

from __future__ import annotations

import contextlib

import pytest
from engine_kit import FUT, PERP, Env
from hypothesis import HealthCheck, given, settings, strategies as st

from thalex_modular.emulator.engine import RpcError
from thalex_modular.emulator.engine.accounts import unrealised_funding
from thalex_modular.emulator.market import LpQuotes, TakerOrder

NAMES = (PERP, FUT)




prices = st.integers(min_value=90, max_value=110)
amounts = st.integers(min_value=1, max_value=30).map(lambda n: n / 10)
insert_op = st.fixed_dictionaries(
    {
        "op": st.just("insert"),
        "session": st.integers(0, 2),
        "instrument_name": st.sampled_from(NAMES),
        "direction": st.sampled_from(["buy", "sell"]),
        "price": prices,
        "amount": amounts,
        "time_in_force": st.sampled_from(["good_till_cancelled", "immediate_or_cancel"]),
        "post_only": st.booleans(),
        "reduce_only": st.booleans(),
        "market": st.booleans(),
    }
)
amend_op = st.fixed_dictionaries(
    {"op": st.just("amend"), "pick": st.integers(0, 50), "price": prices, "amount": amounts}
)
cancel_op = st.fixed_dictionaries({"op": st.just("cancel"), "pick": st.integers(0, 50)})
quote_op = st.fixed_dictionaries(
    {
        "op": st.just("quote"),
        "session": st.integers(0, 2),
        "instrument_name": st.sampled_from(NAMES),
        "bids": st.lists(st.tuples(prices, amounts), max_size=3, unique_by=lambda level: level[0]),
        "asks": st.lists(st.tuples(prices, amounts), max_size=3, unique_by=lambda level: level[0]),
    }
)
agent_op = st.fixed_dictionaries(
    {
        "op": st.just("agent"),
        "instrument_name": st.sampled_from(NAMES),
        "bids": st.lists(st.tuples(st.floats(85, 115), amounts), max_size=3),
        "asks": st.lists(st.tuples(st.floats(85, 115), amounts), max_size=3),
        "take": st.sampled_from(["", "buy", "sell"]),
        "amount": amounts,
    }
)
market_op = st.fixed_dictionaries({"op": st.just("market"), "mark": prices, "width": st.integers(0, 15)})
funding_op = st.fixed_dictionaries(
    {"op": st.just("funding"), "rate": st.floats(-0.05, 0.05), "index": prices, "minutes": st.integers(0, 1_500)}
)
cancel_all_op = st.fixed_dictionaries({"op": st.just("cancel_all"), "session": st.integers(0, 2)})
ops = st.lists(
    st.one_of(insert_op, insert_op, amend_op, cancel_op, quote_op, agent_op, market_op, cancel_all_op, funding_op),
    max_size=40,
)


def _apply(env: Env, sessions: list[int], op: dict[str, object]) -> None:
    core = env.core
    kind = op["op"]
    if kind == "insert":
        params = {k: op[k] for k in ("instrument_name", "direction", "amount", "time_in_force", "reduce_only")}
        if op["market"]:
            params.update(order_type="market", time_in_force="immediate_or_cancel")
        else:
            params.update(price=op["price"], post_only=op["post_only"] and op["time_in_force"] == "good_till_cancelled")
        core.insert(sessions[op["session"]], params)  # type: ignore[index]
    elif kind in ("amend", "cancel"):
        open_orders = sorted(core.ex.orders.values(), key=lambda o: o.seq)
        client = [o for o in open_orders if o.session_id in sessions]
        if not client:
            return
        order = client[op["pick"] % len(client)]  # type: ignore[operator]
        assert order.session_id is not None
        if kind == "amend":
            core.amend(order.session_id, {"order_id": order.order_id, "price": op["price"], "amount": op["amount"]})
        else:
            core.cancel(order.session_id, {"order_id": order.order_id})
    elif kind == "quote":
        quote = {"i": op["instrument_name"], "b": [list(b) for b in op["bids"]], "a": [list(a) for a in op["asks"]]}  # type: ignore[attr-defined]
        core.mass_quote(sessions[op["session"]], {"quotes": [quote]})  # type: ignore[index]
    elif kind == "agent":
        name = str(op["instrument_name"])
        core.apply_agent_action(LpQuotes(name, tuple(op["bids"]), tuple(op["asks"])))  # type: ignore[arg-type]
        if op["take"]:
            core.apply_agent_action(TakerOrder(name, str(op["take"]), float(op["amount"])))  # type: ignore[arg-type]
    elif kind == "market":
        mark = float(op["mark"])  # type: ignore[arg-type]
        width = float(op["width"])  # type: ignore[arg-type]
        for name in NAMES:
            core.set_market(name, mark, mark, mark - width if width else None, mark + width if width else None)
    elif kind == "funding":
        env.clock.advance_by(int(op["minutes"]) * 60 * 1_000_000_000)  # type: ignore[call-overload]
        core.accrue_funding(PERP, float(op["rate"]), float(op["index"]), env.clock.now_ns())  # type: ignore[arg-type]
    elif kind == "cancel_all":
        core.cancel_all(sessions[op["session"]])  # type: ignore[index]


def _check_invariants(env: Env) -> None:
    ex = env.core.ex
    for name, book in ex.books.items():
        assert not book.crossed(), name
        for side in (book.bids, book.asks):
            assert side.prices == sorted(side.levels)
            for price, queue in side.levels.items():
                assert queue, (name, price)
                assert all(o.is_open and o.resting and o.price_ticks == price for o in queue)
                assert all(o.remaining_lots > 0 for o in queue)
                assert side.totals[price] == sum(o.remaining_lots for o in queue)
    for order in ex.orders.values():
        assert order.is_open and order.remaining_lots > 0 and order.resting
    for name in ex.listings:
        assert sum(acct.position_lots(name) for acct in ex.accounts.values()) == 0
    accounts = list(ex.accounts.values())
    realised = sum(a.realised for a in accounts)
    fees = sum(a.fees_paid for a in accounts)
    cash_moved = sum(a.balance - a.initial_balance for a in accounts)
    assert cash_moved == pytest.approx(realised - fees, abs=1e-6)
    # at one common mark every account's realised + unrealised PnL sums to zero (zero-sum trading); the realised
    # part includes realised funding, so unrealised funding is added to close the sum
    total = 0.0
    funding = 0.0
    for acct in accounts:
        for name, pos in acct.positions.items():
            listing = ex.listings[name]
            amount = listing.amount(pos.lots)
            total += pos.realised + (100.0 - pos.avg_price) * amount + unrealised_funding(pos, listing)
            funding += pos.funding_realised + unrealised_funding(pos, listing)
    assert total == pytest.approx(0.0, abs=1e-6)
    assert funding == pytest.approx(0.0, abs=1e-6)
    # (entry values themselves need not sum to zero: a position closed and reopened by another account after V
    # moved carries a new entry while its counterparty keeps the old one; only the funding PnL above is conserved)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_operations_keep_invariants(sequence: list[dict[str, object]]) -> None:
    env = Env()
    third = env.core.open_session("A000000001")
    env.core.set_cancel_on_disconnect(third, {"timeout_secs": 6})
    sessions = [env.a, env.b, third]
    for session in sessions:
        for product in ("FBTCUSD", "OBTCUSD"):
            env.core.set_mm_protection(session, {"product": product, "trade_amount": 2.0, "quote_amount": 3.0})
    for op in sequence:
        env.tick()
        with contextlib.suppress(RpcError):
            _apply(env, sessions, op)
        _check_invariants(env)
    env.core.close_session(third)
    _check_invariants(env)
    assert not any(o.session_id == third and not o.persistent for o in env.core.ex.orders.values())

"""Insert validation, post_only, collar, reduce_only, amend, cancel and margin rules (DIGEST 4.3, 8)."""

from __future__ import annotations

import pytest
from engine_kit import OPT, PERP, Env

from thalex_modular.emulator.engine import EngineConfig, RpcError


def _error(call: object) -> int:
    with pytest.raises(RpcError) as info:
        assert callable(call)
        call()
    return info.value.code


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"instrument_name": "NOPE", "price": 100, "amount": 1}, 5),
        ({"instrument_name": PERP, "price": 0, "amount": 1}, 13),
        ({"instrument_name": PERP, "price": -5, "amount": 1}, 13),
        ({"instrument_name": PERP, "price": 100.5, "amount": 1}, 15),
        ({"instrument_name": PERP, "price": 100.5, "amount": 0.00100001}, 15),  # price is checked first
        ({"instrument_name": PERP, "price": 100, "amount": 0.0015}, 14),
        ({"instrument_name": PERP, "price": 100, "amount": 0}, 14),
        ({"instrument_name": OPT, "price": 102, "amount": 0.1}, 15),
        ({"instrument_name": OPT, "price": 105, "amount": 0.05}, 14),
        ({"instrument_name": PERP, "amount": 1}, 6),
        ({"instrument_name": PERP, "price": 100, "amount": 1, "order_type": "stop"}, 6),
        ({"instrument_name": PERP, "amount": 1, "order_type": "market", "time_in_force": "good_till_cancelled"}, 25),
        (
            {
                "instrument_name": PERP,
                "price": 100,
                "amount": 1,
                "post_only": True,
                "time_in_force": "immediate_or_cancel",
            },
            25,
        ),
        ({"instrument_name": PERP, "amount": 1, "order_type": "market", "collar": "ignore"}, 45),
        ({"instrument_name": PERP, "price": 100, "amount": 1, "client_order_id": -1}, 6),
        ({"legs": [{"instrument_name": PERP, "quantity": 1}], "price": 100, "amount": 1}, 6),
    ],
)
def test_insert_errors(env: Env, params: dict[str, object], code: int) -> None:
    assert _error(lambda: env.core.insert(env.a, {"direction": "buy", **params})) == code


def test_error_message_names_field_and_value(env: Env) -> None:
    with pytest.raises(RpcError) as info:
        env.order(env.a, "buy", 100.5, 1)
    assert "100.5" in info.value.message and "tick_size" in info.value.message
    assert info.value.to_json() == {"code": 15, "message": info.value.message}


def test_duplicate_client_order_id_per_session_only(env: Env) -> None:
    env.order(env.a, "buy", 100, 0.1, client_order_id=5)
    assert _error(lambda: env.order(env.a, "buy", 99, 0.1, client_order_id=5)) == 2
    env.order(env.b, "buy", 99, 0.1, client_order_id=5)  # another session may use it
    env.core.cancel(env.a, {"client_order_id": 5})
    env.order(env.a, "buy", 98, 0.1, client_order_id=5)  # free again once closed


def test_post_only_moves_one_tick_inside_opposite_best(env: Env) -> None:
    env.order(env.a, "sell", 100, 0.1)
    status = env.order(env.b, "buy", 105, 0.1, post_only=True)
    assert status["price"] == 99 and status["status"] == "open" and status["fills"] == []
    ask = env.order(env.b, "sell", 90, 0.1, post_only=True)
    assert ask["price"] == 100 and ask["status"] == "open"


def test_reject_post_only_insert_succeeds_cancelled(env: Env) -> None:
    env.order(env.a, "sell", 100, 0.1)
    status = env.order(env.b, "buy", 100, 0.1, post_only=True, reject_post_only=True)
    assert status["status"] == "cancelled" and status["delete_reason"] == "immediate_cancel"
    assert status["change_reason"] == "insert"
    assert env.core.top(PERP) == (None, 0.0, 100.0, 0.1)
    resting = env.order(env.b, "buy", 99, 0.1, post_only=True, reject_post_only=True)
    assert resting["status"] == "open"


def test_post_only_bid_adjusted_to_zero_is_cancelled(env: Env) -> None:
    env.order(env.a, "sell", 1, 0.1)
    status = env.order(env.b, "buy", 5, 0.1, post_only=True)
    assert status["status"] == "cancelled" and status["delete_reason"] == "immediate_cancel"


def test_limit_collar_reject_by_default_clamp_and_ignore(env: Env) -> None:
    env.core.set_market(PERP, 100.0, 100.0, 95.0, 105.0)
    assert _error(lambda: env.order(env.a, "buy", 106, 0.1)) == 43
    assert _error(lambda: env.order(env.a, "sell", 94, 0.1)) == 43
    assert env.order(env.a, "buy", 105, 0.1)["price"] == 105  # at the collar is fine
    assert env.order(env.a, "buy", 200, 0.1, collar="clamp")["price"] == 105
    assert env.order(env.a, "sell", 50, 0.1, collar="clamp")["status"] == "filled"  # clamped to 95, hits 105 bid
    assert env.order(env.b, "buy", 300, 0.1, collar="ignore")["price"] == 300


def test_reduce_only_rules(env: Env) -> None:
    # flat: rejected
    assert _error(lambda: env.order(env.a, "sell", 100, 0.1, reduce_only=True)) == 6
    # build a long 0.3 for A
    env.order(env.b, "sell", 100, 0.3)
    env.order(env.a, "buy", 100, 0.3)
    # increasing: rejected
    assert _error(lambda: env.order(env.a, "buy", 90, 0.1, reduce_only=True)) == 6
    # cut to the position
    status = env.order(env.a, "sell", 110, 1.0, reduce_only=True)
    assert status["amount"] == 0.3 and status["reduce_only"] is True
    other = env.order(env.a, "sell", 111, 0.2, reduce_only=True)
    # position shrinks to 0.1: both resting reduce-only orders are re-reduced independently
    env.order(env.b, "buy", 200, 0.2, collar="ignore", time_in_force="immediate_or_cancel")
    open_orders = {o["order_id"]: o for o in env.core.open_orders(env.a)[0]}  # type: ignore[union-attr]
    assert open_orders[status["order_id"]]["remaining_amount"] == pytest.approx(0.1)
    assert open_orders[other["order_id"]]["remaining_amount"] == pytest.approx(0.1)
    # position closed: remaining reduce-only orders are cancelled
    env.order(env.b, "buy", 110, 0.1)
    assert env.core.open_orders(env.a)[0] == []


def test_amend_same_price_smaller_keeps_priority(env: Env) -> None:
    first = env.order(env.a, "sell", 100, 0.5)
    second = env.order(env.b, "sell", 100, 0.5)
    status, _ = env.core.amend(env.a, {"order_id": first["order_id"], "price": 100, "amount": 0.3})
    assert isinstance(status, dict)
    assert status["change_reason"] == "amend" and status["amount"] == 0.3
    taker = env.order(env.b, "buy", 100, 0.3)
    assert taker["status"] == "filled"
    assert env.core.open_orders(env.a)[0] == []  # the amended first order was still first in queue
    assert env.core.top(PERP) == (None, 0.0, 100.0, 0.5)
    assert second["status"] == "open"


def test_amend_larger_loses_priority(env: Env) -> None:
    first = env.order(env.a, "sell", 100, 0.5)
    env.order(env.b, "sell", 100, 0.5)
    env.core.amend(env.a, {"order_id": first["order_id"], "price": 100, "amount": 0.6})
    env.order(env.b, "buy", 100, 0.5)
    remaining = env.core.open_orders(env.a)[0]
    assert isinstance(remaining, list) and remaining[0]["remaining_amount"] == 0.6


def test_amend_price_change_can_trade(env: Env) -> None:
    env.order(env.a, "sell", 100, 0.2)
    bid = env.order(env.b, "buy", 90, 0.5, client_order_id=1)
    status, _ = env.core.amend(env.b, {"client_order_id": 1, "price": 100, "amount": 0.5})
    assert isinstance(status, dict)
    assert status["order_id"] == bid["order_id"]
    assert status["filled_amount"] == 0.2 and status["status"] == "partially_filled"
    assert [f["amount"] for f in status["fills"]] == [0.2]


def test_amend_amount_at_or_below_filled_cancels(env: Env) -> None:
    env.order(env.a, "sell", 100, 0.2)
    bid = env.order(env.b, "buy", 100, 0.5)
    status, _ = env.core.amend(env.b, {"order_id": bid["order_id"], "price": 100, "amount": 0.2})
    assert isinstance(status, dict)
    assert status["status"] == "cancelled_partially_filled" and status["delete_reason"] == "client_cancel"
    assert status["change_reason"] == "amend"


def test_amend_and_cancel_errors(env: Env) -> None:
    bid = env.order(env.a, "buy", 100, 0.5)
    assert _error(lambda: env.core.amend(env.a, {"order_id": "XYZ", "price": 100, "amount": 1})) == 1
    assert _error(lambda: env.core.amend(env.b, {"order_id": bid["order_id"], "price": 100, "amount": 1})) == 1
    assert _error(lambda: env.core.amend(env.a, {"price": 100, "amount": 1})) == 6
    both = {"order_id": bid["order_id"], "client_order_id": 1, "price": 100, "amount": 1}
    assert _error(lambda: env.core.amend(env.a, both)) == 6
    env.core.set_market(PERP, 100.0, 100.0, 95.0, 105.0)
    assert _error(lambda: env.core.amend(env.a, {"order_id": bid["order_id"], "price": 110, "amount": 1})) == 43
    status, _ = env.core.cancel(env.a, {"order_id": bid["order_id"]})
    assert isinstance(status, dict)
    assert status["status"] == "cancelled" and status["delete_reason"] == "client_cancel"
    assert status["change_reason"] == "cancel"
    assert _error(lambda: env.core.cancel(env.a, {"order_id": bid["order_id"]})) == 1


def test_cancel_all_counts_and_bulk_reason(env: Env) -> None:
    for price in (97, 98, 99):
        env.order(env.a, "buy", price, 0.1)
    env.order(env.b, "buy", 96, 0.1)
    count, events = env.core.cancel_all(env.a, {})
    assert count == 3
    updates = next(e for e in events if e.channel_kind == "account.orders").payload
    assert isinstance(updates, list)
    assert {u["delete_reason"] for u in updates} == {"client_bulk_cancel"}
    assert env.core.top(PERP)[0] == 96.0


def test_insufficient_margin(env: Env) -> None:
    small = Env(EngineConfig(initial_balance_usd=1_000.0))
    small.core.set_market(PERP, 100.0, 100.0, None, None)
    small.order(small.a, "buy", 100, 50.0)  # 5000 notional x 10 % = 500 margin
    assert _error(lambda: small.order(small.a, "buy", 100, 60.0)) == 24


def test_self_trade_is_allowed(env: Env) -> None:
    env.order(env.a, "sell", 100, 0.1)
    status = env.order(env.a, "buy", 100, 0.1)
    assert status["status"] == "filled"
    trades, _ = env.core.trade_history(env.a, {"sort": "ascending"})
    assert [(t["maker_taker"], t["position_after"]) for t in trades["trades"]] == [("maker", -0.1), ("taker", 0.0)]  # type: ignore[index]


def test_amend_that_grows_the_order_is_margin_checked() -> None:
    small = Env(EngineConfig(initial_balance_usd=1_000.0))
    small.core.set_market(PERP, 100.0, 100.0, None, None)
    bid = small.order(small.a, "buy", 100, 50.0)
    assert _error(lambda: small.core.amend(small.a, {"order_id": bid["order_id"], "price": 100, "amount": 110})) == 24
    small.core.amend(small.a, {"order_id": bid["order_id"], "price": 100, "amount": 90})

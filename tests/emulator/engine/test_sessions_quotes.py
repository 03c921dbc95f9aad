"""Sessions (cancel-on-disconnect, cancel_session), mass quotes and MM protection (DIGEST 4.1, 4.3, 4.4, 6.2)."""

from __future__ import annotations

import pytest
from engine_kit import FUT, OPT, PERP, Env

from thalex_modular.emulator.engine import Notification, RpcError


def _payload(events: list[Notification], kind: str, key: object) -> list[dict[str, object]]:
    found = [e.payload for e in events if e.channel_kind == kind and e.key == key]
    assert len(found) == 1, (kind, key, events)
    payload = found[0]
    assert isinstance(payload, list)
    return payload


def _open(env: Env, session: int) -> list[dict[str, object]]:
    return env.core.session_orders_snapshot(session)


def test_cod_orders_are_non_persistent_and_deleted_on_close(env: Env) -> None:
    before = env.order(env.a, "buy", 90, 0.1)
    result, _ = env.core.set_cancel_on_disconnect(env.a, {"timeout_secs": 6})
    assert result == {"message_rate": 50}
    after = env.order(env.a, "buy", 91, 0.1)
    assert before["persistent"] is True and after["persistent"] is False
    events = env.core.close_session(env.a)
    updates = _payload(events, "account.orders", "A000000001")
    assert [(u["order_id"], u["delete_reason"]) for u in updates] == [(after["order_id"], "session_end")]
    remaining = env.core.account_orders_snapshot("A000000001")
    assert [o["order_id"] for o in remaining] == [before["order_id"]]
    assert env.core.account_orders_snapshot("A000000001", persistent_only=True)[0]["persistent"] is True
    with pytest.raises(RpcError):
        env.order(env.a, "buy", 90, 0.1)


def test_cancel_session_needs_cod_and_keeps_session(env: Env) -> None:
    with pytest.raises(RpcError) as info:
        env.core.cancel_session(env.a, {})
    assert info.value.code == 52
    env.core.set_cancel_on_disconnect(env.a, {"timeout_secs": 6})
    env.order(env.a, "buy", 90, 0.1, client_order_id=3)
    env.core.set_mm_protection(env.a, {"product": "FBTCUSD", "trade_amount": 1, "quote_amount": 1})
    result, events = env.core.cancel_session(env.a, {})
    assert result is None
    assert _payload(events, "session.orders", env.a)[0]["delete_reason"] == "session_end"
    assert _payload(events, "session.mm_protection", env.a) == [
        {"product": "FBTCUSD", "remaining_amount": 0.0, "reason": "session_end"}
    ]
    env.order(env.a, "buy", 90, 0.1, client_order_id=3)  # session alive, id free again
    result, _ = env.core.mass_quote(env.a, {"quotes": [{"i": PERP, "b": [[90, 0.1]]}]})
    assert isinstance(result, dict) and result["errors"][0]["code"] == 23  # protection was reset


def _protect(env: Env, session: int, product: str = "FBTCUSD", trade: float = 1.0, quote: float = 1.0) -> None:
    env.core.set_mm_protection(session, {"product": product, "trade_amount": trade, "quote_amount": quote})


def _mq(env: Env, session: int, *quotes: dict[str, object], **extra: object) -> dict[str, object]:
    result, _ = env.core.mass_quote(session, {"quotes": list(quotes), **extra})
    assert isinstance(result, dict)
    return result


def test_mass_quote_requires_protection_and_respects_quote_amount(env: Env) -> None:
    result = _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]], "a": {"p": 110, "a": 0.1}})
    assert result["n_success"] == 0 and result["n_fail"] == 2
    assert {e["code"] for e in result["errors"]} == {23}  # type: ignore[union-attr]
    _protect(env, env.a, trade=0.5, quote=0.5)
    result = _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]], "a": {"p": 110, "a": 0.6}})
    assert result["n_success"] == 1 and result["n_fail"] == 1
    assert result["errors"] == [
        {"code": 44, "message": result["errors"][0]["message"], "side": "ask"}  # type: ignore[index]
    ]
    quotes = _open(env, env.a)
    assert [(q["direction"], q["price"], q["persistent"]) for q in quotes] == [("buy", 90, False)]


def test_mass_quote_replace_semantics_and_priority(env: Env) -> None:
    _protect(env, env.a)
    _protect(env, env.a, product="OBTCUSD")
    _mq(env, env.a, {"i": PERP, "b": [[90, 0.1], [89, 0.2]], "a": [[110, 0.1]]}, {"i": FUT, "b": {"p": 90, "a": 0.1}})
    first = {(q["instrument_name"], q["direction"], q["price"]): q["order_id"] for q in _open(env, env.a)}
    assert len(first) == 4
    # identical 90 level keeps its order; 89 removed; 88 added; ask side omitted (untouched); FUT absent (untouched)
    result = _mq(env, env.a, {"i": PERP, "b": [[88, 0.3], [90, 0.1]]})
    assert result == {"n_success": 1, "n_fail": 0, "errors": []}
    second = {(q["instrument_name"], q["direction"], q["price"]): q["order_id"] for q in _open(env, env.a)}
    assert second[(PERP, "buy", 90)] == first[(PERP, "buy", 90)]
    assert (PERP, "buy", 89) not in second and (PERP, "buy", 88) in second
    assert second[(PERP, "sell", 110)] == first[(PERP, "sell", 110)]
    assert second[(FUT, "buy", 90)] == first[(FUT, "buy", 90)]
    # same price, different amount: replaced (new order); [] clears a side; amount 0 deletes a level
    _mq(env, env.a, {"i": PERP, "b": [[90, 0.2], [88, 0]], "a": []})
    third = {(q["instrument_name"], q["direction"], q["price"]): q for q in _open(env, env.a)}
    assert third[(PERP, "buy", 90)]["order_id"] != first[(PERP, "buy", 90)]
    assert third[(PERP, "buy", 90)]["amount"] == 0.2
    assert not any(k[0] == PERP and k[1] == "sell" for k in third) and (PERP, "buy", 88) not in third


def test_mass_quote_bad_levels_fail_the_side(env: Env) -> None:
    _protect(env, env.a)
    _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]]})
    result = _mq(env, env.a, {"i": PERP, "b": [[91, 0.1], [91, 0.2]]}, {"i": "NOPE", "a": [[1, 1]]})
    assert result["n_fail"] == 2 and {e["code"] for e in result["errors"]} == {6, 5}  # type: ignore[union-attr]
    assert [q["price"] for q in _open(env, env.a)] == [90]  # previous quotes untouched
    with pytest.raises(RpcError):
        env.core.mass_quote(env.a, {"quotes": [{"i": PERP}] * 101})
    too_many = _mq(env, env.a, {"i": PERP, "b": [[80 + i, 0.1] for i in range(11)]})
    assert too_many["n_fail"] == 1


def test_mass_quote_post_only_and_reject(env: Env) -> None:
    env.order(env.b, "sell", 100, 0.1)
    _protect(env, env.a)
    _mq(env, env.a, {"i": PERP, "b": [[105, 0.1]]}, post_only=True)
    assert [q["price"] for q in _open(env, env.a)] == [99]
    _mq(env, env.a, {"i": PERP, "b": [[101, 0.1]]}, post_only=True, reject_post_only=True)
    assert _open(env, env.a) == []


def test_protection_trips_and_cancels_group_quotes(env: Env) -> None:
    # Arrange: trade_amount 0.3; bids on PERP and FUT (same product), an option quote (other product)
    _protect(env, env.a, trade=0.3, quote=1.0)
    _protect(env, env.a, product="OBTCUSD", trade=1.0, quote=1.0)
    _mq(
        env,
        env.a,
        {"i": PERP, "b": [[100, 0.2], [99, 0.5]]},
        {"i": FUT, "b": [[90, 0.1]]},
        {"i": OPT, "a": [[500, 0.1]]},
    )
    # Act 1: 0.2 executes -> remaining 0.1, quotes stay
    _, events = env.core.insert(env.b, {"instrument_name": PERP, "direction": "sell", "price": 100, "amount": 0.2})
    assert _payload(events, "session.mm_protection", env.a) == [
        {"product": "FBTCUSD", "remaining_amount": pytest.approx(0.1), "reason": "executions"}
    ]
    assert len(_open(env, env.a)) == 3
    # Act 2: 0.4 executes (overshoot) -> remaining -0.3, the FBTCUSD quotes are cancelled with mm_protection
    _, events = env.core.insert(env.b, {"instrument_name": PERP, "direction": "sell", "price": 99, "amount": 0.4})
    assert _payload(events, "session.mm_protection", env.a)[0]["remaining_amount"] == pytest.approx(-0.3)
    reasons = {(u["instrument_name"], u.get("delete_reason")) for u in _payload(events, "session.orders", env.a)}
    assert (PERP, "mm_protection") in reasons and (FUT, "mm_protection") in reasons
    assert [q["instrument_name"] for q in _open(env, env.a)] == [OPT]
    # needs a refill before quoting the product again
    assert _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]]})["errors"][0]["code"] == 23  # type: ignore[index]
    _protect(env, env.a, trade=0.3)
    assert _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]]})["n_success"] == 1


def test_cancel_mass_quote_across_sessions(env: Env) -> None:
    other = env.core.open_session("A000000001")
    for session in (env.a, other):
        _protect(env, session)
        _protect(env, session, product="OBTCUSD")
    _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]]}, {"i": OPT, "b": [[100, 0.1]]})
    _mq(env, other, {"i": PERP, "a": [[110, 0.1]]})
    plain = env.order(env.a, "buy", 80, 0.1)
    result, events = env.core.cancel_mass_quote(env.a, {"product": "FBTCUSD"})
    assert result is None
    assert [q["instrument_name"] for q in _open(env, env.a)] == [OPT, PERP]
    assert _open(env, env.a)[1]["order_id"] == plain["order_id"]
    assert _open(env, other) == []
    assert _payload(events, "session.mm_protection", other) == [
        {"product": "FBTCUSD", "remaining_amount": 0.0, "reason": "client_cancel"}
    ]
    assert env.core.mm_protection_snapshot(env.a) == [
        {"product": "OBTCUSD", "remaining_amount": 1.0, "reason": "refill"}
    ]


def test_set_mm_protection_validation(env: Env) -> None:
    with pytest.raises(RpcError) as info:
        env.core.set_mm_protection(env.a, {"product": "FXYZUSD", "trade_amount": 1, "quote_amount": 1})
    assert info.value.code == 17
    with pytest.raises(RpcError):
        env.core.set_mm_protection(env.a, {"product": "FBTCUSD", "trade_amount": 2, "quote_amount": 1})
    _, events = env.core.set_mm_protection(env.a, {"product": "FBTCUSD", "amount": 3})
    assert _payload(events, "session.mm_protection", env.a) == [
        {"product": "FBTCUSD", "remaining_amount": 3.0, "reason": "refill"}
    ]


def test_unfilled_quotes_absent_from_order_history(env: Env) -> None:
    _protect(env, env.a)
    _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]], "a": [[100, 0.1]]})
    env.order(env.b, "buy", 100, 0.1)
    _mq(env, env.a, {"i": PERP, "b": []})
    history, _ = env.core.order_history(env.a, {})
    assert isinstance(history, dict)
    assert [(o["direction"], o["status"]) for o in history["orders"]] == [("sell", "filled")]  # type: ignore[union-attr]


def test_partly_filled_quote_resent_identically_keeps_its_order(env: Env) -> None:
    _protect(env, env.a)
    _mq(env, env.a, {"i": PERP, "a": [[110, 0.5]]})
    quote_id = _open(env, env.a)[0]["order_id"]
    env.order(env.b, "buy", 110, 0.2)
    _mq(env, env.a, {"i": PERP, "a": [[110, 0.5]]})
    (quote,) = _open(env, env.a)
    assert quote["order_id"] == quote_id and quote["remaining_amount"] == 0.3


def test_cancel_all_includes_mass_quotes(env: Env) -> None:
    _protect(env, env.a)
    _mq(env, env.a, {"i": PERP, "b": [[90, 0.1]], "a": [[110, 0.1]]})
    env.order(env.a, "buy", 80, 0.1)
    count, _ = env.core.cancel_all(env.a)
    assert count == 3 and _open(env, env.a) == []

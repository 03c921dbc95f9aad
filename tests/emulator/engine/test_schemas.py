"""Conformance: every JSON object the core produces validates against shared/thalex-api/api.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from engine_kit import OPT, PERP, Env

from thalex_modular.emulator.market import LpQuotes

API_YAML = Path("/work/shared/thalex-api/api.yaml")
if not API_YAML.exists():  # the repository copy, when the shared folder is not mounted
    API_YAML = Path(__file__).resolve().parents[3] / "shared" / "thalex-api" / "api.yaml"


@cache
def _doc() -> dict[str, Any]:
    loaded = yaml.load(API_YAML.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert isinstance(loaded, dict)
    return loaded


def _components() -> dict[str, Any]:
    return {"components": _doc()["components"]}


def _validate(instance: object, schema: dict[str, Any]) -> None:
    full = {**_components(), **schema, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    jsonschema.validate(instance, full, cls=jsonschema.Draft202012Validator)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _strict(name: str) -> dict[str, Any]:
    """The component with no property outside those api.yaml lists (catches misspelt field names)."""
    schema = dict(_components()["components"]["schemas"][name])
    schema["additionalProperties"] = False
    return schema



@pytest.fixture
def busy(env: Env) -> Env:
    """An env where orders rested, traded, were cancelled, quoted and protected."""
    env.core.set_market(PERP, 100.0, 100.0, 50.0, 150.0)
    env.core.set_market(OPT, 50.0, 40_000.0, 5.0, 500.0, iv=0.55)
    env.core.set_cancel_on_disconnect(env.a, {"timeout_secs": 6})
    env.order(env.a, "sell", 101, 0.5, label="L", client_order_id=11)
    env.order(env.b, "buy", 101, 0.2)
    env.core.insert(env.b, {"instrument_name": OPT, "direction": "buy", "price": 50, "amount": 0.2})
    env.core.set_mm_protection(env.a, {"product": "OBTCUSD", "trade_amount": 1, "quote_amount": 1})
    env.core.mass_quote(env.a, {"quotes": [{"i": OPT, "a": [[50, 0.1], [55, 0.1]]}]})
    env.order(env.b, "buy", 90, 0.1, reduce_only=False)
    env.order(env.b, "sell", 120, 0.1, reduce_only=True)
    env.core.cancel(env.a, {"client_order_id": 11})
    env.core.apply_agent_action(LpQuotes(PERP, ((95.0, 1.0),), ((105.0, 1.0),)))
    return env


def test_order_status_and_history(busy: Env) -> None:
    core = busy.core
    statuses = core.session_orders_snapshot(busy.a) + core.account_orders_snapshot("A000000002")
    result, events = core.insert(busy.b, {"instrument_name": PERP, "direction": "buy", "price": 105, "amount": 2})
    statuses.append(result)  # type: ignore[arg-type]
    for event in events:
        if event.channel_kind in ("session.orders", "account.orders", "account.persistent_orders"):
            statuses.extend(event.payload)  # type: ignore[arg-type]
    assert len(statuses) >= 5
    for status in statuses:
        _validate(status, _strict("OrderStatus"))
    history, _ = core.order_history(busy.a, {})
    assert history["orders"]  # type: ignore[index]
    _validate(history["orders"], {"type": "array", "items": _strict("OrderHistory")})  # type: ignore[index]


def test_trades_portfolio_summary(busy: Env) -> None:
    core = busy.core
    for session in (busy.a, busy.b):
        trades, _ = core.trade_history(session, {})
        assert trades["trades"]  # type: ignore[index]
        _validate(trades["trades"], {"type": "array", "items": _strict("Trade")})  # type: ignore[index]
        portfolio, _ = core.portfolio(session)
        assert portfolio
        _validate(portfolio, {"type": "array", "items": _strict("PortfolioEntry")})
        summary, _ = core.account_summary(session)
        _validate(summary, _strict("AccountSummary"))


def test_mass_quote_protection_and_book(busy: Env) -> None:
    core = busy.core
    result, events = core.mass_quote(busy.a, {"quotes": [{"i": OPT, "b": [[10, 5.0]], "a": [[50, 0.1]]}]})
    _validate(result, _strict("DoubleSidedQuoteResult"))
    _, events = core.set_mm_protection(busy.a, {"product": "FBTCUSD", "trade_amount": 1, "quote_amount": 1})
    payload = _components()["components"]["schemas"]["session.mm_protection_payload"]
    _validate({"channel_name": "session.mm_protection", "notification": events[0].payload}, payload)
    book_schema = _doc()["paths"]["public/book"]["rpc"]["responses"]["default"]
    success = book_schema["content"]["application/json"]["schema"]["oneOf"][0]["allOf"][1]["properties"]["result"]
    _validate(core.book(PERP), success)
    assert core.book(PERP)["bids"] == [[95.0, 1.0, 1.0], [90.0, 0.1, 0.1]]


def test_funding_fields_validate(env: Env) -> None:
    """Perpetual funding: PortfolioEntry with ``perpetual_funding_entry_value`` and a Trade with
    ``perpetual_funding_pnl`` validate strictly."""
    core = env.core
    core.set_market(PERP, 100.0, 100.0, 50.0, 150.0)
    core.accrue_funding(PERP, 0.01, 100.0, env.clock.now_ns())
    env.order(env.b, "sell", 100, 1.0)
    env.order(env.a, "buy", 100, 1.0)
    env.clock.advance_by(3_600 * 1_000_000_000)
    core.accrue_funding(PERP, 0.01, 100.0, env.clock.now_ns())
    env.order(env.b, "sell", 100, 1.0)
    env.order(env.a, "buy", 100, 1.0)  # adds at a non-zero funding value: entry value present
    env.order(env.a, "sell", 100, 0.5)
    _, events = core.insert(env.b, {"instrument_name": PERP, "direction": "buy", "price": 100, "amount": 0.5})
    trades = [t for e in events if e.channel_kind == "account.trade_history" for t in e.payload]  # type: ignore[attr-defined]
    assert trades and all("perpetual_funding_pnl" in t for t in trades)
    _validate(trades, {"type": "array", "items": _strict("Trade")})
    portfolio, _ = core.portfolio(env.a)
    assert any("perpetual_funding_entry_value" in line for line in portfolio)  # type: ignore[attr-defined]
    _validate(portfolio, {"type": "array", "items": _strict("PortfolioEntry")})
    summary, _ = core.account_summary(env.a)
    _validate(summary, _strict("AccountSummary"))

from __future__ import annotations

from dataclasses import replace

import pytest

from thalex_modular.emulator.market import (
    AgentConfig,
    FlowAgents,
    LpQuotes,
    MarketConfig,
    MarketModel,
    TakerOrder,
)
from thalex_modular.emulator.market.agents import Top

SEC = 1_000_000_000


def _on_grid(value: float, step: float) -> bool:
    return abs(value / step - round(value / step)) < 1e-6


def _run(config: MarketConfig, seconds: float, step_s: float = 0.5) -> tuple[list[tuple[int, object]], FlowAgents]:
    model = MarketModel(config)
    agents = FlowAgents(config, model)
    tops: dict[str, Top] = {}
    now = config.start_ns
    out: list[tuple[int, object]] = []
    for _ in range(int(seconds / step_s)):
        for action in agents.step(now, tops):
            out.append((now, action))
            if isinstance(action, LpQuotes):
                bid = action.bids[0] if action.bids else (None, 0.0)
                tops[action.instrument_name] = (bid[0], bid[1], action.asks[0][0], action.asks[0][1])
        now += int(step_s * SEC)
    return out, agents


def test_first_step_quotes_every_instrument_on_grid_never_crossed() -> None:
    # Arrange
    config = MarketConfig(seed=3)
    model = MarketModel(config)
    specs = {s.instrument_name: s for s in model.instruments()}
    # Act
    actions = FlowAgents(config, model).step(config.start_ns, {})
    # Assert
    quotes = [a for a in actions if isinstance(a, LpQuotes)]
    assert {q.instrument_name for q in quotes} == set(specs)
    assert not [a for a in actions if isinstance(a, TakerOrder)]
    for q in quotes:
        spec = specs[q.instrument_name]
        assert len(q.asks) == config.agents.lp_levels and q.bids
        assert q.bids[0][0] < q.asks[0][0]
        fair = model.fair_price(q.instrument_name)
        assert q.bids[0][0] <= fair <= q.asks[0][0]
        assert [b[0] for b in q.bids] == sorted({b[0] for b in q.bids}, reverse=True)
        assert [a[0] for a in q.asks] == sorted({a[0] for a in q.asks})
        for price, amount in (*q.bids, *q.asks):
            assert price >= spec.tick_size and _on_grid(price, spec.tick_size)
            assert amount >= spec.min_order_amount and _on_grid(amount, spec.volume_tick_size)


def test_quotes_stay_valid_and_follow_the_market_over_time() -> None:
    config = MarketConfig(seed=4)
    actions, _ = _run(config, 600)
    quotes = [a for _, a in actions if isinstance(a, LpQuotes)]
    per_name: dict[str, int] = {}
    for q in quotes:
        assert not q.bids or q.bids[0][0] < q.asks[0][0]
        per_name[q.instrument_name] = per_name.get(q.instrument_name, 0) + 1
    assert per_name["BTC-PERPETUAL"] > 10  # requotes as the index moves


def test_agents_are_deterministic_for_a_seed() -> None:
    a, _ = _run(MarketConfig(seed=8), 300)
    b, _ = _run(MarketConfig(seed=8), 300)
    c, _ = _run(MarketConfig(seed=9), 300)
    assert a == b
    assert a != c


def test_taker_flow_is_poisson_at_configured_rate() -> None:
    agents_cfg = AgentConfig(bursts_per_hour=0.0, taker_rate_perp=0.5)
    config = MarketConfig(seed=5, agents=agents_cfg)
    actions, _ = _run(config, 1800)
    perp = [a for _, a in actions if isinstance(a, TakerOrder) and a.instrument_name == "BTC-PERPETUAL"]
    assert len(perp) == pytest.approx(0.5 * 1800, rel=0.15)
    buys = sum(1 for a in perp if a.direction == "buy")
    assert 0.35 < buys / len(perp) < 0.65
    for order in perp:
        assert order.amount >= 0.001 and _on_grid(order.amount, 0.001)


def test_bursts_are_one_sided_and_raise_the_rate() -> None:
    # Arrange: frequent bursts
    agents_cfg = replace(AgentConfig(), bursts_per_hour=60.0, burst_duration_s=30.0, burst_rate_multiplier=20.0)
    config = MarketConfig(seed=6, agents=agents_cfg)
    model = MarketModel(config)
    agents = FlowAgents(config, model)
    tops: dict[str, Top] = {}
    now = config.start_ns
    in_burst: dict[tuple[str, int], list[TakerOrder]] = {}
    # Act
    for _ in range(3600):
        now += SEC // 2
        for action in agents.step(now, tops):
            if isinstance(action, LpQuotes):
                tops[action.instrument_name] = (action.bids[0][0], 1.0, action.asks[0][0], 1.0)
            elif isinstance(action, TakerOrder):
                for burst in agents.bursts.values():
                    if burst.instrument_name == action.instrument_name and burst.end_ns > now:
                        in_burst.setdefault((burst.instrument_name, burst.end_ns), []).append(action)
    # Assert
    assert len(in_burst) >= 5
    for orders in in_burst.values():
        assert len({o.direction for o in orders}) == 1
    mean_per_burst = sum(len(v) for v in in_burst.values()) / len(in_burst)
    assert mean_per_burst > 3 * agents_cfg.taker_rate_perp * agents_cfg.burst_duration_s


def test_no_taker_order_into_an_empty_side() -> None:
    config = MarketConfig(seed=2)
    model = MarketModel(config)
    agents = FlowAgents(config, model)
    now = config.start_ns
    agents.step(now, {})
    orders = []
    for _ in range(600):
        now += SEC
        orders += [a for a in agents.step(now, {}) if isinstance(a, TakerOrder)]
    assert orders == []

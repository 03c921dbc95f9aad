"""The GLFT strategy: its quotes are the closed form computed directly (Guéant 2017, ξ = γ), its kernel equals its
pure-Python twin, the inventory bound quotes one side only, and the config selects it wherever a run config is read."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from stubs import perpetual
from thalex_modular.deployment.config import ConfigError, load_run_config
from thalex_modular.deployment.instrument_runtime import service_parts
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.jit import python_twin
from thalex_modular.platform.domain.quote_array import new_quote_array, quotes_from_array
from thalex_modular.platform.use_cases.sim_session import CoreParameters, build_strategy
from thalex_modular.strategies.avellaneda_stoikov import AvellanedaStoikovStrategy
from thalex_modular.strategies.glft import GlftConfig, GlftStrategy
from thalex_modular.strategies.glft_kernel import glft_quote_kernel, pack_glft_parameters

NOW = 1_700_000_000 * 10**9
GAMMA, SIZE, KAPPA, A = 0.01, 0.1, 0.05, 2.0
FAIR = 100_000.0
SIGMA_REL = 2e-5  # per sqrt(second): 2 USD at FAIR


def config(**overrides: object) -> GlftConfig:
    values: dict[str, object] = {
        "gamma": GAMMA, "max_position_underlying": 1.0, "level_amounts": (SIZE, 0.2), "kappa_per_usd": KAPPA,
        "arrival_intensity_per_s": A, "min_spread_ticks": 1, "max_skew_ticks": 10_000, "max_cross_ticks": 10_000,
        "maker_fee_bps": 0.0, "min_edge_bps": 0.0,
    }
    values.update(overrides)
    return GlftConfig(**values)  # type: ignore[arg-type]


def closed_form(position: float, sigma_usd: float) -> tuple[float, float]:
    """(bid, ask) in USD from the paper's formulas, written out here independently of the kernel."""
    xi_delta = GAMMA * SIZE
    c1 = math.log(1.0 + xi_delta / KAPPA) / xi_delta
    c2 = math.sqrt(GAMMA / (2.0 * A * SIZE * KAPPA) * (1.0 + xi_delta / KAPPA) ** (KAPPA / xi_delta + 1.0))
    bid_distance = c1 + (2.0 * position + SIZE) / 2.0 * sigma_usd * c2
    ask_distance = c1 - (2.0 * position - SIZE) / 2.0 * sigma_usd * c2
    return FAIR - bid_distance, FAIR + ask_distance


@pytest.mark.parametrize("position", [0.0, 0.3, -0.45])
def test_quotes_are_the_closed_form_rounded_by_the_instrument(position: float) -> None:
    inst = perpetual(tick_size=0.5, volume_tick_size=0.001, min_order_amount=0.001)
    strategy = GlftStrategy(config())
    out = new_quote_array(strategy.max_quotes)

    n = strategy.quote_into(out, inst, None, None, FAIR, position, SIGMA_REL, 1.0, NOW)

    bid, ask = closed_form(position, SIGMA_REL * FAIR)
    quotes = quotes_from_array(out, n)
    bids = [q for q in quotes if q.side is Side.BUY]
    asks = [q for q in quotes if q.side is Side.SELL]
    assert bids[0].price_ticks == inst.bid_ticks(bid) and asks[0].price_ticks == inst.ask_ticks(ask)
    assert bids[1].price_ticks == bids[0].price_ticks - 1 and asks[1].price_ticks == asks[0].price_ticks + 1
    # a long position centres the quotes below the mid (sell sooner, buy later), a short one above
    centre = (bids[0].price_ticks + asks[0].price_ticks) * 0.5 * inst.tick_size
    assert math.copysign(1.0, FAIR - centre) == math.copysign(1.0, position) or position == 0.0


def test_the_inventory_bound_quotes_the_reducing_side_only() -> None:
    inst = perpetual(tick_size=0.5, volume_tick_size=0.001, min_order_amount=0.001)
    strategy = GlftStrategy(config(max_position_underlying=0.5))
    out = new_quote_array(strategy.max_quotes)
    sides = {}
    for position in (0.5, -0.5, 0.45):
        n = strategy.quote_into(out, inst, None, None, FAIR, position, SIGMA_REL, 1.0, NOW)
        sides[position] = [(q.side, q.amount_lots) for q in quotes_from_array(out, n)]
    assert {s for s, _ in sides[0.5]} == {Side.SELL}  # long at the limit: asks only
    assert {s for s, _ in sides[-0.5]} == {Side.BUY}  # short at the limit: bids only
    # near the limit the adding side is cut to the room left (0.05 of the underlying = 50 lots)
    assert [lots for s, lots in sides[0.45] if s is Side.BUY] == [50]


def test_the_regime_multiplier_widens_and_skews_harder() -> None:
    inst = perpetual(tick_size=0.5)
    strategy = GlftStrategy(config())
    out = new_quote_array(strategy.max_quotes)
    n = strategy.quote_into(out, inst, None, None, FAIR, 0.3, SIGMA_REL, 1.0, NOW)
    calm = quotes_from_array(out, n)
    n = strategy.quote_into(out, inst, None, None, FAIR, 0.3, SIGMA_REL, 2.0, NOW)
    stressed = quotes_from_array(out, n)
    # rows: two bids then two asks
    assert stressed[2].price_ticks - stressed[0].price_ticks > calm[2].price_ticks - calm[0].price_ticks
    assert (stressed[0].price_ticks + stressed[2].price_ticks) < (calm[0].price_ticks + calm[2].price_ticks)


@settings(max_examples=200, deadline=None)
@given(
    position=st.floats(-1.2, 1.2), sigma=st.floats(0.0, 1e-3), mult=st.floats(0.1, 5.0),
    kappa=st.floats(1e-3, 10.0), arrival=st.floats(0.01, 100.0), gamma=st.floats(1e-5, 1.0),
    bid=st.one_of(st.none(), st.floats(90_000.0, 110_000.0)), ask=st.one_of(st.none(), st.floats(90_000.0, 110_000.0)),
)
def test_the_kernel_equals_its_python_twin(position: float, sigma: float, mult: float, kappa: float, arrival: float,
                                           gamma: float, bid: float | None, ask: float | None) -> None:
    inst = perpetual(tick_size=0.5)
    fp, ip = pack_glft_parameters(inst, config(gamma=gamma, arrival_intensity_per_s=arrival, max_cross_ticks=0,
                                               maker_fee_bps=-1.0, min_edge_bps=2.0, max_skew_ticks=40))
    args = (fp, ip, math.nan if bid is None else bid, math.nan if ask is None else ask, FAIR, position, sigma, mult,
            NOW, kappa)
    compiled, twin = new_quote_array(4), new_quote_array(4)
    n_compiled = glft_quote_kernel(compiled, *args)
    n_twin = python_twin(glft_quote_kernel)(twin, *args)
    assert n_compiled == n_twin
    if n_compiled > 0:
        assert np.array_equal(compiled[:n_compiled], twin[:n_twin])


def test_bad_parameters_are_refused_with_the_field() -> None:
    with pytest.raises(InvalidValue, match="arrival_intensity_per_s"):
        config(arrival_intensity_per_s=0.0)
    with pytest.raises(InvalidValue, match="model"):
        build_strategy(CoreParameters(model="garch"), perpetual())


def test_the_run_config_selects_the_model() -> None:
    glft = load_run_config(None, {}, {"mode": "shadow", "network": "local", "strategy.model": "glft",
                                      "strategy.arrival_intensity_per_s": 3.0})
    params, *_ = service_parts(glft)
    strategy = build_strategy(params, perpetual())
    assert isinstance(strategy, GlftStrategy) and strategy.config.arrival_intensity_per_s == 3.0  # type: ignore[attr-defined]
    default = load_run_config(None, {}, {"mode": "shadow", "network": "local"})
    assert type(build_strategy(service_parts(default)[0], perpetual())) is AvellanedaStoikovStrategy
    with pytest.raises(ConfigError, match=r"strategy\.model"):
        load_run_config(None, {}, {"mode": "shadow", "network": "local", "strategy.model": "garch"})

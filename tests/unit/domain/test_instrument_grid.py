"""Instrument grid conversions: the fast exact division path equals the decimal rounding it replaces."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind

STEPS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001, 0.0001, 1e-5, 2.5, 5.0, 10.0, 0.2, 0.3, 1 / 3, 0.125)


def instrument(tick: float, lot: float) -> Instrument:
    return Instrument("X-PERPETUAL", InstrumentKind.PERPETUAL, "XUSD", tick, lot, lot)


@given(st.sampled_from(STEPS), st.sampled_from(STEPS), st.integers(-(10**9), 10**9))
def test_price_and_amount_equal_decimal_rounding(tick: float, lot: float, n: int) -> None:
    inst = instrument(tick, lot)
    assert inst.price(n) == round(n * tick, inst.price_decimals)
    assert inst.amount(n) == round(n * lot, inst.amount_decimals)


@given(st.sampled_from(STEPS), st.integers(1, 10**9))
def test_grid_round_trip(tick: float, n: int) -> None:
    inst = instrument(tick, tick)
    price = inst.price(n)
    assert inst.bid_ticks(price) == n
    assert inst.ask_ticks(price) == n
    assert inst.lots_of(inst.amount(n)) == n


def test_min_order_lots_is_the_minimum_on_the_volume_grid() -> None:
    inst = Instrument("X-PERPETUAL", InstrumentKind.PERPETUAL, "XUSD", 1.0, 0.001, 0.003)
    assert inst.min_order_lots == 3
    assert math.isclose(inst.amount(inst.min_order_lots), 0.003)

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pytest

from thalex_modular.emulator.market import InstrumentSpec, MarketModel, black76
from thalex_modular.emulator.market.pricing import atm_iv, forward_price, smile_iv, years_to_expiry

SEC = 1_000_000_000


def _chains(model: MarketModel) -> dict[tuple[str, str], list[InstrumentSpec]]:
    chains: dict[tuple[str, str], list[InstrumentSpec]] = defaultdict(list)
    for spec in model.instruments():
        if spec.type == "option" and spec.expiry_date is not None:
            chains[(spec.underlying, spec.expiry_date)].append(spec)
    return chains


def _ticker(model: MarketModel, name: str) -> dict[str, float]:
    return {k: float(v) for k, v in model.ticker_fields(name, None, model.now_ns).items()}  # type: ignore[arg-type]


def test_put_call_parity_and_strike_monotonicity(model: MarketModel) -> None:
    model.step(model.config.start_ns + 3600 * SEC)
    for chain in _chains(model).values():
        strikes = sorted({s.strike_price for s in chain if s.strike_price is not None})
        calls, puts = [], []
        for k in strikes:
            base = next(s for s in chain if s.strike_price == k).instrument_name.rsplit("-", 1)[0]
            c, p = _ticker(model, base + "-C"), _ticker(model, base + "-P")
            assert c["iv"] == p["iv"] and c["forward"] == p["forward"]
            assert c["mark_price"] - p["mark_price"] == pytest.approx(c["forward"] - k, abs=1e-6 * k)
            assert c["delta"] - p["delta"] == pytest.approx(1.0)
            calls.append(c["mark_price"])
            puts.append(p["mark_price"])
        assert all(a > b for a, b in itertools.pairwise(calls))
        assert all(a < b for a, b in itertools.pairwise(puts))


def test_smile_has_skew_and_wings(model: MarketModel) -> None:
    chain = max(_chains(model).values(), key=lambda c: c[0].expiration_timestamp or 0)
    ivs = {s.strike_price: _ticker(model, s.instrument_name)["iv"] for s in chain if s.option_type == "call"}
    strikes = sorted(ivs)
    atm = min(ivs.values())
    assert ivs[strikes[0]] > atm and ivs[strikes[-1]] > atm  # wings above the minimum
    assert ivs[strikes[0]] > ivs[strikes[-1]]  # downside skew


def test_option_ticker_fields_and_collars(model: MarketModel) -> None:
    spec = next(s for s in model.instruments() if s.type == "option")
    fields = model.ticker_fields(spec.instrument_name, None, model.now_ns)
    assert {"mark_price", "mark_timestamp", "index", "delta", "iv", "forward", "collar_low", "collar_high"} <= set(
        fields)
    low, high, mark = float(fields["collar_low"]), float(fields["collar_high"]), float(fields["mark_price"])  # type: ignore[arg-type]
    assert low < mark < high
    assert low / spec.tick_size == pytest.approx(round(low / spec.tick_size))
    assert high / spec.tick_size == pytest.approx(round(high / spec.tick_size))
    assert model.fair_price(spec.instrument_name) == pytest.approx(mark)


def test_future_mark_is_forward_above_index(model: MarketModel) -> None:
    futures = sorted((s for s in model.instruments() if s.type == "future" and s.currency == "BTC"),
                     key=lambda s: s.expiration_timestamp or 0)
    marks = [float(model.ticker_fields(s.instrument_name, None, model.now_ns)["mark_price"]) for s in futures]  # type: ignore[arg-type]
    index = model.index_price("BTCUSD")
    assert index < marks[0] < marks[1] < marks[2]  # positive carry, longer expiry higher


def test_fair_prices_vectorised_equal_scalar(model: MarketModel) -> None:
    model.step(model.config.start_ns + 90 * SEC)
    fairs = model.fair_prices()
    for name, value in fairs.items():
        assert model.fair_price(name) == pytest.approx(value, rel=1e-12)


def test_option_tickers_from_the_chain_pass_equal_the_scalar_formulas(model: MarketModel) -> None:
    # Arrange: a step; every option's fields come from one vectorised pass over its chain
    model.step(model.config.start_ns + 600 * SEC)
    options = [s for s in model.instruments() if s.type == "option"]
    assert options
    for spec in options:
        # Act
        fields = _ticker(model, spec.instrument_name)
        # Assert: the scalar formulas on this option alone give the same mark, iv, forward and delta
        index = model.index_price(spec.underlying)
        u = next(u for u in model.config.underlyings if u.currency + "USD" == spec.underlying)
        years = float(years_to_expiry(model.now_ns, spec.expiry_ns() or 0))
        forward = float(forward_price(np.asarray(index), u, np.asarray(years)))
        vol = model._indexes[spec.underlying].vol  # the index's diffusive vol at this step (no public reader)
        atm = atm_iv(u, model.config.smile, np.asarray(vol), np.asarray(years))
        iv = float(smile_iv(atm, np.asarray(forward), spec.strike_price or 0.0, np.asarray(years), model.config.smile))
        is_call = spec.option_type == "call"
        assert fields["forward"] == pytest.approx(forward, rel=1e-12)
        assert fields["iv"] == pytest.approx(iv, rel=1e-12)
        strike = spec.strike_price or 0.0
        assert fields["mark_price"] == pytest.approx(black76.price(forward, strike, years, iv, is_call), rel=1e-9,
                                                     abs=1e-9 * strike)
        assert fields["delta"] == pytest.approx(black76.delta(forward, strike, years, iv, is_call), abs=1e-12)

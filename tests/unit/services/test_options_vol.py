"""OptionsVolatilityService against a direct Black-76 computation on the emulator's own option chain."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from thalex_modular.emulator.market import MarketConfig, MarketModel, black76
from thalex_modular.emulator.market.pricing import atm_iv, forward_price, years_to_expiry
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_instruments
from thalex_modular.platform.domain.clock import seconds_to_ns
from thalex_modular.platform.domain.entities import Ticker
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market.rolling_volatility import SECONDS_PER_YEAR
from thalex_modular.platform.services.options_vol import (
    OptionsVolatilityService,
    OptionsVolConfig,
    constant_maturity_vol,
)

S = 1_000_000_000
DAY_S = 86_400


def _model(hours: float = 1.0) -> MarketModel:
    model = MarketModel(MarketConfig(seed=7))
    model.step(model.config.start_ns + round(hours * 3600 * S))
    return model


def _service(model: MarketModel, config: OptionsVolConfig | None = None) -> OptionsVolatilityService:
    """The service fed as the edge feeds it: the listed instruments, then every option's ticker."""
    service = OptionsVolatilityService("BTCUSD", config)
    listed = decode_instruments(msgspec.json.encode([s.to_json() for s in model.instruments()]))
    names = service.set_instruments(listed)
    assert len(names) == 54 and all(n.startswith("BTC-") for n in names)
    for name in names:
        fields = model.ticker_fields(name, None, model.now_ns)
        ts = seconds_to_ns(float(fields["mark_timestamp"]))  # type: ignore[arg-type]
        service.on_ticker(Ticker(name, float(fields["mark_price"]), ts, ts,  # type: ignore[arg-type]
                                 index=float(fields["index"])))  # type: ignore[arg-type]
    return service


def _direct(model: MarketModel) -> dict[int, tuple[float, float, float, float]]:
    """Per BTC expiry (ns): (years, forward, ATM vol, ATM straddle) straight from the emulator's pricing."""
    idx = model._indexes["BTCUSD"]
    out = {}
    for spec in model.instruments():
        if spec.underlying == "BTCUSD" and spec.type == "option" and spec.expiration_timestamp is not None:
            expiry_ns = spec.expiration_timestamp * S
            years = float(years_to_expiry(model.now_ns, expiry_ns))
            fwd = float(forward_price(np.asarray(idx.price), idx.u, np.asarray(years)))
            vol = float(atm_iv(idx.u, model.config.smile, np.asarray(idx.vol), np.asarray(years)))
            straddle = black76.price(fwd, fwd, years, vol, True) + black76.price(fwd, fwd, years, vol, False)
            out[expiry_ns] = (years, fwd, vol, straddle)
    return out


def test_atm_vol_forward_straddle_and_expected_move_per_expiry() -> None:
    # Arrange
    model = _model()
    direct = _direct(model)
    # Act
    snap = _service(model).snapshot()
    # Assert: three BTC expiries, each as the emulator priced it
    assert [e.expiry_ns for e in snap.expiries] == sorted(direct)
    for e in snap.expiries:
        years, fwd, vol, straddle = direct[e.expiry_ns]
        assert e.years == pytest.approx(years, rel=1e-12)
        assert e.forward_usd == pytest.approx(fwd, rel=1e-9)  # put-call parity on the marks
        assert e.atm_iv_annual == pytest.approx(vol, rel=1e-3)  # linear between strikes over a quadratic smile
        assert e.atm_straddle_usd == pytest.approx(straddle, rel=1e-3)
        assert e.expected_move_usd == pytest.approx(fwd * vol * math.sqrt(years), rel=1e-3)
        assert e.atm_straddle_usd == pytest.approx(math.sqrt(2 / math.pi) * e.expected_move_usd, rel=2e-2)


def test_constant_maturity_interpolates_total_variance() -> None:
    model = _model()
    direct = sorted(_direct(model).values())
    snap = _service(model).snapshot()
    cm_years = 7 * DAY_S / SECONDS_PER_YEAR
    # the direct interpolation, on the emulator's own ATM vols
    below = max((d for d in direct if d[0] <= cm_years), default=direct[0])
    above = min((d for d in direct if d[0] >= cm_years), default=direct[-1])
    if below is above:
        expected = below[2]
    else:
        w0, w1 = below[2] ** 2 * below[0], above[2] ** 2 * above[0]
        expected = math.sqrt((w0 + (w1 - w0) * (cm_years - below[0]) / (above[0] - below[0])) / cm_years)
    assert snap.constant_maturity_years == cm_years
    assert snap.cm_iv_annual == pytest.approx(expected, rel=1e-3)
    assert snap.index_usd == model.index_price("BTCUSD")
    assert snap.cm_expected_move_usd == pytest.approx(snap.index_usd * expected * math.sqrt(cm_years), rel=1e-3)


def test_constant_maturity_is_flat_outside_the_listed_expiries_and_exact_at_one() -> None:
    term = [(0.02, 0.6), (0.05, 0.5)]
    assert constant_maturity_vol(term, 0.01) == 0.6
    assert constant_maturity_vol(term, 0.1) == 0.5
    assert constant_maturity_vol(term, 0.05) == pytest.approx(0.5)
    assert constant_maturity_vol(term, 0.035) == pytest.approx(math.sqrt((0.36 * 0.02 + 0.25 * 0.05) / 2 / 0.035))
    assert constant_maturity_vol([], 0.1) is None


def test_iv_minus_rv_on_the_same_horizon_from_the_index_history() -> None:
    # Arrange: the chain (its tickers carry the index now), then the emulator's 7 days of 1m index candles
    model = _model()
    now_s = model.now_ns // S
    rows = model.index_history("BTCUSD", now_s - 7 * DAY_S, now_s, "1m")["index"]
    closes = [(int(row[0]) * S, float(row[4])) for row in rows]  # type: ignore[union-attr,index]
    service = _service(model)
    assert service.snapshot().rv_annual is None  # no history yet: no RV, no IV - RV
    # Act
    service.load_index_history(closes)
    snap = service.snapshot()
    # Assert: RV straight from the closes (and the live index a minute after the last one) over the same 7 days
    samples = [*closes, (model.now_ns, model.index_price("BTCUSD"))]
    prices = np.array([p for _, p in samples])
    times = np.array([t for t, _ in samples], dtype=np.float64) / S
    r = np.diff(np.log(prices))
    direct_rv = math.sqrt(float(np.sum(r * r)) / float(times[-1] - times[0]) * SECONDS_PER_YEAR)
    assert snap.rv_span_s == pytest.approx(7 * DAY_S)
    assert snap.rv_annual == pytest.approx(direct_rv, rel=1e-9)
    assert snap.cm_iv_annual is not None and snap.iv_minus_rv == pytest.approx(snap.cm_iv_annual - direct_rv)
    assert 0.2 < direct_rv < 1.5


def test_stale_marks_and_near_expiries_are_left_out() -> None:
    model = _model()
    service = _service(model, OptionsVolConfig(min_expiry_s=20 * DAY_S))  # only the monthly is far enough
    snap = service.snapshot()
    assert len(snap.expiries) == 1
    # a fresher mark of one option makes every other mark of the chain 2 minutes stale
    name = service.option_names[0]
    service.on_ticker(Ticker(name, 1_000.0, snap.ts_ns + 120 * S, snap.ts_ns + 120 * S))
    assert service.snapshot().expiries == ()
    with pytest.raises(InvalidValue, match="min_rv_coverage must be in"):
        OptionsVolConfig(min_rv_coverage=0.0)

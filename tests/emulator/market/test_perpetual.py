from __future__ import annotations

import pytest

from thalex_modular.emulator.market import MarketModel
from thalex_modular.emulator.market.perpetual import EMA_ALPHA, PerpMarkState

SEC = 1_000_000_000
PERP = "BTC-PERPETUAL"


def _hold_mid(model: MarketModel, premium_bps: float, seconds: int) -> dict[str, object]:
    now = model.now_ns
    fields: dict[str, object] = {}
    for _ in range(seconds):
        now += SEC
        model.step(now)
        mid = model.index_price("BTCUSD") * (1 + premium_bps * 1e-4)
        fields = model.ticker_fields(PERP, mid, now)
    return fields


def test_premium_inside_dead_band_counts_as_zero(model: MarketModel) -> None:
    fields = _hold_mid(model, 2.0, 120)
    assert fields["mark_price"] == fields["index"]
    assert fields["funding_rate"] == 0.0


def test_premium_outside_dead_band_moves_mark_by_30s_ema(model: MarketModel) -> None:
    # Arrange: hold the mid 10 bps above the index
    _hold_mid(model, 0.0, 5)
    # Act
    fields = _hold_mid(model, 10.0, 30)
    # Assert: after 30 s the EMA carries 1 - (29/31)^30 of the premium (sample of the last second applies next)
    premium_bps = (float(fields["mark_price"]) - float(fields["index"])) / float(fields["index"]) * 1e4  # type: ignore[arg-type]
    expected = 10.0 * (1 - (1 - EMA_ALPHA) ** 30)
    assert premium_bps == pytest.approx(expected, rel=0.05)
    long_run = _hold_mid(model, 10.0, 300)
    assert (float(long_run["mark_price"]) / float(long_run["index"]) - 1) * 1e4 == pytest.approx(10.0, rel=0.01)  # type: ignore[arg-type]


def test_funding_long_pays_when_mark_above_index_with_dampener(model: MarketModel) -> None:
    fields = _hold_mid(model, 10.0, 600)
    assert float(fields["funding_rate"]) == pytest.approx((10.0 - 2.5) * 1e-4, rel=0.01)  # type: ignore[arg-type]
    assert float(fields["funding_mark"]) < 0.0  # a long's funding value: it pays  # type: ignore[arg-type]
    assert float(fields["realised_funding_24h"]) == pytest.approx(float(fields["funding_mark"]), rel=1e-9)  # type: ignore[arg-type]
    below = _hold_mid(model, -10.0, 600)
    assert float(below["funding_rate"]) == pytest.approx(-(10.0 - 2.5) * 1e-4, rel=0.01)  # type: ignore[arg-type]


def test_no_book_targets_index() -> None:
    state = PerpMarkState(0, 2.5, 2.5)
    state.observe(0.0, 100_000.0, 100_100.0)
    state.advance(60.0, 100_000.0)
    assert state.ema_premium > 90.0
    state.observe(60.0, 100_000.0, None)
    state.advance(400.0, 100_000.0)
    assert state.mark(100_000.0) == pytest.approx(100_000.0, abs=0.01)


def test_funding_mark_resets_at_daily_settlement() -> None:
    settle = 8 * 3600
    state = PerpMarkState(settle - 100, 0.0, 0.0)
    state.observe(settle - 100, 100_000.0, 100_100.0)
    state.advance(settle - 1, 100_000.0)
    assert state.funding_mark < 0.0  # the long has paid: its funding value is negative
    state.advance(settle, 100_000.0)
    before_next = state.funding_mark
    assert before_next == pytest.approx(-state.funding_rate() * 100_000.0 / 86_400)


def test_ema_is_independent_of_observation_frequency() -> None:
    a = PerpMarkState(0, 2.5, 2.5)
    b = PerpMarkState(0, 2.5, 2.5)
    a.observe(0.0, 50_000.0, 50_050.0)
    b.observe(0.0, 50_000.0, 50_050.0)
    for k in range(1, 200):
        a.observe(k * 0.25, 50_000.0, 50_050.0)
    b.advance(49.75, 50_000.0)
    assert a.ema_premium == pytest.approx(b.ema_premium)

"""What kappa learns from: public prints that are not our own fills, measured from the book's mid at the print's
time, net of the book's half spread (issue 16 item 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stubs import perpetual, trade
from thalex_modular.platform.domain.entities import Fill, Trade
from thalex_modular.platform.domain.enums import MakerTaker, Side
from thalex_modular.platform.domain.quote_array import new_quote_array
from thalex_modular.strategies import AvellanedaStoikovConfig, AvellanedaStoikovStrategy

S = 1_000_000_000
MS = 1_000_000
NOW = 1_700_000_000 * S


def _strategy(min_trades: int = 20, window: int = 200) -> AvellanedaStoikovStrategy:
    return AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=0.002, max_position_underlying=1.0, level_amounts=(0.01,), kappa_per_usd=None,
        kappa_fallback_per_usd=0.1, kappa_min_trades=min_trades, kappa_window_trades=window,
        kappa_min_per_usd=0.001, kappa_max_per_usd=100.0))


def _quote(strat: AvellanedaStoikovStrategy, bid: float, ask: float, now_ns: int, mark: float | None = None) -> None:
    out = new_quote_array(strat.max_quotes)
    fair = mark if mark is not None else 0.5 * (bid + ask)
    strat.quote_into(out, perpetual(), bid, ask, fair, 0.0, 1e-5, 1.0, now_ns)


def _own_fill(price: float, amount: float, side: Side, ts_ns: int) -> Fill:
    return Fill(f"t{ts_ns}", "o1", 1, "BTC-PERPETUAL", side, price, amount, MakerTaker.MAKER, ts_ns, ts_ns)


def test_our_own_fills_are_not_market_arrivals() -> None:
    # Arrange: we quote 10 USD from the mid and our fills dominate the tape: every print is ours
    strat = _strategy()
    ts = NOW
    for i in range(60):
        ts += S
        _quote(strat, 99_999.0, 100_001.0, ts)
        side = Side.BUY if i % 2 else Side.SELL
        price = 99_990.0 if side is Side.BUY else 100_010.0
        # Act: our order update, then the print it made on the public tape (the aggressor hit our quote)
        strat.on_own_fill(_own_fill(price, 0.01, side, ts))
        strat.on_trade(Trade("BTC-PERPETUAL", price, 0.01, side.opposite, ts, ts + 2 * MS))
    _quote(strat, 99_999.0, 100_001.0, ts + 3 * S)
    # Assert: kappa did not learn our own half spread (1/9 per USD net of the book's); it has no market data yet
    assert strat.kappa_per_usd() == 0.1


def test_a_print_seen_before_our_fill_notification_is_claimed_by_it() -> None:
    strat = _strategy(min_trades=1)
    _quote(strat, 99_999.0, 100_001.0, NOW)
    strat.on_trade(Trade("BTC-PERPETUAL", 100_010.0, 0.01, Side.BUY, NOW, NOW + 1 * MS))  # the tape first
    strat.on_own_fill(_own_fill(100_010.0, 0.01, Side.SELL, NOW + 20 * MS))  # our fill 19 ms later
    _quote(strat, 99_999.0, 100_001.0, NOW + 5 * S)
    assert strat.kappa_per_usd() == 0.1  # nothing counted
    # a print nobody claims counts once the wait is over
    strat.on_trade(Trade("BTC-PERPETUAL", 100_005.0, 0.01, Side.BUY, NOW + 5 * S, NOW + 5 * S))
    _quote(strat, 99_999.0, 100_001.0, NOW + 5 * S + 500 * MS)
    assert strat.kappa_per_usd() == 0.1  # still waiting (1 s)
    _quote(strat, 99_999.0, 100_001.0, NOW + 6 * S + 1 * MS)
    assert strat.kappa_per_usd() == pytest.approx(1 / 4.0)  # 5 USD from the mid, 1 of it inside the book


def test_distances_are_from_the_mid_at_the_print_net_of_the_book_half_spread() -> None:
    # Arrange: the mark (our fair price) sits 3 USD above the book's mid; the book is 10 USD wide
    strat = _strategy(min_trades=4, window=4)
    ts = NOW
    for price, side in ((100_008.0, Side.BUY), (99_992.0, Side.SELL), (100_011.0, Side.BUY), (99_989.0, Side.SELL)):
        _quote(strat, 99_995.0, 100_005.0, ts, mark=100_003.0)
        strat.on_trade(trade(price, 0.1, side, ts))
        ts += 2 * S
    _quote(strat, 99_995.0, 100_005.0, ts, mark=100_003.0)
    # Assert: |p - 100 000| - 5 = 3, 3, 6, 6 USD: kappa = 4 / 18 (from the mark at our quote it was 4 / 30)
    assert strat.kappa_per_usd() == pytest.approx(4 / 18)


def test_a_stale_book_measures_nothing() -> None:
    strat = _strategy(min_trades=1)
    _quote(strat, 99_995.0, 100_005.0, NOW)
    strat.on_trade(trade(100_008.0, 0.1, Side.BUY, NOW + 2 * S))  # the book we know is 2 s old
    _quote(strat, 99_995.0, 100_005.0, NOW + 4 * S)
    assert strat.kappa_per_usd() == 0.1


def test_kappa_follows_the_market_not_our_quotes() -> None:
    # Arrange: market prints exponential beyond the touch (kappa 0.2 /USD), plus as many prints of our own fills at
    # our half spread; a second strategy would see the same tape without our fills
    rng = np.random.default_rng(4)
    strat = _strategy(min_trades=30, window=400)
    ts = NOW
    for depth in rng.exponential(1 / 0.2, 300):
        ts += S
        _quote(strat, 99_999.0, 100_001.0, ts)
        strat.on_trade(Trade("BTC-PERPETUAL", 100_001.0 + float(depth), 0.05, Side.BUY, ts, ts))
        strat.on_own_fill(_own_fill(99_988.0, 0.01, Side.BUY, ts + 5 * MS))
        strat.on_trade(Trade("BTC-PERPETUAL", 99_988.0, 0.01, Side.SELL, ts, ts + 6 * MS))
    _quote(strat, 99_999.0, 100_001.0, ts + 2 * S)
    assert strat.kappa_per_usd() == pytest.approx(0.2, rel=0.15)
    assert math.isfinite(strat.kappa_per_usd())

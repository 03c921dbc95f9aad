from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.platform.domain.entities import Fill
from thalex_modular.platform.domain.enums import MakerTaker, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.tracking import FifoPosition

LOT = 0.001  # BTC-PERPETUAL volume tick


def _fill(i: int, side: Side, lots: int, price_usd: int, fee: float = 0.0) -> Fill:
    return Fill(f"t{i}", "o1", 100, "BTC-PERPETUAL", side, float(price_usd), round(lots * LOT, 3),
                MakerTaker.MAKER, i, i, fee)


def _unit_fifo_pnl(fills: list[tuple[Side, int, int]]) -> tuple[int, float]:
    """Reference: expand every fill into single volume ticks and match them one by one, first in first out.
    Returns (position in lots, realised PnL in USD)."""
    queue: deque[tuple[int, int]] = deque()  # (sign, entry price) per lot
    pnl_per_lot = 0
    for side, lots, price in fills:
        for _ in range(lots):
            if queue and queue[0][0] != side.sign:
                sign, entry = queue.popleft()
                pnl_per_lot += (price - entry) * sign
            else:
                queue.append((side.sign, price))
    return sum(sign for sign, _ in queue), pnl_per_lot * LOT


fills_st = st.lists(
    st.tuples(st.sampled_from(list(Side)), st.integers(1, 20), st.integers(90_000, 110_000)),
    min_size=1, max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(fills_st)
def test_position_is_sum_of_signed_fills_and_pnl_is_fifo(fills: list[tuple[Side, int, int]]) -> None:
    # Arrange
    book = FifoPosition("BTC-PERPETUAL")
    # Act
    for i, (side, lots, price) in enumerate(fills):
        book.apply(_fill(i, side, lots, price))
    # Assert
    position_lots, pnl = _unit_fifo_pnl(fills)
    assert book.position == pytest.approx(position_lots * LOT, abs=1e-9)
    assert book.realised_pnl == pytest.approx(pnl, abs=1e-6)
    snap = book.snapshot()
    if position_lots == 0:
        assert snap.average_price == 0.0
        assert book.lot_count == 0
    else:
        assert 90_000 <= snap.average_price <= 110_000


def test_fifo_average_and_partial_close() -> None:
    book = FifoPosition("BTC-PERPETUAL")
    book.apply(_fill(1, Side.BUY, 10, 100_000))
    book.apply(_fill(2, Side.BUY, 10, 102_000))
    assert book.snapshot().average_price == pytest.approx(101_000)
    # Selling 15 lots closes the first 10 at 100k and 5 of the 102k lot: FIFO, not average cost.
    realised = book.apply(_fill(3, Side.SELL, 15, 103_000))
    assert realised == pytest.approx(0.010 * 3_000 + 0.005 * 1_000)
    assert book.position == pytest.approx(0.005)
    assert book.snapshot().average_price == pytest.approx(102_000)


def test_flip_from_long_to_short_opens_a_short_lot_at_the_fill_price() -> None:
    book = FifoPosition("BTC-PERPETUAL")
    book.apply(_fill(1, Side.BUY, 5, 100_000))
    book.apply(_fill(2, Side.SELL, 8, 99_000))
    assert book.position == pytest.approx(-0.003)
    assert book.realised_pnl == pytest.approx(-5.0)
    assert book.snapshot().average_price == pytest.approx(99_000)


def test_fees_are_subtracted_from_realised_pnl() -> None:
    book = FifoPosition("BTC-PERPETUAL")
    book.apply(_fill(1, Side.BUY, 10, 100_000, fee=0.5))
    book.apply(_fill(2, Side.SELL, 10, 100_100, fee=-0.2))  # maker rebate
    assert book.realised_pnl == pytest.approx(1.0 - 0.5 + 0.2)
    assert book.position == 0.0


def test_adopt_replaces_lots_and_keeps_realised() -> None:
    book = FifoPosition("BTC-PERPETUAL")
    book.apply(_fill(1, Side.BUY, 10, 100_000))
    book.apply(_fill(2, Side.SELL, 5, 101_000))
    book.adopt(-0.02, 99_000.0)
    assert book.snapshot().position == -0.02
    assert book.snapshot().average_price == 99_000.0
    assert book.realised_pnl == pytest.approx(5.0)
    with pytest.raises(InvalidValue, match="adopt position must be finite, was nan"):
        book.adopt(float("nan"), 1.0)

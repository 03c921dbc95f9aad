"""The matching kernel (how a trade or a crossing level is shared among our orders) equals its pure-Python twin,
and both equal the rules written plainly (the list-based allocation SimMatchEngine ran before the kernel)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.platform.domain.jit import COMPILED
from thalex_modular.platform.domain.sim import match_kernel
from thalex_modular.platform.domain.sim.match_kernel import UNKNOWN_LOTS, allocate_cross_kernel, allocate_trade_kernel
from twins import pure

# (price ticks, remaining lots, queue ahead lots or -1 unknown, priority)
_orders = st.lists(
    st.tuples(st.integers(995, 1005), st.integers(0, 6), st.integers(-1, 8), st.integers(0, 20)), max_size=8
)


TRADE_TWIN = pure(allocate_trade_kernel, match_kernel)
CROSS_TWIN = pure(allocate_cross_kernel, match_kernel)


def _columns(orders: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    return [np.array([o[c] for o in orders], dtype=np.int64) for c in range(4)]


def _spec_trade(buy: bool, trade_ticks: int, trade_lots: int, slippage: int,
                orders: list[tuple[int, int, int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """The rules as plain Python: price-time priority, queue first (unknown never consumed), each lot used once."""
    ahead = [o[2] for o in orders]

    def through(i: int) -> int:
        return orders[i][0] - trade_ticks if buy else trade_ticks - orders[i][0]

    reached = sorted((i for i in range(len(orders)) if through(i) >= 0 and orders[i][1] > 0),
                     key=lambda i: (-through(i), orders[i][3]))
    left, fills = trade_lots, []
    for i in reached:
        if left <= 0:
            break
        if through(i) < slippage:
            if ahead[i] == UNKNOWN_LOTS:
                continue
            eaten = min(left, ahead[i])
            ahead[i] -= eaten
            left -= eaten
            if ahead[i] > 0:
                continue
        lots = min(left, orders[i][1])
        if lots > 0:
            fills.append((i, lots))
            left -= lots
    return fills, ahead


def _run_trade(fn: object, buy: bool, ticks: int, lots: int, slippage: int,
               orders: list[tuple[int, int, int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    price, remaining, ahead, priority = _columns(orders)
    n = len(orders)
    out_index, out_lots = np.empty(n, np.int64), np.empty(n, np.int64)
    count = fn(buy, ticks, lots, slippage, price, remaining, ahead, priority, n, out_index, out_lots)  # type: ignore[operator]
    return [(int(out_index[k]), int(out_lots[k])) for k in range(count)], ahead.tolist()


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.integers(993, 1007), st.integers(0, 15), st.integers(1, 3), _orders)
def test_trade_allocation_kernel_twin_and_rules_agree(buy: bool, ticks: int, lots: int, slippage: int,
                                                      orders: list[tuple[int, int, int, int]]) -> None:
    expected = _spec_trade(buy, ticks, lots, slippage, orders)
    assert _run_trade(TRADE_TWIN, buy, ticks, lots, slippage, orders) == expected
    if COMPILED:
        assert _run_trade(allocate_trade_kernel, buy, ticks, lots, slippage, orders) == expected
    assert sum(f[1] for f in expected[0]) <= lots


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.integers(993, 1007), st.integers(-1, 15), _orders)
def test_cross_allocation_kernel_twin_and_rules_agree(buy: bool, ticks: int, crossed: int,
                                                      orders: list[tuple[int, int, int, int]]) -> None:
    # Arrange: the rules, plainly
    def through(i: int) -> int:
        return orders[i][0] - ticks if buy else ticks - orders[i][0]

    reached = sorted((i for i in range(len(orders)) if through(i) >= 0 and orders[i][1] > 0),
                     key=lambda i: (-through(i), orders[i][3]))
    expected, left = [], crossed
    for i in reached:
        lots = orders[i][1] if left == UNKNOWN_LOTS else min(left, orders[i][1])
        if lots <= 0:
            break
        expected.append((i, lots))
        if left != UNKNOWN_LOTS:
            left -= lots
    # Act / Assert
    kernels = [CROSS_TWIN] + ([allocate_cross_kernel] if COMPILED else [])
    for fn in kernels:
        price, remaining, _, priority = _columns(orders)
        n = len(orders)
        out_index, out_lots = np.empty(n, np.int64), np.empty(n, np.int64)
        count = fn(buy, ticks, crossed, price, remaining, priority, n, out_index, out_lots)
        assert [(int(out_index[k]), int(out_lots[k])) for k in range(count)] == expected


@pytest.mark.skipif(not COMPILED, reason="numba is off")
def test_the_kernels_run_compiled() -> None:
    assert hasattr(allocate_trade_kernel, "py_func") and hasattr(allocate_cross_kernel, "py_func")

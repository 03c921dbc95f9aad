from __future__ import annotations

import pytest

from thalex_modular.platform.domain.enums import OrderStatus
from thalex_modular.platform.domain.errors import InvalidTransition
from thalex_modular.platform.domain.tracking import LIFECYCLE_RANK, ORDER_STATE_TABLE, can_move, next_status


def test_every_move_goes_up_or_stays_in_the_lifecycle() -> None:
    for (current, reported), new in ORDER_STATE_TABLE.items():
        assert LIFECYCLE_RANK[new] >= LIFECYCLE_RANK[current], (current, reported, new)
        assert LIFECYCLE_RANK[new] >= LIFECYCLE_RANK[reported] or new is OrderStatus.CANCELLED_PARTIALLY_FILLED


def test_rank_covers_every_status() -> None:
    assert set(LIFECYCLE_RANK) == set(OrderStatus)


@pytest.mark.parametrize(
    ("current", "reported"),
    [
        (OrderStatus.FILLED, OrderStatus.OPEN),  # late "open" after "filled"
        (OrderStatus.FILLED, OrderStatus.FILLED),  # duplicate terminal
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN),  # insert ack after a fill
        (OrderStatus.CANCELLED_PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.OPEN, OrderStatus.REJECTED),  # REJECTED is only for a failed insert
        (OrderStatus.OPEN, OrderStatus.PENDING),
    ],
)
def test_backward_and_duplicate_terminal_moves_raise(current: OrderStatus, reported: OrderStatus) -> None:
    assert not can_move(current, reported)
    with pytest.raises(InvalidTransition, match=f"from '{current.value}' to '{reported.value}'"):
        next_status(current, reported)


def test_real_world_moves_are_legal() -> None:
    # fill before the insert ack
    assert next_status(OrderStatus.PENDING, OrderStatus.PARTIALLY_FILLED) is OrderStatus.PARTIALLY_FILLED
    assert next_status(OrderStatus.PENDING, OrderStatus.FILLED) is OrderStatus.FILLED
    # a cancel of an order with fills, and a fill arriving after the cancel ack
    assert next_status(OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELLED) is OrderStatus.CANCELLED_PARTIALLY_FILLED
    assert next_status(OrderStatus.CANCELLED, OrderStatus.PARTIALLY_FILLED) is OrderStatus.CANCELLED_PARTIALLY_FILLED
    # the exchange knows an order whose insert we believed failed
    assert next_status(OrderStatus.REJECTED, OrderStatus.OPEN) is OrderStatus.OPEN


def test_terminal_states_never_return_to_resting() -> None:
    terminal = [s for s in OrderStatus if s.is_terminal and s is not OrderStatus.REJECTED]
    resting = [OrderStatus.PENDING, OrderStatus.OPEN]
    for current in terminal:
        for reported in resting:
            assert not can_move(current, reported)

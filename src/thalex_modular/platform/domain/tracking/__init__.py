"""Order lifecycle, fills, positions and desync detection (the StateTracker)."""

from __future__ import annotations

from .order_store import OrderEntry, OrderStore
from .positions import AMOUNT_EPSILON, FifoPosition, PositionBook
from .state_tracker import (
    DEFAULT_AMOUNT_EPSILON,
    DEFAULT_MAX_CLOSED_ORDERS,
    DEFAULT_MAX_TRADE_IDS,
    RequestKind,
    StateTracker,
    TrackerEvent,
)
from .transitions import LIFECYCLE_RANK, ORDER_STATE_TABLE, can_move, next_status

__all__ = [
    "AMOUNT_EPSILON",
    "DEFAULT_AMOUNT_EPSILON",
    "DEFAULT_MAX_CLOSED_ORDERS",
    "DEFAULT_MAX_TRADE_IDS",
    "LIFECYCLE_RANK",
    "ORDER_STATE_TABLE",
    "FifoPosition",
    "OrderEntry",
    "OrderStore",
    "PositionBook",
    "RequestKind",
    "StateTracker",
    "TrackerEvent",
    "can_move",
    "next_status",
]

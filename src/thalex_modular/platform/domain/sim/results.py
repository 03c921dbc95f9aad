"""What the simulated exchange answers: :class:`~..entities.OrderUpdate` or a typed :class:`RequestRejected`."""

from __future__ import annotations

from ..entities import OrderUpdate
from ..error_codes import (
    DUPLICATE_ORDER_ID as DUPLICATE_ORDER_ID,
    INVALID_AMOUNT as INVALID_AMOUNT,
    INVALID_PRICE as INVALID_PRICE,
    INVALID_TIME_IN_FORCE as INVALID_TIME_IN_FORCE,
    ORDER_NOT_FOUND as ORDER_NOT_FOUND,
    PRICE_NOT_ON_TICK as PRICE_NOT_ON_TICK,
    UNKNOWN_INSTRUMENT as UNKNOWN_INSTRUMENT,
)
from ..events import RequestRejected

SimEvent = OrderUpdate | RequestRejected
"""One answer of the simulated exchange, in the order it reaches us."""

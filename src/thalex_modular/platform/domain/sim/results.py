"""What the simulated exchange answers: :class:`~..entities.OrderUpdate` or a typed :class:`RequestRejected`."""

from __future__ import annotations

from typing import Final

from ..entities import OrderUpdate
from ..events import RequestRejected

# Thalex JSON-RPC error codes (shared/thalex-api/DIGEST.md section 7.1).
ORDER_NOT_FOUND: Final = 1
DUPLICATE_ORDER_ID: Final = 2
UNKNOWN_INSTRUMENT: Final = 5
INVALID_PRICE: Final = 13
INVALID_AMOUNT: Final = 14
PRICE_NOT_ON_TICK: Final = 15
INVALID_TIME_IN_FORCE: Final = 25


SimEvent = OrderUpdate | RequestRejected
"""One answer of the simulated exchange, in the order it reaches us."""

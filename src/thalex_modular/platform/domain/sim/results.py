"""What the simulated exchange answers besides :class:`~..entities.OrderUpdate`: typed request errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..entities import OrderUpdate
from ..requests import OrderRequest

# Thalex JSON-RPC error codes (shared/thalex-api/DIGEST.md section 7.1).
ORDER_NOT_FOUND: Final = 1
DUPLICATE_ORDER_ID: Final = 2
UNKNOWN_INSTRUMENT: Final = 5
INVALID_PRICE: Final = 13
INVALID_AMOUNT: Final = 14
PRICE_NOT_ON_TICK: Final = 15
INVALID_TIME_IN_FORCE: Final = 25


@dataclass(frozen=True, slots=True)
class SimRejection:
    """The simulated exchange refused a request, as Thalex answers ``{"error": {code, message}}``.

    ``code`` is Thalex's error code (1 order not found, 2 duplicate id, 5 unknown instrument, 13 non-positive
    price, 14 amount off the volume grid or below min_order_amount, 15 price off the tick grid, 25 illegal
    time_in_force); ``request`` the refused request; ``ts_exchange_ns`` when the exchange refused it,
    ``ts_local_ns`` when the answer reached us (both int ns).
    """

    client_order_id: int
    code: int
    message: str
    request: OrderRequest
    ts_exchange_ns: int
    ts_local_ns: int


SimEvent = OrderUpdate | SimRejection
"""One answer of the simulated exchange, in the order it reaches us."""

"""Thalex JSON-RPC error codes, one table for the adapter, the emulator and the simulated exchange.

Source: ``shared/thalex-api/DIGEST.md`` section 7.1. Only 1 (order not found) and 4 (throttle) are confirmed by
Thalex; the others follow the third-party enum the digest lists.
"""

from __future__ import annotations

from typing import Final

ORDER_NOT_FOUND: Final = 1
DUPLICATE_ORDER_ID: Final = 2
TOO_MANY_PENDING_REQUESTS: Final = 3
THROTTLE_EXCEEDED: Final = 4
UNKNOWN_INSTRUMENT: Final = 5
INVALID_REQUEST: Final = 6
NOT_LOGGED_IN: Final = 7
PARTITION_UNAVAILABLE: Final = 10
INVALID_PRICE: Final = 13
INVALID_AMOUNT: Final = 14
PRICE_NOT_ON_TICK: Final = 15
UNKNOWN_PRODUCT: Final = 17
AUTHENTICATION_FAILED: Final = 19
TEMPORARY_FAILURE: Final = 20
PROTECTION_NOT_SET: Final = 23
INSUFFICIENT_MARGIN: Final = 24
INVALID_TIME_IN_FORCE: Final = 25
UNKNOWN_METHOD: Final = 31
PRICE_COLLAR_BREACH: Final = 43
QUOTE_EXCEEDS_PROTECTION: Final = 44
UNBOUNDED_MARKET_ORDER: Final = 45
PERSISTENT_SESSION: Final = 52

RETRYABLE: Final[frozenset[int]] = frozenset(
    {TOO_MANY_PENDING_REQUESTS, THROTTLE_EXCEEDED, PARTITION_UNAVAILABLE, TEMPORARY_FAILURE}
)
"""Codes after which the same request may succeed if sent again later, through a back-off, never at once.
TEMPORARY_FAILURE is also what the adapter reports for a request whose connection was lost before the reply."""

"""Thalex JSON-RPC errors raised by the exchange core.

Codes follow ``shared/thalex-api/DIGEST.md`` section 7.1 (only 1 and 4 are confirmed by Thalex; the rest follow the
third-party enum the digest lists). The server turns an :class:`RpcError` into ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

from typing import Final

ORDER_NOT_FOUND: Final = 1
DUPLICATE_ORDER_ID: Final = 2
THROTTLE_EXCEEDED: Final = 4
UNKNOWN_INSTRUMENT: Final = 5
INVALID_REQUEST: Final = 6
NOT_LOGGED_IN: Final = 7
INVALID_PRICE: Final = 13
INVALID_AMOUNT: Final = 14
PRICE_NOT_ON_TICK: Final = 15
UNKNOWN_PRODUCT: Final = 17
PROTECTION_NOT_SET: Final = 23
INSUFFICIENT_MARGIN: Final = 24
INVALID_TIME_IN_FORCE: Final = 25
PRICE_COLLAR_BREACH: Final = 43
QUOTE_EXCEEDS_PROTECTION: Final = 44
UNBOUNDED_MARKET_ORDER: Final = 45
PERSISTENT_SESSION: Final = 52


class RpcError(Exception):
    """A Thalex error reply: ``code`` (int, DIGEST 7.1) and a human ``message`` naming field and value."""

    __slots__ = ("code", "message")

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, object]:
        """The JSON-RPC ``error`` object."""
        return {"code": self.code, "message": self.message}

"""Thalex JSON-RPC errors raised by the exchange core.

Codes come from :mod:`thalex_modular.platform.domain.error_codes` (re-exported here for the engine modules).
The server turns an :class:`RpcError` into ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

from thalex_modular.platform.domain.error_codes import (
    DUPLICATE_ORDER_ID as DUPLICATE_ORDER_ID,
    INSUFFICIENT_MARGIN as INSUFFICIENT_MARGIN,
    INVALID_AMOUNT as INVALID_AMOUNT,
    INVALID_PRICE as INVALID_PRICE,
    INVALID_REQUEST as INVALID_REQUEST,
    INVALID_TIME_IN_FORCE as INVALID_TIME_IN_FORCE,
    NOT_LOGGED_IN as NOT_LOGGED_IN,
    ORDER_NOT_FOUND as ORDER_NOT_FOUND,
    PERSISTENT_SESSION as PERSISTENT_SESSION,
    PRICE_COLLAR_BREACH as PRICE_COLLAR_BREACH,
    PRICE_NOT_ON_TICK as PRICE_NOT_ON_TICK,
    PROTECTION_NOT_SET as PROTECTION_NOT_SET,
    QUOTE_EXCEEDS_PROTECTION as QUOTE_EXCEEDS_PROTECTION,
    THROTTLE_EXCEEDED as THROTTLE_EXCEEDED,
    UNBOUNDED_MARKET_ORDER as UNBOUNDED_MARKET_ORDER,
    UNKNOWN_INSTRUMENT as UNKNOWN_INSTRUMENT,
    UNKNOWN_PRODUCT as UNKNOWN_PRODUCT,
)


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

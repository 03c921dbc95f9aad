"""Errors of the Thalex adapter: one shallow tree under :class:`ThalexError` (STYLE: HX ``_exceptions.py``).

Websocket-library exceptions are translated at the boundary into :class:`ExchangeConnectionError`; JSON-RPC error
replies become :class:`ThalexRpcError` with Thalex's code kept.
"""

from __future__ import annotations

from typing import Final

from thalex_modular.platform.domain.error_codes import (
    ORDER_NOT_FOUND as ORDER_NOT_FOUND,
    RETRYABLE,
    TEMPORARY_FAILURE as TEMPORARY_FAILURE,
    THROTTLE_EXCEEDED as THROTTLE_EXCEEDED,
)

__all__ = [
    "ORDER_NOT_FOUND",
    "RETRYABLE_CODES",
    "TEMPORARY_FAILURE",
    "THROTTLE_EXCEEDED",
    "CredentialsError",
    "DecodeError",
    "ExchangeConnectionError",
    "RpcTimeoutError",
    "SubscriptionError",
    "ThalexError",
    "ThalexRpcError",
    "is_retryable",
]

RETRYABLE_CODES: Final[frozenset[int]] = RETRYABLE


class ThalexError(Exception):
    """Base of every error the Thalex adapter raises."""


class ThalexRpcError(ThalexError):
    """Thalex answered a request with ``{"error": {"code", "message"}}``.

    Args:
        code: Thalex's error code (e.g. 1 order not found, 4 throttle exceeded, 19 authentication failed).
        message: Thalex's message.
        method: the JSON-RPC method that failed.
    """

    def __init__(self, code: int, message: str, method: str = "") -> None:
        super().__init__(f"{method or 'request'} failed: code {code}: {message}")
        self.code = code
        self.message = message
        self.method = method

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class ExchangeConnectionError(ThalexError):
    """The websocket is closed, could not be opened, or broke while a request was outstanding."""


class RpcTimeoutError(ExchangeConnectionError):
    """No reply within the request timeout (the connection is then considered broken)."""


class SubscriptionError(ThalexError):
    """The server did not accept every channel we asked for (it drops unknown names silently, DIGEST 8.15)."""

    def __init__(self, refused: list[str]) -> None:
        super().__init__(f"subscription refused for channels {refused}")
        self.refused = refused


class DecodeError(ThalexError):
    """A message did not match the Thalex schema we decode it with."""


class CredentialsError(ThalexError, ValueError):
    """Login credentials are missing or unreadable. The message names the field, never the key material."""


def is_retryable(error: BaseException) -> bool:
    """True for connection errors and RPC errors whose code is in :data:`RETRYABLE_CODES`."""
    if isinstance(error, ThalexRpcError):
        return error.retryable
    return isinstance(error, ExchangeConnectionError)

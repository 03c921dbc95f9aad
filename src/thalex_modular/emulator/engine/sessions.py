"""WebSocket sessions: client order ids (session-local), cancel-on-disconnect flag, mass quotes, MM protection."""

from __future__ import annotations

from dataclasses import dataclass, field

from .order import EngineOrder


@dataclass(slots=True)
class ProtectionGroup:
    """MM protection of one product in one session. Amounts in the underlying.

    ``remaining_amount`` is decremented by executions of the session's mass quotes on the product; at or below
    zero the group is tripped: its quotes are cancelled and mass quoting on it fails until refilled.
    """

    product: str
    trade_amount: float
    quote_amount: float
    remaining_amount: float

    @property
    def tripped(self) -> bool:
        return self.remaining_amount <= 0.0


@dataclass(slots=True)
class Session:
    """One logged-in connection.

    Attributes:
        session_id: engine-assigned id (the server maps a connection to it).
        account: account number.
        cancel_on_disconnect: set by ``set_cancel_on_disconnect``; orders inserted afterwards are non-persistent.
        by_client_id: open orders of this session by ``client_order_id``.
        quotes: live mass-quote orders by ``(instrument_name, is_buy)``.
        protection: MM protection groups by product.
    """

    session_id: int
    account: str
    cancel_on_disconnect: bool = False
    by_client_id: dict[int, EngineOrder] = field(default_factory=dict)
    quotes: dict[tuple[str, bool], list[EngineOrder]] = field(default_factory=dict)
    protection: dict[str, ProtectionGroup] = field(default_factory=dict)
    orders: dict[str, EngineOrder] = field(default_factory=dict)

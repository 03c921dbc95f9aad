"""Order requests: what the reconciler decides and a gateway (Thalex, emulator, SimMatchEngine) carries out.

Prices in USD already on the tick grid, amounts in the underlying already on the volume grid. NamedTuples:
immutable and cheap to build on the tick path.
"""

from __future__ import annotations

from typing import NamedTuple

from .enums import OrderType, Side, TimeInForce


class InsertOrder(NamedTuple):
    client_order_id: int
    instrument_name: str
    side: Side
    price: float
    amount: float
    post_only: bool = True
    reject_post_only: bool = False
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    label: str | None = None


class AmendOrder(NamedTuple):
    """Thalex amend: ``amount`` is the new *total* amount, not the remaining one."""

    client_order_id: int
    order_id: str | None
    instrument_name: str
    price: float
    amount: float


class CancelOrder(NamedTuple):
    client_order_id: int
    order_id: str | None
    instrument_name: str


OrderRequest = InsertOrder | AmendOrder | CancelOrder


class ClientOrderIds:
    """Session-local client_order_id source (u64, strictly increasing, never reused in a session)."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 100) -> None:
        self._next = start

    def next(self) -> int:
        value = self._next
        self._next += 1
        return value

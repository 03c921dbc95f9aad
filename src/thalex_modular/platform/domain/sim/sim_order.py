"""The simulated exchange's own record of one of our orders, and the Thalex ``OrderStatus`` it reports."""

from __future__ import annotations

from dataclasses import dataclass

from ..entities import Instrument, OrderFill, OrderUpdate
from ..enums import ChangeReason, DeleteReason, OrderStatus, OrderType, Side, TimeInForce


@dataclass(slots=True)
class SimOrder:
    """One order resting on (or passing through) the simulated exchange. Prices in ticks, amounts in lots.

    ``queue_ahead_lots`` is the public amount modelled ahead of us at our price level: None while the level's
    size is unknown (treated as infinite: no fill at our price until the level is observed as the best).
    ``priority`` orders our own orders at one price (smaller joined earlier).
    """

    order_id: str
    client_order_id: int
    instrument_name: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    reject_post_only: bool
    price_ticks: int
    amount_lots: int
    label: str | None = None
    filled_lots: int = 0
    queue_ahead_lots: int | None = None
    priority: int = 0

    @property
    def remaining_lots(self) -> int:
        return max(0, self.amount_lots - self.filled_lots)

    def live_status(self) -> OrderStatus:
        """Status while resting: ``filled`` once nothing remains, else open or partially filled."""
        if self.remaining_lots == 0:
            return OrderStatus.FILLED
        return OrderStatus.PARTIALLY_FILLED if self.filled_lots > 0 else OrderStatus.OPEN

    def closed_status(self) -> OrderStatus:
        """Status once deleted before being fully filled."""
        return OrderStatus.CANCELLED_PARTIALLY_FILLED if self.filled_lots > 0 else OrderStatus.CANCELLED

    def to_update(
        self,
        instrument: Instrument,
        status: OrderStatus,
        change_reason: ChangeReason,
        ts_exchange_ns: int,
        ts_local_ns: int,
        delete_reason: DeleteReason | None = None,
        fills: tuple[OrderFill, ...] = (),
    ) -> OrderUpdate:
        """The Thalex OrderStatus for this order now. A closed order reports ``remaining_amount`` 0."""
        remaining = 0 if status.is_terminal else self.remaining_lots
        return OrderUpdate(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            instrument_name=self.instrument_name,
            side=self.side,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            price=None if self.order_type is OrderType.MARKET else instrument.price(self.price_ticks),
            amount=instrument.amount(self.amount_lots),
            filled_amount=instrument.amount(self.filled_lots),
            remaining_amount=instrument.amount(remaining),
            status=status,
            change_reason=change_reason,
            ts_exchange_ns=ts_exchange_ns,
            ts_local_ns=ts_local_ns,
            delete_reason=delete_reason,
            fills=fills,
            persistent=True,
            label=self.label,
        )

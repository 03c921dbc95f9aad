"""Factories for StateTracker tests: inserts and exchange order updates (Thalex OrderStatus) with defaults."""

from __future__ import annotations

from thalex_modular.platform.domain.entities import OrderFill, OrderUpdate
from thalex_modular.platform.domain.enums import (
    ChangeReason,
    DeleteReason,
    MakerTaker,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from thalex_modular.platform.domain.requests import InsertOrder

NAME = "BTC-PERPETUAL"
T0 = 1_700_000_000 * 10**9


def insert(cid: int = 100, side: Side = Side.BUY, price: float = 100_000.0, amount: float = 0.01,
           name: str = NAME) -> InsertOrder:
    return InsertOrder(cid, name, side, price, amount)


def fill(trade_id: str, amount: float, price: float = 100_000.0, ts_ns: int = T0) -> OrderFill:
    return OrderFill(trade_id, price, amount, MakerTaker.MAKER, ts_ns)


def update(
    status: OrderStatus,
    *,
    cid: int | None = 100,
    order_id: str = "00011E570000004A",
    side: Side = Side.BUY,
    price: float = 100_000.0,
    amount: float = 0.01,
    filled: float = 0.0,
    fills: tuple[OrderFill, ...] = (),
    reason: ChangeReason | None = None,
    delete_reason: DeleteReason | None = None,
    ts_ns: int = T0,
    name: str = NAME,
) -> OrderUpdate:
    if reason is None:
        reason = {
            OrderStatus.OPEN: ChangeReason.INSERT,
            OrderStatus.PARTIALLY_FILLED: ChangeReason.FILL,
            OrderStatus.FILLED: ChangeReason.FILL,
        }.get(status, ChangeReason.CANCEL)
    if delete_reason is None and status.is_terminal:
        delete_reason = DeleteReason.FILLED if status is OrderStatus.FILLED else DeleteReason.CLIENT_CANCEL
    return OrderUpdate(
        order_id=order_id,
        client_order_id=cid,
        instrument_name=name,
        side=side,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        price=price,
        amount=amount,
        filled_amount=filled,
        remaining_amount=0.0 if status.is_terminal else max(0.0, amount - filled),
        status=status,
        change_reason=reason,
        ts_exchange_ns=ts_ns,
        ts_local_ns=ts_ns,
        delete_reason=delete_reason,
        fills=fills,
    )

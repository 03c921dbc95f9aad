"""Thalex spellings ↔ domain enums. Explicit dicts (STYLE 8); each inverse is derived, exhaustiveness is tested.

The domain enums happen to use Thalex's spellings, but the codec never relies on that: a value Thalex adds later
fails loudly in these tables instead of silently becoming a domain value.
"""

from __future__ import annotations

from typing import Final

from thalex_modular.platform.domain.enums import (
    ChangeReason,
    DeleteReason,
    InstrumentKind,
    MakerTaker,
    OptionType,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

__all__ = [
    "CHANGE_REASON",
    "DELETE_REASON",
    "DIRECTION",
    "DIRECTION_TO_THALEX",
    "INSTRUMENT_KIND",
    "MAKER_TAKER",
    "OPTION_TYPE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "ORDER_TYPE_TO_THALEX",
    "TIME_IN_FORCE",
    "TIME_IN_FORCE_TO_THALEX",
]

# OrderStatus.direction / Trade.direction / recent_trades row side
DIRECTION: Final[dict[str, Side]] = {"buy": Side.BUY, "sell": Side.SELL}
# OrderStatus.order_type
ORDER_TYPE: Final[dict[str, OrderType]] = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
# OrderStatus.time_in_force
TIME_IN_FORCE: Final[dict[str, TimeInForce]] = {
    "good_till_cancelled": TimeInForce.GTC,
    "immediate_or_cancel": TimeInForce.IOC,
}
# OrderStatus.status (PENDING and REJECTED are local states Thalex never reports)
ORDER_STATUS: Final[dict[str, OrderStatus]] = {
    "open": OrderStatus.OPEN,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELLED,
    "cancelled_partially_filled": OrderStatus.CANCELLED_PARTIALLY_FILLED,
}
# OrderStatus.change_reason
CHANGE_REASON: Final[dict[str, ChangeReason]] = {
    "existing": ChangeReason.EXISTING,
    "insert": ChangeReason.INSERT,
    "amend": ChangeReason.AMEND,
    "cancel": ChangeReason.CANCEL,
    "fill": ChangeReason.FILL,
}
# OrderStatus.delete_reason (api.yaml plus `replaced`, `self_trade_prevention` from the newer spec)
DELETE_REASON: Final[dict[str, DeleteReason]] = {
    "client_cancel": DeleteReason.CLIENT_CANCEL,
    "client_bulk_cancel": DeleteReason.CLIENT_BULK_CANCEL,
    "session_end": DeleteReason.SESSION_END,
    "instrument_deactivated": DeleteReason.INSTRUMENT_DEACTIVATED,
    "mm_protection": DeleteReason.MM_PROTECTION,
    "failover": DeleteReason.FAILOVER,
    "margin_breach": DeleteReason.MARGIN_BREACH,
    "filled": DeleteReason.FILLED,
    "immediate_cancel": DeleteReason.IMMEDIATE_CANCEL,
    "admin_cancel": DeleteReason.ADMIN_CANCEL,
    "replaced": DeleteReason.REPLACED,
    "self_trade_prevention": DeleteReason.SELF_TRADE_PREVENTION,
}
# OrderFill.maker_taker
MAKER_TAKER: Final[dict[str, MakerTaker]] = {"maker": MakerTaker.MAKER, "taker": MakerTaker.TAKER}
# Instrument.type
INSTRUMENT_KIND: Final[dict[str, InstrumentKind]] = {
    "perpetual": InstrumentKind.PERPETUAL,
    "future": InstrumentKind.FUTURE,
    "option": InstrumentKind.OPTION,
    "combination": InstrumentKind.COMBINATION,
}
# Instrument.option_type
OPTION_TYPE: Final[dict[str, OptionType]] = {"call": OptionType.CALL, "put": OptionType.PUT}

# -- domain → Thalex (request encoding) -------------------------------------------------------------------

DIRECTION_TO_THALEX: Final[dict[Side, str]] = {v: k for k, v in DIRECTION.items()}
ORDER_TYPE_TO_THALEX: Final[dict[OrderType, str]] = {v: k for k, v in ORDER_TYPE.items()}
TIME_IN_FORCE_TO_THALEX: Final[dict[TimeInForce, str]] = {v: k for k, v in TIME_IN_FORCE.items()}

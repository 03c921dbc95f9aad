"""The simulated exchange's checks of a request, with Thalex's error codes (docs/emulator.md lists the choices)."""

from __future__ import annotations

import math
from collections.abc import Container

from ..entities import Instrument
from ..enums import OrderType, TimeInForce
from ..requests import InsertOrder
from .results import (
    DUPLICATE_ORDER_ID,
    INVALID_AMOUNT,
    INVALID_PRICE,
    INVALID_TIME_IN_FORCE,
    PRICE_NOT_ON_TICK,
    UNKNOWN_INSTRUMENT,
)

Refusal = tuple[int, str]
"""(Thalex error code, message)."""


def check_insert(req: InsertOrder, instrument: Instrument, open_client_ids: Container[int]) -> Refusal | None:
    """Why the exchange refuses ``req``, checked in Thalex's order (price before amount), or None."""
    if req.instrument_name != instrument.instrument_name:
        return UNKNOWN_INSTRUMENT, f"unknown instrument {req.instrument_name!r}"
    if req.order_type is OrderType.MARKET and req.time_in_force is TimeInForce.GTC:
        return INVALID_TIME_IN_FORCE, "a market order must be immediate_or_cancel, was good_till_cancelled"
    if req.post_only and req.time_in_force is TimeInForce.IOC:
        return INVALID_TIME_IN_FORCE, "post_only is not allowed with immediate_or_cancel"
    if req.order_type is OrderType.LIMIT:
        error = check_price(req.price, instrument)
        if error is not None:
            return error
    error = check_amount(req.amount, instrument)
    if error is not None:
        return error
    if req.client_order_id in open_client_ids:
        return DUPLICATE_ORDER_ID, f"client_order_id {req.client_order_id} is already in use"
    return None


def check_price(price: float, instrument: Instrument) -> Refusal | None:
    """A limit price must be positive and on the tick grid (USD)."""
    if not math.isfinite(price) or price <= 0:
        return INVALID_PRICE, f"price must be > 0, was {price!r}"
    if not instrument.is_on_tick(price):
        return PRICE_NOT_ON_TICK, f"price {price!r} is not a multiple of tick_size {instrument.tick_size}"
    return None


def check_amount(amount: float, instrument: Instrument) -> Refusal | None:
    """An amount must be a positive multiple of the volume tick, at least the minimum order (underlying)."""
    if not math.isfinite(amount) or amount <= 0 or not instrument.is_on_volume_tick(amount):
        return INVALID_AMOUNT, f"amount {amount!r} is not a positive multiple of volume_tick_size " \
                               f"{instrument.volume_tick_size}"
    if instrument.lots_of(amount) < instrument.min_order_lots:
        return INVALID_AMOUNT, f"amount {amount!r} is below min_order_amount {instrument.min_order_amount}"
    return None

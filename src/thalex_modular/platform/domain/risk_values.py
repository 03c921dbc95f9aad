"""The values of the pre-trade risk checks: limits (:class:`RiskConfig`), the market and account state of a check
(:class:`RiskContext`, :class:`OpenBook`), and refusals (:class:`Denial` naming a :class:`RiskLimit`). Units: prices in
USD, amounts in the underlying, notional in USD, band in basis points, times in int nanoseconds."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from .entities import Order
from .enums import Side
from .errors import InvalidValue

__all__ = ["BandReference", "Denial", "OpenBook", "RiskConfig", "RiskContext", "RiskLimit", "open_book"]


class RiskLimit(StrEnum):
    """Names of the checks; a :class:`Denial`'s ``limit`` is one of these."""

    KILL_SWITCH = "kill_switch"
    PRICE = "price"
    AMOUNT = "amount"
    MIN_ORDER_AMOUNT = "min_order_amount"
    MAX_ORDER_AMOUNT = "max_order_amount"
    MAX_NOTIONAL_USD = "max_notional_usd"
    MAX_OPEN_ORDERS = "max_open_orders"
    MARK_AGE = "max_mark_age_ns"
    PRICE_BAND = "price_band_bps"
    COLLAR = "collar"
    MAX_POSITION = "max_position"
    MAX_INSTRUMENT_NOTIONAL_USD = "max_instrument_notional_usd"
    MAX_ACCOUNT_NOTIONAL_USD = "max_account_notional_usd"


class BandReference(StrEnum):
    """The price the band is measured from."""

    MARK = "mark"
    INDEX = "index"


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused insert or amend. ``limit`` names the check (a :class:`RiskLimit` value); ``reason`` says
    which field broke which bound with which value."""

    limit: str
    reason: str


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Risk limits of one instrument.

    Args:
        max_position: largest absolute position in the underlying, counting open orders per side.
        max_order_amount: largest open (remaining) amount of one order, in the underlying.
        max_notional_usd: largest price × open amount of one order, USD (for options: the premium).
        max_open_orders: most resting orders on the instrument, both sides together (pending ones count).
        price_band_bps: largest distance of an order price from the reference price, basis points.
        band_reference: mark price (default) or index price.
        max_mark_age_ns: when set, a mark received longer ago than this, or at an unknown time, refuses orders.
        max_instrument_notional_usd: when set, the largest worst-case position of the instrument (per side, as for
            ``max_position``) valued at the mark, USD.
        max_account_notional_usd: when set, that worst case plus the account's other instruments' notional, USD.

    Raises:
        InvalidValue: a limit is not finite or not > 0.
    """

    max_position: float
    max_order_amount: float
    max_notional_usd: float
    max_open_orders: int
    price_band_bps: float
    band_reference: BandReference = BandReference.MARK
    max_mark_age_ns: int | None = None
    max_instrument_notional_usd: float | None = None
    max_account_notional_usd: float | None = None

    def __post_init__(self) -> None:
        names = ["max_position", "max_order_amount", "max_notional_usd", "price_band_bps"]
        optional = ("max_instrument_notional_usd", "max_account_notional_usd")
        names += [name for name in optional if getattr(self, name) is not None]
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidValue(f"RiskConfig.{name} must be a finite number, was {value!r}")
            if value <= 0:
                raise InvalidValue(f"invalid RiskConfig.{name} <= 0, was {value!r}")
        if isinstance(self.max_open_orders, bool) or not isinstance(self.max_open_orders, int):
            raise InvalidValue(f"RiskConfig.max_open_orders must be an int, was {self.max_open_orders!r}")
        if self.max_open_orders <= 0:
            raise InvalidValue(f"invalid RiskConfig.max_open_orders <= 0, was {self.max_open_orders}")
        if self.max_mark_age_ns is not None and self.max_mark_age_ns <= 0:
            raise InvalidValue(f"invalid RiskConfig.max_mark_age_ns <= 0, was {self.max_mark_age_ns}")


class RiskContext(NamedTuple):
    """What the checks need to know about the market and the account right now.

    Args:
        position: signed position in the instrument, underlying (negative = short).
        mark_price: the instrument's mark price, USD.
        now_ns: current time, ns (from the caller's Clock).
        mark_ts_ns: when the mark was received, ns on the same clock as ``now_ns``; needed when ``max_mark_age_ns``
            is set.
        index_price: the underlying index, USD; needed when the band is measured from the index.
        collar_low: Thalex ``collar_low`` (asks below it are refused), USD; None when unknown.
        collar_high: Thalex ``collar_high`` (bids above it are refused), USD; None when unknown.
        other_notional_usd: the account's other instruments' worst-case notional, USD.
    """

    position: float
    mark_price: float
    now_ns: int
    mark_ts_ns: int | None = None
    index_price: float | None = None
    collar_low: float | None = None
    collar_high: float | None = None
    other_notional_usd: float = 0.0


class OpenBook(NamedTuple):
    """Our resting orders on one instrument: remaining amounts per side (underlying) and the order count.

    A NamedTuple: immutable and cheap to build (the reconciler makes one per check).
    """

    bid_amount: float = 0.0
    ask_amount: float = 0.0
    order_count: int = 0


def open_book(orders: Iterable[Order], instrument_name: str) -> OpenBook:
    """Sum the open orders of ``instrument_name`` (pending, open, partially filled; in-flight ones included).

    Orders of other instruments and closed orders are skipped; an order being cancelled still counts, one being
    amended at the larger of its old and requested amount.
    """
    bids = 0.0
    asks = 0.0
    count = 0
    for order in orders:
        if order.instrument_name != instrument_name or not order.status.is_open:
            continue
        count += 1
        if order.side is Side.BUY:
            bids += order.exposure_amount
        else:
            asks += order.exposure_amount
    return OpenBook(bids, asks, count)

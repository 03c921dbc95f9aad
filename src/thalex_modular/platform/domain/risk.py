"""Pre-trade risk checks: every insert and amend passes here before it may be sent.

Refusals are values (:class:`Denial`), not exceptions (STYLE 13): a check returns ``None`` to allow or a
``Denial`` naming the limit and the field, bound and value. Cancels are never checked: taking an order
out of the book can only reduce risk, so not even the kill switch refuses one.

Position limits are checked per side against the book as it will be (LESSONS 10)::

    position + open bids (remaining) + this bid <= max_position
    position - open asks (remaining) - this ask >= -max_position

The price band is measured from the mark price (LESSONS 23) or, when configured, from the index.

Units: prices in USD, amounts in the underlying (e.g. BTC), notional in USD, band in basis points,
times in int nanoseconds. No I/O, no wall clock: the caller hands in ``now_ns``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from .entities import Instrument, Order
from .enums import Side
from .errors import InvalidValue

__all__ = [
    "BandReference",
    "Denial",
    "OpenBook",
    "RiskCheck",
    "RiskConfig",
    "RiskContext",
    "RiskLimit",
    "open_book",
]

_BPS = 10_000.0
_INF = math.inf
_BUY = Side.BUY


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
    MAX_POSITION = "max_position"


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
        max_mark_age_ns: when set, a mark (or index) older than this, or of unknown age, refuses orders.

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

    def __post_init__(self) -> None:
        for name in ("max_position", "max_order_amount", "max_notional_usd", "price_band_bps"):
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
        mark_ts_ns: when the mark (Thalex ``mark_timestamp``) was taken, ns; needed when ``max_mark_age_ns`` is set.
        index_price: the underlying index, USD; needed when the band is measured from the index.
    """

    position: float
    mark_price: float
    now_ns: int
    mark_ts_ns: int | None = None
    index_price: float | None = None


class OpenBook(NamedTuple):
    """Our resting orders on one instrument: remaining amounts per side (underlying) and the order count.

    A NamedTuple: immutable and cheap to build (the reconciler makes one per check).
    """

    bid_amount: float = 0.0
    ask_amount: float = 0.0
    order_count: int = 0


def open_book(orders: Iterable[Order], instrument_name: str) -> OpenBook:
    """Sum the open orders of ``instrument_name`` (pending, open, partially filled; in-flight ones included).

    Orders of other instruments and closed orders are skipped; an order being cancelled still counts.
    """
    bids = 0.0
    asks = 0.0
    count = 0
    for order in orders:
        if order.instrument_name != instrument_name or not order.status.is_open:
            continue
        count += 1
        if order.side is Side.BUY:
            bids += order.remaining_amount
        else:
            asks += order.remaining_amount
    return OpenBook(bids, asks, count)


class RiskCheck:
    """Pre-trade checks for inserts and amends, plus the kill switch. Cheap: a few microseconds per call.

    Checks run in this order, the first failure wins: kill switch, price (finite, > 0, on tick), amount
    (finite, on the volume grid, >= min_order_amount), max_order_amount, max_notional_usd, max_open_orders
    (inserts only), mark age, price band, max_position per side.
    """

    __slots__ = ("_band_from_mark", "_config", "_kill_reason", "_max_notional_usd")

    def __init__(self, config: RiskConfig) -> None:
        self._config = config
        self._kill_reason: str | None = None
        self._band_from_mark = config.band_reference is BandReference.MARK
        self._max_notional_usd = config.max_notional_usd * (1 + 1e-12)

    @property
    def config(self) -> RiskConfig:
        """The limits (fixed for the check's life: the values derived from them are cached)."""
        return self._config

    # -- kill switch -------------------------------------------------------------------------------------

    def engage_kill_switch(self, reason: str) -> None:
        """Refuse every insert and amend until :meth:`release_kill_switch`. Cancels stay allowed."""
        self._kill_reason = reason or "engaged"

    def release_kill_switch(self) -> None:
        self._kill_reason = None

    @property
    def kill_switch_engaged(self) -> bool:
        return self._kill_reason is not None

    @property
    def kill_reason(self) -> str | None:
        return self._kill_reason

    # -- checks ------------------------------------------------------------------------------------------

    def check_insert(
        self, instrument: Instrument, side: Side, price: float, amount: float, ctx: RiskContext, book: OpenBook
    ) -> Denial | None:
        """Check a new order of ``amount`` (underlying) at ``price`` (USD) against ``book``, our resting orders
        on the instrument (which must not include this one). Returns None when it may be sent."""
        if self._kill_reason is not None:
            return Denial(RiskLimit.KILL_SWITCH, f"kill switch engaged: {self._kill_reason}")
        return self._check(instrument, side, price, amount, amount, 0.0, 1, ctx, book)

    def check_amend(
        self, instrument: Instrument, order: Order, price: float, amount: float, ctx: RiskContext, book: OpenBook
    ) -> Denial | None:
        """Check amending ``order`` to ``price`` (USD) and ``amount``, the new *total* amount (Thalex amend:
        filled + desired remaining, underlying). ``book`` includes the order at its current remaining amount,
        which the check replaces by the new remaining amount. Returns None when it may be sent."""
        if self._kill_reason is not None:
            return Denial(RiskLimit.KILL_SWITCH, f"kill switch engaged: {self._kill_reason}")
        new_remaining = amount - order.filled_amount
        if not new_remaining > instrument.volume_tick_size * 1e-6:  # also refuses NaN
            return Denial(
                RiskLimit.AMOUNT,
                f"amend amount {amount!r} must exceed filled_amount {order.filled_amount!r} "
                f"of order {order.client_order_id}",
            )
        return self._check(
            instrument,
            order.side,
            price,
            amount,
            new_remaining,
            max(0.0, order.amount - order.filled_amount),
            0,
            ctx,
            book,
        )

    def _check(
        self,
        instrument: Instrument,
        side: Side,
        price: float,
        amount: float,
        open_amount: float,
        old_amount: float,
        added_orders: int,
        ctx: RiskContext,
        book: OpenBook,
    ) -> Denial | None:
        """All checks but the kill switch, inline (hot path); messages are built only on refusal.

        ``amount`` is the amount field sent (the total for an amend), ``open_amount`` what will rest after it,
        ``old_amount`` what of it already rests (counted in ``book``), ``added_orders`` 1 for an insert.
        """
        cfg = self._config
        # price: finite, > 0, on the tick grid (NaN fails every comparison)
        tick = instrument.tick_size
        if not 0.0 < price < _INF:
            return Denial(RiskLimit.PRICE, f"price must be finite and > 0, was {price!r}")
        if abs(round(price / tick) * tick - price) > tick * 1e-6:
            return Denial(
                RiskLimit.PRICE,
                f"price {price!r} is not on the tick grid of {instrument.instrument_name} (tick_size {tick})",
            )
        # amount: finite, > 0, on the volume grid, >= min_order_amount, <= max_order_amount, notional
        lot = instrument.volume_tick_size
        eps = lot * 1e-6
        if not 0.0 < amount < _INF:
            return Denial(RiskLimit.AMOUNT, f"amount must be finite and > 0, was {amount!r}")
        if abs(round(amount / lot) * lot - amount) > eps:
            return Denial(
                RiskLimit.AMOUNT,
                f"amount {amount!r} is not on the volume grid of {instrument.instrument_name} (volume_tick_size {lot})",
            )
        if amount < instrument.min_order_amount - eps:
            return Denial(
                RiskLimit.MIN_ORDER_AMOUNT,
                f"amount {amount!r} < min_order_amount {instrument.min_order_amount} of {instrument.instrument_name}",
            )
        if open_amount > cfg.max_order_amount + eps:
            return Denial(
                RiskLimit.MAX_ORDER_AMOUNT, f"amount {open_amount!r} > max_order_amount {cfg.max_order_amount}"
            )
        notional = price * open_amount
        if notional > self._max_notional_usd:
            return Denial(
                RiskLimit.MAX_NOTIONAL_USD,
                f"notional {notional:.2f} USD (price {price!r} x amount {open_amount!r}) "
                f"> max_notional_usd {cfg.max_notional_usd}",
            )
        if added_orders and book.order_count + added_orders > cfg.max_open_orders:
            return Denial(
                RiskLimit.MAX_OPEN_ORDERS,
                f"open orders {book.order_count} + {added_orders} > max_open_orders {cfg.max_open_orders}",
            )
        # market: mark age, price band. A missing or unusable reference refuses (never a faked safety input).
        if cfg.max_mark_age_ns is not None:
            if ctx.mark_ts_ns is None:
                return Denial(RiskLimit.MARK_AGE, "mark_ts_ns is unknown; max_mark_age_ns needs it")
            age = ctx.now_ns - ctx.mark_ts_ns
            if age > cfg.max_mark_age_ns:
                return Denial(RiskLimit.MARK_AGE, f"mark age {age} ns > max_mark_age_ns {cfg.max_mark_age_ns}")
        ref = ctx.mark_price if self._band_from_mark else ctx.index_price
        if ref is None or not 0.0 < ref < _INF:
            return Denial(
                RiskLimit.PRICE_BAND, f"{cfg.band_reference}_price must be finite and > 0 for the band, was {ref!r}"
            )
        if abs(price - ref) * _BPS > cfg.price_band_bps * ref * (1 + 1e-9):
            return Denial(
                RiskLimit.PRICE_BAND,
                f"price {price!r} is {abs(price - ref) / ref * _BPS:.1f} bps from {cfg.band_reference}_price "
                f"{ref!r} > price_band_bps {cfg.price_band_bps}",
            )
        # position per side, with the book as it will be: old_amount (in book) becomes open_amount
        position = ctx.position
        limit = cfg.max_position
        if not -_INF < position < _INF:
            return Denial(RiskLimit.MAX_POSITION, f"position must be finite, was {position!r}")
        if side is _BUY:
            worst = position + book.bid_amount - old_amount + open_amount
            if worst > limit + eps:
                return Denial(
                    RiskLimit.MAX_POSITION,
                    f"position {position!r} + open bids {book.bid_amount - old_amount:.10g} + bid {open_amount!r} "
                    f"= {worst:.10g} > max_position {limit}",
                )
        else:
            worst = position - book.ask_amount + old_amount - open_amount
            if worst < -limit - eps:
                return Denial(
                    RiskLimit.MAX_POSITION,
                    f"position {position!r} - open asks {book.ask_amount - old_amount:.10g} - ask {open_amount!r} "
                    f"= {worst:.10g} < -max_position {-limit}",
                )
        return None

"""Pre-trade risk checks: every insert and amend passes here before it may be sent.

Refusals are values (:class:`Denial`), not exceptions (STYLE 13): a check returns ``None`` to allow or a
``Denial`` naming the limit and the field, bound and value. Cancels are never checked: taking an order
out of the book can only reduce risk, so not even the kill switch refuses one.

Position limits are checked per side against the book as it will be (LESSONS 10)::

    position + open bids (remaining) + this bid <= max_position
    position - open asks (remaining) - this ask >= -max_position

"Open bids" is every exposure on that side besides the position: our resting orders (an amend in flight counts at
the larger of its old and new amount), the account's orders that are not ours, fills reported but not received yet,
and the exchange's position where it is worse than ours (the caller sums them into the :class:`OpenBook`). The same
worst case, valued at the mark, is held under ``max_instrument_notional_usd``, and with the account's other
instruments (``RiskContext.other_notional_usd``) under ``max_account_notional_usd``.

The price band is measured from the mark price (LESSONS 23) or, when configured, from the index. Thalex's price
collar (``collar_high`` for bids, ``collar_low`` for asks, from the ticker) is checked before sending: the exchange
would refuse the order anyway (error 43).

Units: prices in USD, amounts in the underlying (e.g. BTC), notional in USD, band in basis points,
times in int nanoseconds. No I/O, no wall clock: the caller hands in ``now_ns``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .entities import Instrument, Order
from .enums import Side
from .errors import InvalidValue
from .risk_kernel import (
    ABOVE_ACCOUNT_NOTIONAL,
    ABOVE_INSTRUMENT_NOTIONAL,
    ABOVE_MAX_NOTIONAL,
    ABOVE_MAX_OPEN_ORDERS,
    ABOVE_MAX_ORDER_AMOUNT,
    AMEND_NOT_ABOVE_FILLED,
    AMOUNT_NOT_POSITIVE,
    AMOUNT_OFF_GRID,
    ASK_BELOW_COLLAR,
    ASKS_PAST_MAX_POSITION,
    BAND_REFERENCE_UNUSABLE,
    BELOW_MIN_ORDER_AMOUNT,
    BID_ABOVE_COLLAR,
    BIDS_PAST_MAX_POSITION,
    L_LOT,
    L_MIN_ORDER,
    L_TICK,
    MARK_AGE_UNKNOWN,
    MARK_TOO_OLD,
    MARK_UNUSABLE,
    OK,
    OUTSIDE_PRICE_BAND,
    POSITION_NOT_FINITE,
    PRICE_NOT_POSITIVE,
    PRICE_OFF_GRID,
    UNLIMITED_BUDGET,
    amend_risk_code,
    new_context,
    risk_code,
    risk_limits,
    write_context,
)

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
_NAN = math.nan
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


class RiskCheck:
    """Pre-trade checks for inserts and amends, plus the kill switch. Cheap: a few microseconds per call.

    Checks run in this order, the first failure wins: kill switch, price (finite, > 0, on tick), amount
    (finite, on the volume grid, >= min_order_amount), max_order_amount, max_notional_usd, max_open_orders
    (inserts only), mark age, price band, collar, max_position per side, the instrument's and the account's notional.
    The decision itself is :func:`~.risk_kernel.risk_code` (compiled, shared with the compiled reconcile and the
    mass-quote planner); this class adds the kill switch and the words of a refusal.
    """

    __slots__ = ("_band_from_mark", "_config", "_ctx", "_grid_of", "_ictx", "_ilim", "_kill_reason", "_lim")

    def __init__(self, config: RiskConfig) -> None:
        self._config = config
        self._kill_reason: str | None = None
        self._band_from_mark = config.band_reference is BandReference.MARK
        # the limits as the compiled decision reads them; the instrument grid is set per instrument
        self._lim, self._ilim = risk_limits(
            1.0, 1.0, 0.0, config.max_order_amount, config.max_notional_usd, config.price_band_bps,
            config.max_position, config.max_open_orders, config.max_mark_age_ns,
            config.max_instrument_notional_usd, config.max_account_notional_usd,
        )
        self._ctx, self._ictx = new_context()
        self._grid_of: Instrument | None = None

    @property
    def config(self) -> RiskConfig:
        """The limits (fixed for the check's life: the values derived from them are cached)."""
        return self._config

    @property
    def band_from_mark(self) -> bool:
        """The price band is measured from the mark (else from the index)."""
        return self._band_from_mark

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
        """Check a new order of ``amount`` (underlying) at ``price`` (USD) against ``book``, every exposure of the
        instrument per side besides the position (which must not include this order). Returns None when it may be
        sent."""
        if self._kill_reason is not None:
            return Denial(RiskLimit.KILL_SWITCH, f"kill switch engaged: {self._kill_reason}")
        self._require_grid(instrument)
        self.write_context(ctx)
        code = risk_code(
            self._lim, self._ilim, self._ctx, self._ictx, side is _BUY, price, amount, amount, 0.0, 1,
            book.bid_amount, book.ask_amount, book.order_count,
        )
        if code == OK:
            return None
        return self.denial(code, instrument, side, price, amount, amount, 0.0, 1, ctx, book)

    def check_amend(
        self, instrument: Instrument, order: Order, price: float, amount: float, ctx: RiskContext, book: OpenBook
    ) -> Denial | None:
        """Check amending ``order`` to ``price`` (USD) and ``amount``, the new *total* amount (Thalex amend:
        filled + desired remaining, underlying). ``book`` includes the order at its current remaining amount,
        which the check replaces by the new remaining amount. Returns None when it may be sent."""
        if self._kill_reason is not None:
            return Denial(RiskLimit.KILL_SWITCH, f"kill switch engaged: {self._kill_reason}")
        self._require_grid(instrument)
        self.write_context(ctx)
        old_amount = max(0.0, order.amount - order.filled_amount)
        code = amend_risk_code(
            self._lim, self._ilim, self._ctx, self._ictx, order.side is _BUY, price, amount, order.filled_amount,
            old_amount, book.bid_amount, book.ask_amount, book.order_count,
        )
        if code == OK:
            return None
        if code == AMEND_NOT_ABOVE_FILLED:
            return Denial(
                RiskLimit.AMOUNT,
                f"amend amount {amount!r} must exceed filled_amount {order.filled_amount!r} "
                f"of order {order.client_order_id}",
            )
        return self.denial(
            code, instrument, order.side, price, amount, amount - order.filled_amount, old_amount, 0, ctx, book
        )

    # -- for the compiled reconcile: the same decision, and the same words for a refusal ---------------------

    @property
    def limits(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """The ``(lim, ilim)`` arrays :func:`~.risk_kernel.risk_code` reads (tick and volume tick of the last
        instrument checked or bound with :meth:`bind`)."""
        return self._lim, self._ilim

    def bind(self, instrument: Instrument) -> None:
        """Set the instrument whose grid the limit arrays carry (each RiskCheck serves one instrument)."""
        self._require_grid(instrument)

    def write_context(
        self,
        ctx: RiskContext,
        into: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None,
        budget: int = UNLIMITED_BUDGET,
    ) -> None:
        """Write ``ctx`` as :func:`~.risk_kernel.risk_code` reads it into ``into`` (default: this check's own
        arrays): the band reference is the mark or the index per the config; unknown prices are NaN."""
        fctx, ictx = into if into is not None else (self._ctx, self._ictx)
        ref = ctx.mark_price if self._band_from_mark else ctx.index_price
        write_context(
            fctx, ictx, float(ctx.position), _NAN if ref is None else float(ref), float(ctx.mark_price),
            _NAN if ctx.collar_low is None else float(ctx.collar_low),
            _NAN if ctx.collar_high is None else float(ctx.collar_high), float(ctx.other_notional_usd),
            int(ctx.now_ns), 0 if ctx.mark_ts_ns is None else int(ctx.mark_ts_ns), ctx.mark_ts_ns is not None, budget,
        )

    def _require_grid(self, instrument: Instrument) -> None:
        if instrument is not self._grid_of:
            lim = self._lim
            lim[L_TICK] = instrument.tick_size
            lim[L_LOT] = instrument.volume_tick_size
            lim[L_MIN_ORDER] = instrument.min_order_amount
            self._grid_of = instrument

    def denial(
        self,
        code: int,
        instrument: Instrument,
        side: Side,
        price: float,
        amount: float,
        open_amount: float,
        old_amount: float,
        added_orders: int,
        ctx: RiskContext,
        book: OpenBook,
    ) -> Denial:
        """The Denial for a refusal ``code`` of :func:`~.risk_kernel.risk_code` on these inputs."""
        cfg = self._config
        tick = instrument.tick_size
        lot = instrument.volume_tick_size
        name = instrument.instrument_name
        if code == PRICE_NOT_POSITIVE:
            return Denial(RiskLimit.PRICE, f"price must be finite and > 0, was {price!r}")
        if code == PRICE_OFF_GRID:
            return Denial(RiskLimit.PRICE, f"price {price!r} is not on the tick grid of {name} (tick_size {tick})")
        if code == AMOUNT_NOT_POSITIVE:
            return Denial(RiskLimit.AMOUNT, f"amount must be finite and > 0, was {amount!r}")
        if code == AMOUNT_OFF_GRID:
            return Denial(
                RiskLimit.AMOUNT, f"amount {amount!r} is not on the volume grid of {name} (volume_tick_size {lot})"
            )
        if code == BELOW_MIN_ORDER_AMOUNT:
            return Denial(
                RiskLimit.MIN_ORDER_AMOUNT,
                f"amount {amount!r} < min_order_amount {instrument.min_order_amount} of {name}",
            )
        if code == ABOVE_MAX_ORDER_AMOUNT:
            return Denial(
                RiskLimit.MAX_ORDER_AMOUNT, f"amount {open_amount!r} > max_order_amount {cfg.max_order_amount}"
            )
        if code == ABOVE_MAX_NOTIONAL:
            return Denial(
                RiskLimit.MAX_NOTIONAL_USD,
                f"notional {price * open_amount:.2f} USD (price {price!r} x amount {open_amount!r}) "
                f"> max_notional_usd {cfg.max_notional_usd}",
            )
        if code == ABOVE_MAX_OPEN_ORDERS:
            return Denial(
                RiskLimit.MAX_OPEN_ORDERS,
                f"open orders {book.order_count} + {added_orders} > max_open_orders {cfg.max_open_orders}",
            )
        if code == MARK_AGE_UNKNOWN:
            return Denial(RiskLimit.MARK_AGE, "mark_ts_ns is unknown; max_mark_age_ns needs it")
        if code == MARK_TOO_OLD:
            age = ctx.now_ns - (ctx.mark_ts_ns or 0)
            return Denial(RiskLimit.MARK_AGE, f"mark age {age} ns > max_mark_age_ns {cfg.max_mark_age_ns}")
        ref = ctx.mark_price if self._band_from_mark else ctx.index_price
        if code == BID_ABOVE_COLLAR:
            return Denial(RiskLimit.COLLAR, f"bid price {price!r} > collar_high {ctx.collar_high!r} of {name}")
        if code == ASK_BELOW_COLLAR:
            return Denial(RiskLimit.COLLAR, f"ask price {price!r} < collar_low {ctx.collar_low!r} of {name}")
        if code == BAND_REFERENCE_UNUSABLE:
            return Denial(
                RiskLimit.PRICE_BAND, f"{cfg.band_reference}_price must be finite and > 0 for the band, was {ref!r}"
            )
        if code == OUTSIDE_PRICE_BAND:
            assert ref is not None
            return Denial(
                RiskLimit.PRICE_BAND,
                f"price {price!r} is {abs(price - ref) / ref * _BPS:.1f} bps from {cfg.band_reference}_price "
                f"{ref!r} > price_band_bps {cfg.price_band_bps}",
            )
        position = ctx.position
        limit = cfg.max_position
        if code == POSITION_NOT_FINITE:
            return Denial(RiskLimit.MAX_POSITION, f"position must be finite, was {position!r}")
        if code == BIDS_PAST_MAX_POSITION:
            worst = position + book.bid_amount - old_amount + open_amount
            return Denial(
                RiskLimit.MAX_POSITION,
                f"position {position!r} + open bids {book.bid_amount - old_amount:.10g} + bid {open_amount!r} "
                f"= {worst:.10g} > max_position {limit}",
            )
        if code == ASKS_PAST_MAX_POSITION:
            worst = position - book.ask_amount + old_amount - open_amount
            return Denial(
                RiskLimit.MAX_POSITION,
                f"position {position!r} - open asks {book.ask_amount - old_amount:.10g} - ask {open_amount!r} "
                f"= {worst:.10g} < -max_position {-limit}",
            )
        if code == MARK_UNUSABLE:
            return Denial(RiskLimit.MAX_INSTRUMENT_NOTIONAL_USD,
                          f"mark_price must be finite and > 0 to value the position, was {ctx.mark_price!r}")
        if code in (ABOVE_INSTRUMENT_NOTIONAL, ABOVE_ACCOUNT_NOTIONAL):
            if side is _BUY:
                worst = position + book.bid_amount - old_amount + open_amount
            else:
                worst = -(position - book.ask_amount + old_amount - open_amount)
            notional = max(0.0, worst) * ctx.mark_price
            if code == ABOVE_INSTRUMENT_NOTIONAL:
                return Denial(
                    RiskLimit.MAX_INSTRUMENT_NOTIONAL_USD,
                    f"worst-case {side.value} position {worst:.10g} x mark {ctx.mark_price!r} = {notional:.2f} USD "
                    f"> max_instrument_notional_usd {cfg.max_instrument_notional_usd}",
                )
            return Denial(
                RiskLimit.MAX_ACCOUNT_NOTIONAL_USD,
                f"account notional {ctx.other_notional_usd:.2f} USD + {name} worst case {notional:.2f} USD "
                f"> max_account_notional_usd {cfg.max_account_notional_usd}",
            )
        raise ValueError(f"unknown risk code {code} for {side} {price!r} x {amount!r} on {name}")

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

import numpy as np
from numpy.typing import NDArray

from .entities import Instrument, Order
from .enums import Side
from .risk_kernel import (
    AMEND_NOT_ABOVE_FILLED,
    L_LOT,
    L_MIN_ORDER,
    L_TICK,
    OK,
    UNLIMITED_BUDGET,
    amend_risk_code,
    new_context,
    risk_code,
    risk_limits,
    write_context,
)
from .risk_values import BandReference, Denial, OpenBook, RiskConfig, RiskContext, RiskLimit, open_book
from .risk_wording import describe_refusal

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

_NAN = math.nan
_BUY = Side.BUY


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
        return describe_refusal(
            self._config, self._band_from_mark, code, instrument, side, price, amount, open_amount, old_amount,
            added_orders, ctx, book,
        )

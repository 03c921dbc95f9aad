"""OrderReconciler: turns the strategy's desired quotes into the fewest order requests (quote by diff, in ticks).

Pure: no I/O, no clock (time comes in the :class:`RiskContext`). Per side, desired quotes are matched to our
resting orders (STYLE 14, LESSONS 15):

1. Orders with a request in flight are left alone (one request per order). Each one claims the nearest desired
   quote of its side, so a pending insert is not duplicated; it still counts, at its tracked remaining amount
   (an amend in flight at the larger of the old and the requested one), for every risk check.
2. A resting order at most as aggressive as a desired price and at most the tolerance behind it
   (``amend_tolerance_ticks``, or ``amend_tolerance_bps`` of the price when that is more), whose remaining amount is
   at most the desired one and short of it by at most ``amount_tolerance``, is kept untouched (queue priority).
   Pairs are taken nearest first.
3. The rest are paired best price first: each pair becomes one amend to the desired price and the new *total*
   amount (Thalex amend: filled + desired remaining). Extra orders are cancelled, missing quotes inserted with
   fresh client_order_ids.

Safety rule for limits: an order being cancelled (or amended down) keeps counting at its current amount until
the exchange confirms, so nothing is ever sent that would break a limit if the cancels failed. An insert or
amend that the :class:`RiskCheck` refuses now is not sent and appears in ``denials``; it is retried at the next
reconcile, when the cancels have landed. A refused amend cancels its order instead, so no order is left resting
at a price the strategy no longer wants. While the kill switch is engaged every resting order that has no
request in flight is cancelled and every desired quote is recorded as denied.

Request order: cancels first, then amends (those shrinking exposure first), then inserts (by level). When the
amends and inserts outnumber the request budget (the rate limiter's tokens now) the least useful are deferred to a
later run (:mod:`.reconcile_kernel`).

Besides our resting orders every check counts the exposure the caller names (orders of the account that are not
ours, fills reported but not received, the exchange's position where it is worse than ours) and the account's other
instruments' notional.
Units: prices in ticks inside, USD in requests; amounts in lots inside, underlying in requests; time in ns.

The decision is one compiled kernel over integer rows (:mod:`.reconcile_kernel`, risk included); this class
holds its buffers, turns its rows into requests and its refusals into :class:`OrderDenied` with the words of
:class:`RiskCheck`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Instrument, Order, Quote, Ticker
from thalex_modular.platform.domain.enums import OrderType, Side, TimeInForce
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.events import OrderDenied
from thalex_modular.platform.domain.jit import entry
from thalex_modular.platform.domain.quote_array import QuoteArray, new_quote_array, quotes_into_array
from thalex_modular.platform.domain.requests import (
    AmendOrder,
    CancelOrder,
    ClientOrderIds,
    InsertOrder,
    OrderRequest,
)
from thalex_modular.platform.domain.risk import OpenBook, RiskCheck, RiskContext, RiskLimit
from thalex_modular.platform.domain.risk_kernel import (
    C_COLLAR_HIGH,
    C_COLLAR_LOW,
    C_EXTRA_ASKS,
    C_EXTRA_BIDS,
    C_MARK,
    C_OTHER_NOTIONAL,
    C_POSITION,
    C_REFERENCE,
    IC_BUDGET,
    IC_MARK_TS,
    IC_MARK_TS_KNOWN,
    IC_NOW,
    UNLIMITED_BUDGET,
    new_context,
)

from .flat_cells import flat_cells
from .order_rows import OrderRows
from .reconcile_kernel import (
    G_AMOUNT_DIVISOR,
    G_AMOUNT_TOLERANCE_PERMILLE,
    G_PRICE_DIVISOR,
    G_TOLERANCE,
    G_TOLERANCE_BPS_MILLI,
    KIND_AMEND,
    KIND_CANCEL,
    PLAN_REQUESTS_SIGNATURE,
    WORK_COLUMNS,
    new_grid,
    plan_requests,
    plan_work_rows,
    split_counts,
)

__all__ = ["OrderReconciler", "ReconcilePlan"]


class ReconcilePlan(NamedTuple):
    """What to send, in order, what risk refused (not sent), and how many amends and inserts the request budget
    held back for a later run."""

    requests: list[OrderRequest]
    denials: list[OrderDenied]
    deferred: int = 0

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send (denials may still be present)."""
        return not self.requests


_BUY = Side.BUY
_SELL = Side.SELL
_LOW_32 = 0xFFFFFFFF
_LIMIT = OrderType.LIMIT
_GTC = TimeInForce.GTC
_NAN = math.nan
# tuple.__new__ builds the request NamedTuples without their Python-level constructors (same values, a third of
# the cost); InsertOrder's fields are then all given, its defaults included
_new = tuple.__new__


class OrderReconciler:
    """Diffs desired quotes against resting orders into risk-checked requests.

    Args:
        risk: the pre-trade checks every insert and amend passes.
        ids: the session's client_order_id source (one per session, shared by everything that inserts).
        amend_tolerance_ticks: an order this many ticks or fewer behind its desired price is kept.
        post_only: inserts are post-only (a maker never takes by accident).
        label: Thalex ``label`` put on inserts (how our orders are told from the account's others).
        amend_tolerance_bps: ... or this many basis points of the desired price, when that is more ticks.
        amount_tolerance: share (0 to 1) by which an order's remaining amount may fall short of the desired amount
            and still be kept (a partially filled order keeps its queue place).

    Raises:
        InvalidValue: a tolerance out of range.
    """

    __slots__ = (
        "_ctx", "_ctx_cells", "_denied", "_denied_book", "_desired", "_grid", "_grid_of", "_ictx", "_ictx_cells",
        "_ids", "_label", "_limits", "_out", "_out_cells", "_plan_requests", "_post_only", "_risk", "_work",
    )

    def __init__(
        self,
        risk: RiskCheck,
        ids: ClientOrderIds,
        amend_tolerance_ticks: int = 0,
        *,
        post_only: bool = True,
        label: str | None = None,
        amend_tolerance_bps: float = 0.0,
        amount_tolerance: float = 0.0,
    ) -> None:
        self._risk = risk
        self._plan_requests = entry(plan_requests, PLAN_REQUESTS_SIGNATURE)
        self._ids = ids
        self._post_only = post_only
        self._label = label
        # [tolerance ticks, price divisor, amount divisor, tolerance bps * 1000, amount tolerance per mille]; the
        # divisors of the instrument last planned for
        self._grid: NDArray[np.int64] = _tolerance_grid(amend_tolerance_ticks, amend_tolerance_bps, amount_tolerance)
        self._grid_of: Instrument | None = None
        self._limits = risk.limits  # the same arrays for the RiskCheck's life (bind rewrites them in place)
        self._ctx, self._ictx = new_context()
        # flat views of the context: an item store is cheaper than a numpy one
        self._ctx_cells = flat_cells(self._ctx)
        self._ictx_cells = flat_cells(self._ictx)
        self._desired: QuoteArray = new_quote_array(16)
        self._out: NDArray[np.int64] = np.zeros((32, 4), dtype=np.int64)
        # a flat view of the same memory: reading a few cells is cheaper than a numpy slice and tolist()
        self._out_cells = flat_cells(self._out)
        self._denied: NDArray[np.int64] = np.zeros((32, 6), dtype=np.int64)
        self._denied_book: NDArray[np.float64] = np.zeros((32, 2), dtype=np.float64)
        # the plan's tables, for up to len(self._out) desired and order rows: a plan allocates nothing
        self._work: NDArray[np.int64] = np.zeros((plan_work_rows(32, 32), WORK_COLUMNS), dtype=np.int64)

    def set_tolerances(self, amend_tolerance_ticks: int, amend_tolerance_bps: float, amount_tolerance: float) -> None:
        """New keep tolerances (see the constructor) from the next plan on.

        Raises:
            InvalidValue: a tolerance out of range.
        """
        fresh = _tolerance_grid(amend_tolerance_ticks, amend_tolerance_bps, amount_tolerance)
        for column in (G_TOLERANCE, G_TOLERANCE_BPS_MILLI, G_AMOUNT_TOLERANCE_PERMILLE):
            self._grid[column] = fresh[column]

    @property
    def risk(self) -> RiskCheck:
        """The one RiskCheck of the instrument (the mass-quote planner checks with it too)."""
        return self._risk

    @property
    def label(self) -> str | None:
        """The ``label`` our inserts carry."""
        return self._label

    @property
    def halted(self) -> bool:
        """The kill switch is engaged: every reconcile cancels and denies."""
        return self._risk.kill_switch_engaged

    def reconcile(
        self, instrument: Instrument, desired: Sequence[Quote], live: Sequence[Order], ctx: RiskContext
    ) -> ReconcilePlan:
        """Plan the requests that move ``live`` (our orders, any instrument) toward ``desired`` on ``instrument``.

        Args:
            instrument: the instrument quoted; orders of other instruments in ``live`` are ignored.
            desired: the strategy's quotes (ticks, lots), any order.
            live: our orders as the StateTracker holds them; closed ones are ignored.
            ctx: position, mark and time for the risk checks; ``ctx.now_ns`` stamps the denials.

        Returns:
            A plan whose requests are safe to send in order, and the denials of this round.
        """
        if self._risk.kill_switch_engaged:
            return self._kill(instrument, desired, live, ctx)
        if len(desired) > self._desired.shape[0]:
            self._desired = new_quote_array(2 * len(desired))
        nq = quotes_into_array(desired, self._desired)
        rows = OrderRows(instrument)
        rows.load(live)
        return self.plan(instrument, self._desired, nq, rows, ctx)

    def plan(
        self,
        instrument: Instrument,
        desired: QuoteArray,
        nq: int,
        rows: OrderRows,
        ctx: RiskContext,
        extra_bids: float = 0.0,
        extra_asks: float = 0.0,
        budget: int = UNLIMITED_BUDGET,
    ) -> ReconcilePlan:
        """:meth:`reconcile` from quote rows (:mod:`~..domain.quote_array`) and order rows already built, with
        ``extra_bids``/``extra_asks`` (underlying) of exposure besides our orders and the request ``budget``. The
        kill switch is the caller's to check (:attr:`halted`)."""
        self._risk.write_context(ctx, (self._ctx, self._ictx), budget)
        cells = self._ctx_cells
        cells[C_EXTRA_BIDS] = extra_bids
        cells[C_EXTRA_ASKS] = extra_asks
        return self._plan(instrument, desired, nq, rows)

    def plan_at(
        self,
        instrument: Instrument,
        desired: QuoteArray,
        nq: int,
        rows: OrderRows,
        position: float,
        ticker: Ticker,
        now_ns: int,
        extra_bids: float = 0.0,
        extra_asks: float = 0.0,
        other_notional_usd: float = 0.0,
        budget: int = UNLIMITED_BUDGET,
    ) -> ReconcilePlan:
        """:meth:`plan` against ``ticker`` (mark, index, collars; the mark's age from its receive time), without a
        :class:`RiskContext` (one is built only for a refusal): the tick path."""
        mark = ticker.mark_price
        reference = mark if self._risk.band_from_mark else ticker.index
        collar_low = ticker.collar_low
        collar_high = ticker.collar_high
        cells = self._ctx_cells
        cells[C_POSITION] = position
        cells[C_REFERENCE] = _NAN if reference is None else reference
        cells[C_MARK] = mark
        cells[C_COLLAR_LOW] = _NAN if collar_low is None else collar_low
        cells[C_COLLAR_HIGH] = _NAN if collar_high is None else collar_high
        cells[C_OTHER_NOTIONAL] = other_notional_usd
        cells[C_EXTRA_BIDS] = extra_bids
        cells[C_EXTRA_ASKS] = extra_asks
        icells = self._ictx_cells
        icells[IC_NOW] = now_ns
        icells[IC_MARK_TS] = ticker.ts_local_ns
        icells[IC_MARK_TS_KNOWN] = 1
        icells[IC_BUDGET] = budget
        return self._plan(instrument, desired, nq, rows)

    def _plan(self, instrument: Instrument, desired: QuoteArray, nq: int, rows: OrderRows) -> ReconcilePlan:
        """Run the compiled plan on the context written in ``_ctx``/``_ictx``."""
        self._risk.bind(instrument)
        if instrument is not self._grid_of:
            self._grid[G_PRICE_DIVISOR] = instrument.price_divisor
            self._grid[G_AMOUNT_DIVISOR] = instrument.amount_divisor
            self._grid_of = instrument
        capacity = rows.count + nq
        if capacity > len(self._out):
            self._out = np.zeros((2 * capacity, 4), dtype=np.int64)
            self._out_cells = flat_cells(self._out)
            self._denied = np.zeros((2 * capacity, 6), dtype=np.int64)
            self._denied_book = np.zeros((2 * capacity, 2), dtype=np.float64)
            self._work = np.zeros((plan_work_rows(2 * capacity, 2 * capacity), WORK_COLUMNS), dtype=np.int64)
        lim, ilim = self._limits
        counts = self._plan_requests(
            desired, nq, rows.ints, rows.floats, rows.count, lim, ilim, self._grid, self._ctx, self._ictx, self._out,
            self._denied, self._denied_book, self._work,
        )
        if counts == 0:
            return _new(ReconcilePlan, ([], [], 0))
        n_out, n_denied, n_deferred = split_counts(counts)
        name = instrument.instrument_name
        orders = rows.orders
        # Instrument.price/amount inlined for the usual exact divisors (the same division), else called
        price_divisor = instrument.price_divisor
        amount_divisor = instrument.amount_divisor
        price = instrument.price
        amount = instrument.amount
        requests: list[OrderRequest] = []
        cells = self._out_cells
        for at in range(0, 4 * n_out, 4):
            kind = cells[at]
            row = cells[at + 1]
            ticks = cells[at + 2]
            lots = cells[at + 3]
            usd = ticks / price_divisor if price_divisor else price(ticks)
            size = lots / amount_divisor if amount_divisor else amount(lots)
            if kind == KIND_AMEND:
                order = orders[row]
                requests.append(_new(AmendOrder, (order.client_order_id, order.order_id, name, usd, size)))
            elif kind == KIND_CANCEL:
                order = orders[row]
                requests.append(_new(CancelOrder, (order.client_order_id, order.order_id, name)))
            else:
                side = _BUY if desired[row, 0] else _SELL
                requests.append(
                    _new(InsertOrder, (
                        self._ids.next(), name, side, usd, size, self._post_only, False, _LIMIT, _GTC, self._label,
                    ))
                )
        if not n_denied:
            return _new(ReconcilePlan, (requests, [], n_deferred))
        ctx = self._context()
        denials = [self._denial(instrument, desired, rows, ctx, k) for k in range(n_denied)]
        return ReconcilePlan(requests, denials, n_deferred)

    def _context(self) -> RiskContext:
        """The :class:`RiskContext` of the context arrays (to word a refusal)."""
        c = self._ctx
        i = self._ictx
        reference = _none_if_nan(float(c[C_REFERENCE]))
        return RiskContext(
            float(c[C_POSITION]), float(c[C_MARK]), int(i[IC_NOW]), int(i[IC_MARK_TS]) if i[IC_MARK_TS_KNOWN] else None,
            None if self._risk.band_from_mark else reference, _none_if_nan(float(c[C_COLLAR_LOW])),
            _none_if_nan(float(c[C_COLLAR_HIGH])), float(c[C_OTHER_NOTIONAL]),
        )

    def _denial(
        self, instrument: Instrument, desired: QuoteArray, rows: OrderRows, ctx: RiskContext, k: int
    ) -> OrderDenied:
        """The k-th refusal of the last plan, in RiskCheck's words (the same compiled decision, re-run)."""
        kind, row, code, count, ticks, lots = self._denied[k].tolist()
        bids, asks = self._denied_book[k].tolist()
        book = OpenBook(bids, asks, count)
        price = instrument.price(ticks)
        amount = instrument.amount(lots)
        if kind == KIND_AMEND:
            denial = self._risk.check_amend(instrument, rows.orders[row], price, amount, ctx, book)
        else:
            side = _BUY if desired[row, 0] else _SELL
            denial = self._risk.check_insert(instrument, side, price, amount, ctx, book)
        if denial is None:
            raise RuntimeError(f"risk code {code} of the compiled reconcile not reproduced by RiskCheck")
        return OrderDenied(instrument.instrument_name, denial.limit, denial.reason, ctx.now_ns)

    # -- helpers ------------------------------------------------------------------------------------------

    def _kill(
        self, instrument: Instrument, desired: Sequence[Quote], live: Sequence[Order], ctx: RiskContext
    ) -> ReconcilePlan:
        name = instrument.instrument_name
        reason = f"kill switch engaged: {self._risk.kill_reason}"
        requests: list[OrderRequest] = [
            CancelOrder(o.client_order_id, o.order_id, name)
            for o in live
            if o.instrument_name == name
            and o.status.is_open
            and o.request_in_flight is None
            and instrument.lots_of(o.remaining_amount) > 0
        ]
        denials = [OrderDenied(name, RiskLimit.KILL_SWITCH, reason, ctx.now_ns) for _ in desired]
        return ReconcilePlan(requests, denials)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def _tolerance_grid(amend_tolerance_ticks: int, amend_tolerance_bps: float, amount_tolerance: float
                    ) -> NDArray[np.int64]:
    """The kernel's grid for these tolerances (divisors set per instrument).

    Raises:
        InvalidValue: a tolerance out of range.
    """
    if amend_tolerance_ticks < 0:
        raise InvalidValue(f"invalid amend_tolerance_ticks < 0, was {amend_tolerance_ticks}")
    if not 0.0 <= amend_tolerance_bps < 10_000.0:
        raise InvalidValue(f"invalid amend_tolerance_bps: must be in [0, 10000), was {amend_tolerance_bps!r}")
    if not 0.0 <= amount_tolerance < 1.0:
        raise InvalidValue(f"invalid amount_tolerance: must be in [0, 1), was {amount_tolerance!r}")
    return new_grid(amend_tolerance_ticks, amend_tolerance_bps, amount_tolerance)

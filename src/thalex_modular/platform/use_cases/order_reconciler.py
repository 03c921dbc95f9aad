"""OrderReconciler: turns the strategy's desired quotes into the fewest order requests (quote by diff, in ticks).

Pure: no I/O, no clock (time comes in the :class:`RiskContext`). Per side, desired quotes are matched to our
resting orders (STYLE 14, LESSONS 15):

1. Orders with a request in flight are left alone (one request per order). Each one claims the nearest desired
   quote of its side, so a pending insert is not duplicated; it still counts, at its tracked remaining amount,
   for every risk check.
2. A resting order within ``amend_tolerance_ticks`` of a desired price and with the desired remaining amount is
   kept untouched (queue priority). Pairs are taken nearest first.
3. The rest are paired best price first: each pair becomes one amend to the desired price and the new *total*
   amount (Thalex amend: filled + desired remaining). Extra orders are cancelled, missing quotes inserted with
   fresh client_order_ids.

Safety rule for limits: an order being cancelled (or amended down) keeps counting at its current amount until
the exchange confirms, so nothing is ever sent that would break a limit if the cancels failed. An insert or
amend that the :class:`RiskCheck` refuses now is not sent and appears in ``denials``; it is retried at the next
reconcile, when the cancels have landed. A refused amend cancels its order instead, so no order is left resting
at a price the strategy no longer wants. While the kill switch is engaged every resting order that has no
request in flight is cancelled and every desired quote is recorded as denied.

Request order: cancels first, then amends (those shrinking exposure first), then inserts (by level).
Units: prices in ticks inside, USD in requests; amounts in lots inside, underlying in requests; time in ns.

The decision is one compiled kernel over integer rows (:mod:`.reconcile_kernel`, risk included); this class
holds its buffers, turns its rows into requests and its refusals into :class:`OrderDenied` with the words of
:class:`RiskCheck`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Instrument, Order, Quote
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

from .order_rows import OrderRows
from .reconcile_kernel import KIND_AMEND, KIND_CANCEL, PLAN_REQUESTS_SIGNATURE, plan_requests

__all__ = ["OrderReconciler", "ReconcilePlan"]


class ReconcilePlan(NamedTuple):
    """What to send, in order, and what risk refused (not sent)."""

    requests: list[OrderRequest]
    denials: list[OrderDenied]

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send (denials may still be present)."""
        return not self.requests


_BUY = Side.BUY
_SELL = Side.SELL
_LOW_32 = 0xFFFFFFFF
_LIMIT = OrderType.LIMIT
_GTC = TimeInForce.GTC
# tuple.__new__ builds the request NamedTuples without their Python-level constructors (same values, a third of
# the cost); InsertOrder's fields are then all given, its defaults included
_new = tuple.__new__


class OrderReconciler:
    """Diffs desired quotes against resting orders into risk-checked requests.

    Args:
        risk: the pre-trade checks every insert and amend passes.
        ids: the session's client_order_id source (one per session, shared by everything that inserts).
        amend_tolerance_ticks: an order this many ticks or fewer from its desired price (same amount) is kept.
        post_only: inserts are post-only (a maker never takes by accident).
        label: Thalex ``label`` put on inserts.

    Raises:
        InvalidValue: ``amend_tolerance_ticks`` < 0.
    """

    __slots__ = (
        "_denied", "_denied_book", "_desired", "_grid", "_grid_of", "_ids", "_label", "_limits",
        "_out", "_out_cells", "_plan_requests", "_post_only", "_risk",
    )

    def __init__(
        self,
        risk: RiskCheck,
        ids: ClientOrderIds,
        amend_tolerance_ticks: int = 0,
        *,
        post_only: bool = True,
        label: str | None = None,
    ) -> None:
        if amend_tolerance_ticks < 0:
            raise InvalidValue(f"invalid amend_tolerance_ticks < 0, was {amend_tolerance_ticks}")
        self._risk = risk
        self._plan_requests = entry(plan_requests, PLAN_REQUESTS_SIGNATURE)
        self._ids = ids
        self._post_only = post_only
        self._label = label
        # [amend tolerance ticks, price divisor, amount divisor] of the instrument last planned for
        self._grid: NDArray[np.int64] = np.array([amend_tolerance_ticks, 0, 0], dtype=np.int64)
        self._grid_of: Instrument | None = None
        self._limits = risk.limits  # the same arrays for the RiskCheck's life (bind rewrites them in place)
        self._desired: QuoteArray = new_quote_array(16)
        self._out: NDArray[np.int64] = np.zeros((32, 4), dtype=np.int64)
        # a flat view of the same memory: reading a few cells is cheaper than a numpy slice and tolist()
        self._out_cells = memoryview(self._out.reshape(-1))
        self._denied: NDArray[np.int64] = np.zeros((32, 6), dtype=np.int64)
        self._denied_book: NDArray[np.float64] = np.zeros((32, 2), dtype=np.float64)

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
        self, instrument: Instrument, desired: QuoteArray, nq: int, rows: OrderRows, ctx: RiskContext
    ) -> ReconcilePlan:
        """:meth:`reconcile` from quote rows (:mod:`~..domain.quote_array`) and order rows already built: the
        tick path, with no Quote objects. The kill switch is the caller's to check (:attr:`halted`)."""
        return self.plan_at(
            instrument, desired, nq, rows, ctx.position, ctx.mark_price, ctx.now_ns, ctx.mark_ts_ns, ctx.index_price
        )

    def plan_at(
        self,
        instrument: Instrument,
        desired: QuoteArray,
        nq: int,
        rows: OrderRows,
        position: float,
        mark_price: float,
        now_ns: int,
        mark_ts_ns: int | None = None,
        index_price: float | None = None,
    ) -> ReconcilePlan:
        """:meth:`plan` with the risk context as its fields (a :class:`RiskContext` is built only for a refusal)."""
        risk = self._risk
        risk.bind(instrument)
        if instrument is not self._grid_of:
            self._grid[1] = instrument.price_divisor
            self._grid[2] = instrument.amount_divisor
            self._grid_of = instrument
        capacity = rows.count + nq
        if capacity > len(self._out):
            self._out = np.zeros((2 * capacity, 4), dtype=np.int64)
            self._out_cells = memoryview(self._out.reshape(-1))
            self._denied = np.zeros((2 * capacity, 6), dtype=np.int64)
            self._denied_book = np.zeros((2 * capacity, 2), dtype=np.float64)
        reference, mark_ts, mark_ts_known = risk.reference(mark_price, index_price, mark_ts_ns)
        lim, ilim = self._limits
        # exact scalar types: the kernel's entry takes exactly PLAN_REQUESTS_SIGNATURE (numba does not check them)
        counts = self._plan_requests(
            desired, nq, rows.ints, rows.floats, rows.count, lim, ilim, self._grid, float(position), reference,
            int(now_ns), mark_ts, mark_ts_known, self._out, self._denied, self._denied_book,
        )
        if counts == 0:
            return _new(ReconcilePlan, ([], []))
        name = instrument.instrument_name
        orders = rows.orders
        # Instrument.price/amount inlined for the usual exact divisors (the same division), else called
        price_divisor = instrument.price_divisor
        amount_divisor = instrument.amount_divisor
        price = instrument.price
        amount = instrument.amount
        requests: list[OrderRequest] = []
        cells = self._out_cells
        for at in range(0, 4 * (counts & _LOW_32), 4):
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
        n_denied = counts >> 32
        if not n_denied:
            return _new(ReconcilePlan, (requests, []))
        ctx = RiskContext(position, mark_price, now_ns, mark_ts_ns, index_price)
        return ReconcilePlan(requests, [self._denial(instrument, desired, rows, ctx, k) for k in range(n_denied)])

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

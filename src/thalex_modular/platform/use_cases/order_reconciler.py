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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from thalex_modular.platform.domain.entities import Instrument, Order, Quote
from thalex_modular.platform.domain.enums import OrderStatus, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.events import OrderDenied
from thalex_modular.platform.domain.requests import (
    AmendOrder,
    CancelOrder,
    ClientOrderIds,
    InsertOrder,
    OrderRequest,
)
from thalex_modular.platform.domain.risk import OpenBook, RiskCheck, RiskContext, RiskLimit

__all__ = ["OrderReconciler", "ReconcilePlan"]


class ReconcilePlan(NamedTuple):
    """What to send, in order, and what risk refused (not sent)."""

    requests: list[OrderRequest]
    denials: list[OrderDenied]

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send (denials may still be present)."""
        return not self.requests


# A resting order: (rank key, client_order_id, price in ticks, remaining lots, order), computed once per reconcile.
# The rank key is the price in ticks signed so that ascending order is best price first (-ticks for bids); with
# the client_order_id as tie-breaker a plain sort orders them (no key function on the tick path).
_Resting = tuple[int, int, int, int, Order]
_PENDING = OrderStatus.PENDING
_OPEN = OrderStatus.OPEN
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_BUY = Side.BUY


def _greedy_pairs(candidates: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """From (distance, quote index, order index) candidates, take pairs nearest first; ties by quote then order
    index, so the result is deterministic. Each quote and each order is used at most once."""
    candidates.sort()
    used_q: set[int] = set()
    used_o: set[int] = set()
    pairs = []
    for _, qi, oi in candidates:
        if qi in used_q or oi in used_o:
            continue
        used_q.add(qi)
        used_o.add(oi)
        pairs.append((qi, oi))
    return pairs


def _is_best_first(quotes: list[Quote], better_first: int) -> bool:
    """True when ``quotes`` are already best price first (strategies emit them so): the sort is skipped."""
    previous = better_first * quotes[0].price_ticks
    previous_level = quotes[0].level
    for quote in quotes[1:]:
        key = better_first * quote.price_ticks
        if key < previous or (key == previous and quote.level < previous_level):
            return False
        previous = key
        previous_level = quote.level
    return True


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

    __slots__ = ("_ids", "_label", "_post_only", "_risk", "_tolerance")

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
        self._ids = ids
        self._tolerance = amend_tolerance_ticks
        self._post_only = post_only
        self._label = label

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
        name = instrument.instrument_name
        risk = self._risk
        if risk.kill_switch_engaged:
            return self._kill(instrument, desired, live, ctx)
        ticks_per_usd = 1.0 / instrument.tick_size
        lots_per_unit = 1.0 / instrument.volume_tick_size
        bids = 0.0
        asks = 0.0
        count = 0
        buy_free: list[_Resting] = []
        sell_free: list[_Resting] = []
        buy_flight: list[int] = []
        sell_flight: list[int] = []
        for order in live:
            status = order.status
            if order.instrument_name != name or (
                status is not _OPEN and status is not _PARTIALLY_FILLED and status is not _PENDING
            ):
                continue
            count += 1
            remaining = order.amount - order.filled_amount
            if remaining < 0.0:
                remaining = 0.0
            # exchange prices and amounts are on the grid: round() recovers the exact ticks and lots
            ticks = round(order.price * ticks_per_usd)
            if order.side is _BUY:
                bids += remaining
                if order.request_in_flight is not None:
                    buy_flight.append(ticks)
                    continue
                lots = round(remaining * lots_per_unit)
                if lots > 0:
                    buy_free.append((-ticks, order.client_order_id, ticks, lots, order))
            else:
                asks += remaining
                if order.request_in_flight is not None:
                    sell_flight.append(ticks)
                    continue
                lots = round(remaining * lots_per_unit)
                if lots > 0:
                    sell_free.append((ticks, order.client_order_id, ticks, lots, order))
        buy_quotes: list[Quote] = []
        sell_quotes: list[Quote] = []
        for quote in desired:
            (buy_quotes if quote.side is _BUY else sell_quotes).append(quote)

        cancel_orders: list[Order] = []
        amends: list[tuple[int, int, int, Quote, Order]] = []  # (lots growth, level, sequence, quote, order)
        inserts: list[Quote] = []
        self._diff_side(-1, buy_quotes, buy_free, buy_flight, cancel_orders, amends, inserts)
        self._diff_side(1, sell_quotes, sell_free, sell_flight, cancel_orders, amends, inserts)
        if not cancel_orders and not amends and not inserts:
            return ReconcilePlan([], [])
        denials: list[OrderDenied] = []

        # Amends: exposure-shrinking ones first, so later checks see the smaller (conservative) book.
        amends.sort()
        amend_requests: list[OrderRequest] = []
        for growth_lots, _, _, quote, order in amends:
            price = instrument.price(quote.price_ticks)
            total = instrument.amount(round(order.filled_amount * lots_per_unit) + quote.amount_lots)
            denial = risk.check_amend(instrument, order, price, total, ctx, OpenBook(bids, asks, count))
            if denial is not None:
                denials.append(OrderDenied(name, denial.limit, denial.reason, ctx.now_ns))
                cancel_orders.append(order)
                continue
            if growth_lots > 0:
                growth = (total - order.filled_amount) - order.remaining_amount
                if growth > 0.0:
                    if order.side is _BUY:
                        bids += growth
                    else:
                        asks += growth
            amend_requests.append(AmendOrder(order.client_order_id, order.order_id, name, price, total))

        if len(inserts) > 1:
            inserts.sort(key=lambda q: (q.level, -q.price_ticks if q.side is _BUY else q.price_ticks))
        insert_requests: list[OrderRequest] = []
        for quote in inserts:
            price = instrument.price(quote.price_ticks)
            amount = instrument.amount(quote.amount_lots)
            denial = risk.check_insert(instrument, quote.side, price, amount, ctx, OpenBook(bids, asks, count))
            if denial is not None:
                denials.append(OrderDenied(name, denial.limit, denial.reason, ctx.now_ns))
                continue
            if quote.side is _BUY:
                bids += amount
            else:
                asks += amount
            count += 1
            insert_requests.append(
                InsertOrder(
                    self._ids.next(), name, quote.side, price, amount, post_only=self._post_only, label=self._label
                )
            )

        requests: list[OrderRequest] = [CancelOrder(o.client_order_id, o.order_id, name) for o in cancel_orders]
        requests.extend(amend_requests)
        requests.extend(insert_requests)
        return ReconcilePlan(requests, denials)

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

    def _diff_side(
        self,
        better_first: int,
        quotes: list[Quote],
        free: list[_Resting],
        flight_ticks: list[int],
        cancels: list[Order],
        amends: list[tuple[int, int, int, Quote, Order]],
        inserts: list[Quote],
    ) -> None:
        """Match one side (``better_first`` -1 for bids, 1 for asks); appends to ``cancels``, ``amends``
        (lots growth, level, sequence, quote, order) and ``inserts``.

        ``free`` holds the side's resting orders without a request in flight (:data:`_Resting`);
        ``flight_ticks`` the prices of those with one.
        """
        if not quotes and not free:
            return
        if len(quotes) > 1 and not _is_best_first(quotes, better_first):
            quotes = sorted(quotes, key=lambda q: (better_first * q.price_ticks, q.level))
        if len(free) > 1:
            free.sort()
        tol = self._tolerance
        # Fast path, the usual tick: nothing in flight and every order already within tolerance of the quote
        # of its rank with the desired amount. Nothing to do for this side.
        if not flight_ticks and len(quotes) == len(free):
            for quote, resting in zip(quotes, free, strict=True):
                if resting[3] != quote.amount_lots or abs(quote.price_ticks - resting[2]) > tol:
                    break
            else:
                return

        # 1. In-flight orders claim their nearest quote; no request for them.
        if flight_ticks and quotes:
            claims = [
                (abs(q.price_ticks - ft), qi, fi) for qi, q in enumerate(quotes) for fi, ft in enumerate(flight_ticks)
            ]
            claimed = {qi for qi, _ in _greedy_pairs(claims)}
            quotes = [q for qi, q in enumerate(quotes) if qi not in claimed]

        # 2. Keep orders within tolerance with the desired amount, nearest first.
        candidates = [
            (abs(q.price_ticks - r[2]), qi, oi)
            for qi, q in enumerate(quotes)
            for oi, r in enumerate(free)
            if r[3] == q.amount_lots and abs(q.price_ticks - r[2]) <= tol
        ]
        if candidates:
            kept = _greedy_pairs(candidates)
            kept_q = {qi for qi, _ in kept}
            kept_o = {oi for _, oi in kept}
            quotes = [q for qi, q in enumerate(quotes) if qi not in kept_q]
            free = [r for oi, r in enumerate(free) if oi not in kept_o]

        # 3. Pair the rest best price first: amends; extras cancelled, missing inserted.
        n = min(len(quotes), len(free))
        sequence = len(amends)
        for i in range(n):
            quote = quotes[i]
            resting = free[i]
            amends.append((quote.amount_lots - resting[3], quote.level, sequence + i, quote, resting[4]))
        cancels.extend(r[4] for r in free[n:])
        inserts.extend(quotes[n:])

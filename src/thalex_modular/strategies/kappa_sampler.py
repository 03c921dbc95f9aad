"""The samples the kappa estimate learns from: public prints of the market, not of our own fills, measured from the
book's mid at the print's time, net of the book's half spread.

Why each rule (issue 16 item 3):

* **Our own fills are not market arrivals.** Live, every fill of ours is also a print on the public tape, at our
  quote. When our fills dominate the tape, distances measured on it converge to our own half spread, kappa to its
  inverse and the quoted spread to whatever we quoted before: a loop that ignores the market. Thalex's tape has no
  trade ids or labels, so a print is recognised as ours by its price (ticks), amount (lots) and aggressor side
  against our fill notifications. Either may arrive first: a print waits ``own_fill_wait_ns`` (local time) before it
  counts, and our fill claims a matching print that is waiting, or the next matching print within that wait.
* **The mid at the print's time.** The distance is taken from the mid of the latest book seen when the print
  arrives (the one the strategy last quoted from), not from the price we centre quotes on (the mark, which can sit
  apart from the book). A book older than ``book_max_age_ns`` measures nothing.
* **Net of the book's half spread.** No market order trades inside the book, so the fill intensity
  ``A exp(-kappa delta)`` is only observed beyond the touch; by memorylessness the distances beyond it are
  exponential with the same kappa. A print inside the book counts as at the touch (0).
"""

from __future__ import annotations

from collections import deque

from thalex_modular.platform.domain.entities import Fill, Instrument, Trade
from thalex_modular.platform.domain.enums import MakerTaker, Side

from .kappa_estimator import KappaEstimator

__all__ = ["KappaSampler"]


class KappaSampler:
    """Feeds a :class:`KappaEstimator` with market prints only (see the module docstring for the rules).

    Args:
        estimator: the estimate the samples go to.
        own_fill_wait_ns: how long a print waits for our own fill notification to claim it, and how long a fill
            notification waits for its print (local ns, >= 0).
        book_max_age_ns: the oldest book a print is measured against (local ns, >= 0).

    Times are local receive times (``ts_local_ns`` of prints and fills, the decision time of a quote), on one clock.
    """

    __slots__ = ("_now_ns", "_own", "book_max_age_ns", "estimator", "own_fill_wait_ns", "pending")

    def __init__(self, estimator: KappaEstimator, own_fill_wait_ns: int, book_max_age_ns: int) -> None:
        self.estimator = estimator
        self.own_fill_wait_ns = own_fill_wait_ns
        self.book_max_age_ns = book_max_age_ns
        self._now_ns = 0
        # prints waiting to count (non-empty: a later flush may change the estimate): (ts_local_ns, distance USD,
        # price ticks, lots, aggressor); our fills waiting for their print: (ts_local_ns, price ticks, lots, the
        # print's aggressor)
        self.pending: deque[tuple[int, float, int, int, Side]] = deque()
        self._own: deque[tuple[int, int, int, Side]] = deque()

    def on_print(self, trade: Trade, instrument: Instrument, best_bid_price: float | None,
                 best_ask_price: float | None, book_ns: int) -> bool:
        """A public print of ``instrument``, measured from the book last quoted from (USD, None = that side empty;
        seen at ``book_ns``: a one-sided, crossed or stale book measures nothing). True when the estimate may have
        changed."""
        now = trade.ts_local_ns
        changed = self.flush(now)
        if (best_bid_price is None or best_ask_price is None or not best_bid_price < best_ask_price
                or now - book_ns > self.book_max_age_ns):
            return changed
        ticks, lots = instrument.bid_ticks(trade.price), instrument.lots_floor(trade.amount)
        own = self._own
        for i, (_, own_ticks, own_lots, aggressor) in enumerate(own):
            if own_ticks == ticks and own_lots == lots and aggressor is trade.taker_side:
                del own[i]  # our own fill's print
                return changed
        distance = abs(trade.price - 0.5 * (best_bid_price + best_ask_price)) - 0.5 * (best_ask_price - best_bid_price)
        self.pending.append((now, distance if distance > 0.0 else 0.0, ticks, lots, trade.taker_side))
        return changed

    def on_own_fill(self, fill: Fill, instrument: Instrument) -> bool:
        """One of our fills of ``instrument``: it claims its print. True when the estimate may have changed."""
        now = fill.ts_local_ns
        changed = self.flush(now)
        ticks, lots = instrument.bid_ticks(fill.price), instrument.lots_floor(fill.amount)
        aggressor = fill.side.opposite if fill.maker_taker is MakerTaker.MAKER else fill.side
        pending = self.pending
        for i, (_, _, print_ticks, print_lots, print_aggressor) in enumerate(pending):
            if print_ticks == ticks and print_lots == lots and print_aggressor is aggressor:
                del pending[i]
                return changed
        self._own.append((now, ticks, lots, aggressor))
        return changed

    def flush(self, now_ns: int) -> bool:
        """Count the prints that waited ``own_fill_wait_ns`` unclaimed by ``now_ns``; forget older fills of ours.
        True when something was counted."""
        if now_ns > self._now_ns:
            self._now_ns = now_ns
        now = self._now_ns
        wait = self.own_fill_wait_ns
        own = self._own
        while own and own[0][0] + wait < now:
            own.popleft()
        pending = self.pending
        counted = False
        while pending and pending[0][0] + wait <= now:
            self.estimator.observe(pending.popleft()[1])
            counted = True
        return counted

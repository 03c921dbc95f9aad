"""Top of book as the simulator knows it, and the conservative queue model (hftbacktest RiskAdverseQueueModel).

Rules (LESSONS 19, STYLE 15, docs/simulator.md), all in integer ticks and lots:

* Joining a level: if our price equals the displayed best on our side, the whole displayed amount is ahead of
  us; when the feed gives no size for that level, the amount ahead is unknown. If our price is strictly better
  than that best (inside the spread), nobody is displayed there: 0 ahead. Otherwise (behind the best, or no book
  seen yet) the level's size is unknown. An unknown queue (``None``) is infinite: only trades *through* our price
  can fill us until the level is seen as the best with a size.
* Book updates never move us forward, except that the amount ahead can never exceed what is displayed at our
  price (cancellations are assumed to be behind us; a level that shrank below our queue estimate caps it).
* Trades at our price (or through it by less than ``slippage_ticks``) first consume the queue ahead, then fill
  us. Trades through our price by at least ``slippage_ticks`` fill us directly. One trade's size is shared
  across all our orders in price-time priority and is used once.
* A book whose opposite best reaches our price (an ask at or below our bid) crossed us: those resting orders
  would have met ours first, so they fill us at our limit, in price-time priority, up to the displayed size of
  that level (all that remains of the crossed orders when the size is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..enums import Side
from .match_kernel import UNKNOWN_LOTS, allocate_cross_kernel, allocate_trade_kernel
from .sim_order import SimOrder


@dataclass(slots=True)
class TopOfBook:
    """Best bid and ask in ticks with displayed amounts in lots; None prices mean an empty side, None amounts a
    size the feed did not give (unknown, never read as 0).

    The amounts are decremented when our simulated orders consume them, until the next book update.
    """

    bid_ticks: int | None
    bid_lots: int | None
    ask_ticks: int | None
    ask_lots: int | None

    def best(self, side: Side) -> tuple[int | None, int | None]:
        """(price ticks, lots) of the best level on ``side`` (our bids live on the bid side)."""
        return (self.bid_ticks, self.bid_lots) if side is Side.BUY else (self.ask_ticks, self.ask_lots)

    def consume(self, side: Side, lots: int) -> None:
        """Remove ``lots`` of displayed liquidity from the best level on ``side`` (an unknown size stays unknown)."""
        if side is Side.BUY:
            if self.bid_lots is not None:
                self.bid_lots = max(0, self.bid_lots - lots)
        elif self.ask_lots is not None:
            self.ask_lots = max(0, self.ask_lots - lots)


def is_better(side: Side, price_ticks: int, than_ticks: int) -> bool:
    """True when ``price_ticks`` is strictly more aggressive than ``than_ticks`` for an order on ``side``."""
    return price_ticks > than_ticks if side is Side.BUY else price_ticks < than_ticks


def displayed_at(top: TopOfBook | None, side: Side, price_ticks: int) -> int | None:
    """Displayed public amount (lots) at our price on our side, or None when the book does not tell.

    0 when our price is better than the displayed best (nobody is there); None when it is behind the best, or at
    a best whose size the feed did not give.
    """
    if top is None:
        return None
    best_ticks, best_lots = top.best(side)
    if best_ticks is None or is_better(side, price_ticks, best_ticks):
        return 0
    if price_ticks == best_ticks:
        return best_lots
    return None


def join_queue(top: TopOfBook | None, side: Side, price_ticks: int) -> int | None:
    """Queue ahead (lots) of an order that joins ``price_ticks`` now; None = unknown (infinite)."""
    return displayed_at(top, side, price_ticks)


def cap_queue(order: SimOrder, top: TopOfBook) -> None:
    """After a book update: the amount ahead of us can't exceed what is displayed at our price."""
    shown = displayed_at(top, order.side, order.price_ticks)
    if shown is None:
        return
    if order.queue_ahead_lots is None or shown < order.queue_ahead_lots:
        order.queue_ahead_lots = shown


def through_distance(order: SimOrder, trade_ticks: int) -> int:
    """How many ticks the trade went beyond our limit (>= 0 means it reached our price)."""
    return order.price_ticks - trade_ticks if order.side is Side.BUY else trade_ticks - order.price_ticks


def _reached(orders: list[SimOrder], ticks: int) -> list[SimOrder]:
    """The orders a print or level at ``ticks`` reaches with lots left: the only ones the kernel can fill or whose
    queue it can move (most calls reach none, and skip the kernel)."""
    return [o for o in orders if o.remaining_lots > 0 and through_distance(o, ticks) >= 0]


def _arrays(orders: list[SimOrder]) -> tuple[NDArray[np.int64], ...]:
    """The kernel's columns of ``orders``: price ticks, remaining lots, queue ahead (-1 unknown), priority."""
    n = len(orders)
    price = np.empty(n, dtype=np.int64)
    remaining = np.empty(n, dtype=np.int64)
    ahead = np.empty(n, dtype=np.int64)
    priority = np.empty(n, dtype=np.int64)
    for i, o in enumerate(orders):
        price[i] = o.price_ticks
        remaining[i] = o.remaining_lots
        ahead[i] = UNKNOWN_LOTS if o.queue_ahead_lots is None else o.queue_ahead_lots
        priority[i] = o.priority
    return price, remaining, ahead, priority


def allocate_cross(orders: list[SimOrder], opposite_ticks: int, crossed_lots: int | None) -> list[tuple[SimOrder, int]]:
    """Share the opposite best level that crossed our resting orders among them (:func:`allocate_cross_kernel`).

    Args:
        orders: our resting orders on the side the level crosses (bids for an ask at or below them), one side,
            any order.
        opposite_ticks: the opposite best price, ticks.
        crossed_lots: the lots of that level not yet used to fill us; None when its size is unknown (every
            crossed order then fills in full).

    Returns:
        ``(order, lots)`` pairs with lots > 0 in price-time priority, summing to at most ``crossed_lots``.
    """
    orders = _reached(orders, opposite_ticks)
    if not orders:
        return []
    price, remaining, _, priority = _arrays(orders)
    n = len(orders)
    out_index = np.empty(n, dtype=np.int64)
    out_lots = np.empty(n, dtype=np.int64)
    left = UNKNOWN_LOTS if crossed_lots is None else max(0, crossed_lots)
    count = allocate_cross_kernel(orders[0].side is Side.BUY, opposite_ticks, left, price, remaining, priority, n,
                                  out_index, out_lots)
    return [(orders[int(out_index[k])], int(out_lots[k])) for k in range(count)]


def allocate_trade(
    orders: list[SimOrder], trade_ticks: int, trade_lots: int, slippage_ticks: int
) -> list[tuple[SimOrder, int]]:
    """Share one public trade among our resting orders that it can fill (:func:`allocate_trade_kernel`).

    Args:
        orders: our resting orders on the side the aggressor hit (buys for a sell aggressor), one side, any order.
        trade_ticks: the trade price in ticks (rounded against us by the caller).
        trade_lots: the trade size in lots (rounded down by the caller).
        slippage_ticks: ticks a trade must go through our limit to fill us without a queue (>= 1).

    Returns:
        ``(order, lots)`` pairs with lots > 0, in price-time priority; the lots sum to at most ``trade_lots``.
        Queue positions of the orders at the trade's level are advanced in place.
    """
    orders = _reached(orders, trade_ticks)
    if not orders:
        return []
    price, remaining, ahead, priority = _arrays(orders)
    n = len(orders)
    out_index = np.empty(n, dtype=np.int64)
    out_lots = np.empty(n, dtype=np.int64)
    count = allocate_trade_kernel(orders[0].side is Side.BUY, trade_ticks, trade_lots, slippage_ticks, price,
                                  remaining, ahead, priority, n, out_index, out_lots)
    for order, lots_ahead in zip(orders, ahead.tolist(), strict=True):
        if order.queue_ahead_lots is not None:
            order.queue_ahead_lots = lots_ahead
    return [(orders[int(out_index[k])], int(out_lots[k])) for k in range(count)]

"""Top of book as the simulator knows it, and the conservative queue model (hftbacktest RiskAdverseQueueModel).

Rules (LESSONS 19, STYLE 15), all in integer ticks and lots:

* Joining a level: if our price equals the displayed best on our side, the whole displayed amount is ahead of
  us. If our price is strictly better than that best (inside the spread), nobody is displayed there: 0 ahead.
  Otherwise (behind the best, or no book seen yet) the level's size is unknown: ``None``, treated as infinite,
  so only trades *through* our price can fill us until the level is seen as the best.
* Book updates never move us forward, except that the amount ahead can never exceed what is displayed at our
  price (cancellations are assumed to be behind us; a level that shrank below our queue estimate caps it).
* Trades at our price (or through it by less than ``slippage_ticks``) first consume the queue ahead, then fill
  us. Trades through our price by at least ``slippage_ticks`` fill us directly. One trade's size is shared
  across all our orders in price-time priority and is used once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..enums import Side
from .sim_order import SimOrder


@dataclass(slots=True)
class TopOfBook:
    """Best bid and ask in ticks with displayed amounts in lots; None prices mean an empty side.

    The amounts are decremented when our simulated taker orders consume them, until the next book update.
    """

    bid_ticks: int | None
    bid_lots: int
    ask_ticks: int | None
    ask_lots: int

    def best(self, side: Side) -> tuple[int | None, int]:
        """(price ticks, lots) of the best level on ``side`` (our bids live on the bid side)."""
        return (self.bid_ticks, self.bid_lots) if side is Side.BUY else (self.ask_ticks, self.ask_lots)

    def consume(self, side: Side, lots: int) -> None:
        """Remove ``lots`` of displayed liquidity from the best level on ``side``."""
        if side is Side.BUY:
            self.bid_lots = max(0, self.bid_lots - lots)
        else:
            self.ask_lots = max(0, self.ask_lots - lots)


def is_better(side: Side, price_ticks: int, than_ticks: int) -> bool:
    """True when ``price_ticks`` is strictly more aggressive than ``than_ticks`` for an order on ``side``."""
    return price_ticks > than_ticks if side is Side.BUY else price_ticks < than_ticks


def displayed_at(top: TopOfBook | None, side: Side, price_ticks: int) -> int | None:
    """Displayed public amount (lots) at our price on our side, or None when the book does not tell.

    0 when our price is better than the displayed best (nobody is there); None when it is behind the best.
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


def allocate_trade(
    orders: list[SimOrder], trade_ticks: int, trade_lots: int, slippage_ticks: int
) -> list[tuple[SimOrder, int]]:
    """Share one public trade among our resting orders that it can fill.

    Args:
        orders: our resting orders on the side the aggressor hit (buys for a sell aggressor), any order.
        trade_ticks: the trade price in ticks (rounded against us by the caller).
        trade_lots: the trade size in lots (rounded down by the caller).
        slippage_ticks: ticks a trade must go through our limit to fill us without a queue (>= 1).

    Returns:
        ``(order, lots)`` pairs with lots > 0, in price-time priority; the lots sum to at most ``trade_lots``.
        Queue positions of the orders at the trade's level are advanced in place.
    """
    reached = [o for o in orders if through_distance(o, trade_ticks) >= 0 and o.remaining_lots > 0]
    # Most aggressive price first, then earliest joined: the aggressor meets them in this order.
    reached.sort(key=lambda o: (-through_distance(o, trade_ticks), o.priority))
    left = trade_lots
    fills: list[tuple[SimOrder, int]] = []
    for order in reached:
        if left <= 0:
            break
        if through_distance(order, trade_ticks) < slippage_ticks:
            if order.queue_ahead_lots is None:
                continue  # level size unknown: the queue ahead is never consumed (conservative)
            eaten = min(left, order.queue_ahead_lots)
            order.queue_ahead_lots -= eaten
            left -= eaten
            if order.queue_ahead_lots > 0:
                continue
        lots = min(left, order.remaining_lots)
        if lots > 0:
            fills.append((order, lots))
            left -= lots
    return fills

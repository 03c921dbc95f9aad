"""Price-time priority order book of one instrument.

Levels live in a dict ``price_ticks → deque[EngineOrder]`` (FIFO) with a sorted list of prices per side
(``bisect``); level totals in lots are kept incrementally so book snapshots do not walk the queues.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from .order import EngineOrder


class BookSide:
    """One side of a book. ``prices`` ascending; the best price is the last (bids) or first (asks)."""

    __slots__ = ("is_bid", "levels", "prices", "totals")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, deque[EngineOrder]] = {}
        self.prices: list[int] = []
        self.totals: dict[int, int] = {}

    def best(self) -> int | None:
        """Best price in ticks, None when the side is empty."""
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def add(self, order: EngineOrder) -> None:
        """Append ``order`` at the back of its price level (it loses any earlier priority)."""
        price = order.price_ticks
        assert price is not None
        queue = self.levels.get(price)
        if queue is None:
            queue = deque()
            self.levels[price] = queue
            self.totals[price] = 0
            insort(self.prices, price)
        queue.append(order)
        self.totals[price] += order.amount_lots - order.filled_lots

    def remove(self, order: EngineOrder, remaining_lots: int) -> None:
        """Take ``order`` (with ``remaining_lots`` still counted in the level total) out of the book."""
        price = order.price_ticks
        assert price is not None
        queue = self.levels[price]
        if queue[0] is order:
            queue.popleft()
        else:
            queue.remove(order)
        self.totals[price] -= remaining_lots
        if not queue:
            self._drop_level(price)

    def reduce(self, price: int, lots: int) -> None:
        """Lower the level total by ``lots`` (a fill or an in-place amend down)."""
        self.totals[price] -= lots

    def _drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.totals[price]
        index = bisect_left(self.prices, price)
        del self.prices[index]

    def pop_front_if_done(self, price: int) -> None:
        """Drop filled orders at the head of a level, and the level when it is empty."""
        queue = self.levels[price]
        while queue and queue[0].remaining_lots == 0:
            queue.popleft()
        if not queue:
            self._drop_level(price)

    def iter_levels(self) -> Iterator[tuple[int, int]]:
        """``(price_ticks, total_lots)`` best first."""
        prices = reversed(self.prices) if self.is_bid else iter(self.prices)
        totals = self.totals
        for price in prices:
            yield price, totals[price]

    def total_lots(self) -> int:
        return sum(self.totals.values())


class OrderBook:
    """Both sides of one instrument's book."""

    __slots__ = ("asks", "bids", "update_ns")

    def __init__(self) -> None:
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.update_ns = 0

    def side(self, is_buy: bool) -> BookSide:
        """The side an order of direction ``is_buy`` rests on."""
        return self.bids if is_buy else self.asks

    def opposite(self, is_buy: bool) -> BookSide:
        """The side an order of direction ``is_buy`` trades against."""
        return self.asks if is_buy else self.bids

    def crossed(self) -> bool:
        """True if best bid >= best ask (must never hold after a request completes)."""
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask

"""The simulator's fill rules, one scenario each: a few lines of events and the fills expected (docs/simulator.md
states the rules these scenarios pin).

Times are milliseconds after T0 on the local clock (when we see or send something). Unless a scenario says
otherwise an insert reaches the exchange 10 ms after it is sent, a cancel 5 ms, an answer reaches us 2 ms after the
exchange produced it, and the public feed shows an event 0 ms after it happened. A fill is
``(client_order_id, amount, price, maker/taker, exchange ms, local ms)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sim_harness import MS, T0, Harness, check_update_stream

from thalex_modular.platform.domain.entities import OrderUpdate
from thalex_modular.platform.domain.enums import MakerTaker, Side
from thalex_modular.platform.domain.sim.config import SimMatchConfig

MAKER, TAKER = MakerTaker.MAKER, MakerTaker.TAKER
BUY, SELL = Side.BUY, Side.SELL


@dataclass(frozen=True)
class Book:
    """A ticker: best bid and ask with their displayed amounts (None: the feed gave no size)."""

    bid: float | None
    bid_amount: float | None
    ask: float | None
    ask_amount: float | None


@dataclass(frozen=True)
class Order:
    """We send a limit order (not post-only)."""

    coid: int
    side: Side
    price: float
    amount: float


@dataclass(frozen=True)
class Cancel:
    coid: int


@dataclass(frozen=True)
class Print:
    """A public trade seen now; ``aggressor`` is the taker's side; it happened ``lag_ms`` before we see it."""

    aggressor: Side
    price: float
    amount: float
    lag_ms: float = 0.0


Step = Book | Order | Cancel | Print
Fill = tuple[int, float, float, MakerTaker, float, float]


@dataclass(frozen=True)
class Scenario:
    steps: tuple[tuple[float, Step], ...]
    fills: tuple[Fill, ...]
    entry_ms: float = 10.0
    cancel_ms: float = 5.0
    response_ms: float = 2.0
    feed_ms: float = 0.0
    end_ms: float = 200.0

    def config(self) -> SimMatchConfig:
        return SimMatchConfig(order_entry_latency_ns=round(self.entry_ms * MS),
                              cancel_latency_ns=round(self.cancel_ms * MS),
                              response_latency_ns=round(self.response_ms * MS),
                              feed_latency_ns=round(self.feed_ms * MS))


SCENARIOS: dict[str, Scenario] = {
    # our bid joins the best bid behind 0.5; the book then shows our level alone at the touch, one tick under the
    # ask, and shrinking: nothing traded, nothing fills (a touch is not a fill)
    "touch without a print": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_999, 0.3)),
        (20, Book(99_999, 0.1, 100_000, 1.0)),
        (30, Book(99_998, 1.0, 100_000, 1.0)),
    ), fills=()),
    # a sell print 2 ticks through our bid fills us at our limit, bounded by its size
    "print through": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Print(SELL, 99_993, 0.1)),
    ), fills=((1, 0.1, 99_995, MAKER, 20, 22),)),
    # 0.5 displayed ahead of us: prints at our price eat it first
    "print at our price with a queue ahead": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_999, 0.3)),
        (20, Print(SELL, 99_999, 0.4)),
        (30, Print(SELL, 99_999, 0.3)),
    ), fills=((1, 0.2, 99_999, MAKER, 30, 32),)),
    # the displayed size at our price is unknown: the queue ahead is unknown (infinite), prints at our price never
    # reach us; a print through our price still does
    "print at our price, displayed size unknown": Scenario((
        (0, Book(99_999, None, 100_001, 1.0)),
        (0, Order(1, BUY, 99_999, 0.3)),
        (20, Print(SELL, 99_999, 5.0)),
        (30, Print(SELL, 99_998, 0.1)),
    ), fills=((1, 0.1, 99_999, MAKER, 30, 32),)),
    # the ask drops through our bid with no print: the sellers there would have met our bid first; we fill at our
    # limit up to the size that crossed, and the same sellers still shown later are not counted twice
    "cross without a print": Scenario((
        (0, Book(99_990, 1.0, 100_001, 1.0)),
        (0, Order(1, BUY, 99_999, 0.3)),
        (20, Book(99_990, 1.0, 99_998, 0.2)),
        (25, Book(99_990, 1.0, 99_998, 0.2)),
        (30, Book(99_990, 1.0, 99_997, 0.05)),
    ), fills=((1, 0.2, 99_999, MAKER, 20, 22), (1, 0.05, 99_999, MAKER, 30, 32))),
    # a cross of unknown size fills what is left of the order
    "cross of unknown size": Scenario((
        (0, Book(99_990, 1.0, 100_001, 1.0)),
        (0, Order(1, SELL, 100_000, 0.3)),
        (20, Book(100_001, None, 100_003, 1.0)),
    ), fills=((1, 0.3, 100_000, MAKER, 20, 22),)),
    # the ask coming down to our bid's price is a cross too (a seller at our price would have met us)
    "cross at our price": Scenario((
        (0, Book(99_990, 1.0, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Book(99_990, 1.0, 99_995, 0.1)),
    ), fills=((1, 0.1, 99_995, MAKER, 20, 22),)),
    # the cancel leaves at 20 ms and reaches the exchange at 25 ms; a print at 22 ms fills us first
    "cancel racing a print, print first": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Cancel(1)),
        (22, Print(SELL, 99_990, 0.1)),
    ), fills=((1, 0.1, 99_995, MAKER, 22, 24),)),
    "cancel racing a print, cancel first": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Cancel(1)),
        (26, Print(SELL, 99_990, 0.1)),
    ), fills=()),
    # the same race when the feed shows prints 8 ms late (their stamps say so, from the first one on): the cancel
    # lands at the exchange at 25 ms, which we see at 33 ms; the print we see at 26 ms happened at 18 ms and fills
    # us (we learn it at once: the exchange's answer, due at 20 ms, cannot precede what the engine has seen)
    "cancel racing a print seen late": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (5, Print(SELL, 99_999, 0.01, lag_ms=8)),
        (20, Cancel(1)),
        (26, Print(SELL, 99_990, 0.1, lag_ms=8)),
    ), fills=((1, 0.1, 99_995, MAKER, 18, 26),)),
    # one order, three prints through it: three partial fills, the last one capped by what remains
    "partial fills": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Print(SELL, 99_994, 0.1)),
        (30, Print(SELL, 99_990, 0.15)),
        (40, Print(SELL, 99_990, 1.0)),
    ), fills=((1, 0.1, 99_995, MAKER, 20, 22), (1, 0.15, 99_995, MAKER, 30, 32), (1, 0.05, 99_995, MAKER, 40, 42))),
    # entry leg: a print 1 µs before the insert reaches the exchange does not fill it
    "latency: entry": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (9.999, Print(SELL, 99_990, 0.1)),
        (10, Print(SELL, 99_990, 0.2)),
    ), fills=((1, 0.2, 99_995, MAKER, 10, 12),)),
    # response leg: 7 ms from the exchange to us
    "latency: response": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Print(SELL, 99_990, 0.1)),
    ), fills=((1, 0.1, 99_995, MAKER, 20, 27),), response_ms=7),
    # feed leg: data is 4 ms old when we see it; the insert sent at 0 is live at the exchange at 10 ms, i.e. for
    # prints we see from 14 ms on; the fill reaches us 2 ms after the exchange made it (its exchange time: seen - 4)
    "latency: feed, insert": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (13.999, Print(SELL, 99_990, 0.1)),
        (14, Print(SELL, 99_990, 0.2)),
    ), fills=((1, 0.2, 99_995, MAKER, 10, 14),), feed_ms=4),
    # feed leg for a cancel: sent at 20, at the exchange at 25, which we see as 29: prints seen before 29 fill us
    "latency: feed, cancel": Scenario((
        (0, Book(99_999, 0.5, 100_001, 1.0)),
        (0, Order(1, BUY, 99_995, 0.3)),
        (20, Cancel(1)),
        (28.999, Print(SELL, 99_990, 0.1)),
        (29, Print(SELL, 99_990, 0.1)),
    ), fills=((1, 0.1, 99_995, MAKER, 24.999, 28.999),), feed_ms=4),
}


def run(scenario: Scenario) -> tuple[list[Fill], Harness]:
    h = Harness(scenario.config())
    for at_ms, step in scenario.steps:
        h.at(at_ms)
        if isinstance(step, Book):
            h.book(step.bid, step.ask, step.bid_amount, step.ask_amount)
        elif isinstance(step, Order):
            (h.buy if step.side is BUY else h.sell)(step.coid, step.price, step.amount, post_only=False)
        elif isinstance(step, Cancel):
            h.cancel(step.coid)
        else:
            h.trade(step.price, step.amount, step.aggressor, lag_ms=step.lag_ms)
    h.at(scenario.end_ms)
    fills: list[Fill] = [
        (e.client_order_id or 0, f.amount, f.price, f.maker_taker, (f.ts_exchange_ns - T0) / MS,
         (e.ts_local_ns - T0) / MS)
        for e in h.events if isinstance(e, OrderUpdate) for f in e.fills
    ]
    return fills, h


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario = SCENARIOS[name]
    fills, h = run(scenario)
    assert fills == list(scenario.fills)
    check_update_stream(h.events, 0.001)

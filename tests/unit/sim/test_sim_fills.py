"""SimMatchEngine fills: pessimistic queue model, slippage, latency races, and properties over random scripts."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from sim_harness import MS, Harness, check_update_stream, fills_by_exchange_time

from thalex_modular.platform.domain.entities import BookTop, OrderUpdate
from thalex_modular.platform.domain.enums import ChangeReason, DeleteReason, MakerTaker, OrderStatus, Side
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.sim.config import SimMatchConfig

LOT = 0.001


def _resting_bid(h: Harness, price: float = 99_999.0, amount: float = 0.3, displayed: float = 0.5) -> None:
    h.book(99_999.0, 100_001.0, bid_amount=displayed)
    h.buy(1, price, amount)
    h.at(12)


def test_trade_at_our_price_fills_only_after_the_queue_ahead() -> None:
    # Arrange: we join the best bid behind 0.5 displayed
    h = Harness()
    _resting_bid(h)
    # Act / Assert
    h.trade(99_999.0, 0.4, Side.SELL)
    h.at(20)
    assert h.filled(1) == 0.0
    h.trade(99_999.0, 0.3, Side.SELL)  # 0.1 ahead consumed, 0.2 to us
    h.at(30)
    last = h.updates(1)[-1]
    (fill,) = last.fills
    assert (fill.price, fill.amount, fill.maker_taker) == (99_999.0, 0.2, MakerTaker.MAKER)
    assert (last.status, last.change_reason, last.filled_amount, last.remaining_amount) == (
        OrderStatus.PARTIALLY_FILLED, ChangeReason.FILL, 0.2, 0.1)


def test_a_touch_is_not_a_fill_but_a_cross_is() -> None:
    # Arrange: our bid at 99 995 behind the best bid
    h = Harness()
    _resting_bid(h, price=99_995.0)
    # Act: our own side comes to our price and leaves it (a touch), no print
    h.book(99_995.0, 100_001.0, bid_amount=0.4)
    h.book(99_990.0, 100_001.0)
    h.at(30)
    # Assert
    assert [u.change_reason for u in h.updates(1)] == [ChangeReason.INSERT]
    # Act: the ask comes down to our bid (0.1 there), then through it (0.05 more): sellers we would have met first
    h.book(99_990.0, 99_995.0, ask_amount=0.1)
    h.book(99_990.0, 99_994.0, ask_amount=0.05)
    h.at(50)
    # Assert: filled at our limit, as the maker, up to the sizes that crossed
    fills = [f for u in h.updates(1) for f in u.fills]
    assert [(f.price, f.amount, f.maker_taker) for f in fills] == [
        (99_995.0, 0.1, MakerTaker.MAKER), (99_995.0, 0.05, MakerTaker.MAKER)]


def test_trades_on_our_side_do_not_fill_us() -> None:
    h = Harness()
    _resting_bid(h, price=99_995.0)
    h.trade(99_990.0, 1.0, Side.BUY)  # a buy aggressor lifts asks; our bid is not hit
    h.at(50)
    assert h.filled(1) == 0.0


def test_trade_through_by_slippage_fills_at_our_limit_bounded_by_trade_size() -> None:
    # Arrange: slippage 2 ticks; our bid at 99_995 behind the best bid (queue unknown)
    h = Harness(SimMatchConfig(order_entry_latency_ns=10 * MS, response_latency_ns=2 * MS, slippage_ticks=2,
                               feed_latency_ns=0))
    _resting_bid(h, price=99_995.0)
    # Act
    h.trade(99_994.0, 1.0, Side.SELL)  # through by 1 < 2 ticks, queue unknown: nothing
    h.trade(99_993.0, 0.1, Side.SELL)  # through by 2: fills 0.1 (the trade's size) at our limit
    h.at(50)
    # Assert
    fills = [f for u in h.updates(1) for f in u.fills]
    assert [(f.price, f.amount) for f in fills] == [(99_995.0, 0.1)]


def test_unknown_queue_is_learnt_when_the_level_becomes_the_best() -> None:
    # Arrange: bid behind the best: level size unknown
    h = Harness()
    _resting_bid(h, price=99_995.0)
    h.trade(99_995.0, 5.0, Side.SELL)
    assert h.filled(1) == 0.0
    # Act: the level shows as the best with 0.2 displayed: at most 0.2 ahead of us
    h.book(99_995.0, 100_001.0, bid_amount=0.2)
    h.trade(99_995.0, 0.25, Side.SELL)
    h.at(50)
    # Assert
    assert h.filled(1) == 0.05


def test_inside_the_spread_nobody_is_ahead() -> None:
    h = Harness()
    _resting_bid(h, price=100_000.0)
    h.trade(100_000.0, 0.1, Side.SELL)
    h.at(50)
    assert h.filled(1) == 0.1


def test_one_trade_is_shared_once_across_our_orders_in_price_time_priority() -> None:
    # Arrange: two bids inside the spread (nothing ahead), one better priced
    h = Harness()
    h.book(99_990.0, 100_001.0)
    h.buy(1, 99_995.0, 0.3)
    h.buy(2, 99_996.0, 0.3)
    h.at(12)
    # Act: a sell sweeping through both, 0.4 in total
    h.trade(99_994.0, 0.4, Side.SELL)
    h.at(50)
    # Assert
    assert (h.filled(2), h.filled(1)) == (0.3, 0.1)


def test_insert_is_not_live_before_entry_latency() -> None:
    # Arrange
    h = Harness()
    h.book(99_990.0, 100_001.0)
    h.buy(1, 99_995.0, 0.3)
    # Act: a crossing trade 9.999 ms after submit, before the order reaches the exchange
    h.at(9.999)
    h.trade(99_990.0, 1.0, Side.SELL)
    h.at(10)
    h.trade(99_990.0, 0.1, Side.SELL)
    h.at(50)
    # Assert: only the second trade fills
    assert h.filled(1) == 0.1
    assert sum(f.amount for u in h.updates(1) for f in u.fills) == 0.1


def test_cancel_in_flight_can_still_be_filled_and_events_keep_their_order() -> None:
    # Arrange
    h = Harness()
    _resting_bid(h, price=99_995.0, amount=0.3)
    # Act: cancel sent at 20 ms (arrives 25 ms); a through-trade at 22 ms fills part of the order first
    h.at(20)
    h.cancel(1)
    h.at(22)
    h.trade(99_990.0, 0.1, Side.SELL)
    h.at(40)
    # Assert
    ups = h.updates(1)
    assert [(u.change_reason, u.status) for u in ups] == [
        (ChangeReason.INSERT, OrderStatus.OPEN),
        (ChangeReason.FILL, OrderStatus.PARTIALLY_FILLED),
        (ChangeReason.CANCEL, OrderStatus.CANCELLED_PARTIALLY_FILLED),
    ]
    assert ups[-1].filled_amount == 0.1 and ups[-1].delete_reason is DeleteReason.CLIENT_CANCEL
    check_update_stream(h.events, LOT)


def test_cancel_in_flight_of_an_order_filled_meanwhile_is_order_not_found() -> None:
    h = Harness()
    _resting_bid(h, price=99_995.0, amount=0.3)
    h.at(20)
    h.cancel(1)
    h.at(22)
    h.trade(99_990.0, 1.0, Side.SELL)
    h.at(40)
    assert h.updates(1)[-1].status is OrderStatus.FILLED
    assert isinstance(h.events[-1], RequestRejected) and h.events[-1].code == 1


def test_fills_arrive_after_the_response_latency() -> None:
    h = Harness()
    _resting_bid(h, price=100_000.0)
    h.at(30)
    assert h.trade(100_000.0, 0.1, Side.SELL) == []
    (fill,) = h.at(32)
    assert isinstance(fill, OrderUpdate) and fill.change_reason is ChangeReason.FILL
    assert fill.ts_local_ns - fill.ts_exchange_ns == 2 * MS


# -- properties --------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    displayed=st.integers(0, 50),
    ours=st.integers(1, 30),
    trades=st.lists(st.integers(1, 40), min_size=1, max_size=8),
)
def test_queue_ahead_is_consumed_before_we_fill(displayed: int, ours: int, trades: list[int]) -> None:
    # Arrange: join the best bid behind `displayed` lots
    h = Harness(SimMatchConfig(order_entry_latency_ns=MS, response_latency_ns=0, feed_latency_ns=0))
    h.book(99_999.0, 100_001.0, bid_amount=displayed * LOT)
    h.buy(1, 99_999.0, ours * LOT)
    h.at(1)
    traded = 0
    for i, lots in enumerate(trades):
        # Act
        h.at(2 + i)
        h.trade(99_999.0, lots * LOT, Side.SELL)
        traded += lots
        # Assert: exactly what is left after the queue ahead, never more than our amount
        expected = min(ours, max(0, traded - displayed))
        assert round(h.filled(1) / LOT) == expected


_PRICES = st.integers(95, 105)  # ticks offset around 99_900


# trades are drawn more often than the rest so that most scripts fill something
_STEP_KINDS = ["book", "trade", "trade", "trade", "buy", "buy", "sell", "sell", "amend", "cancel", "wait"]


@st.composite
def _scripts(draw: st.DrawFn) -> list[tuple[object, ...]]:
    steps = draw(st.lists(st.sampled_from(_STEP_KINDS),
                          min_size=15, max_size=50))
    out: list[tuple[object, ...]] = []
    for step in steps:
        if step == "book":
            bid = draw(_PRICES)
            out.append((step, bid, bid + draw(st.integers(1, 4)), draw(st.integers(0, 20)), draw(st.integers(0, 20))))
        elif step == "trade":
            out.append((step, draw(_PRICES), draw(st.integers(1, 30)), draw(st.sampled_from([Side.BUY, Side.SELL]))))
        elif step in ("buy", "sell"):
            out.append((step, draw(st.integers(1, 6)), draw(_PRICES), draw(st.integers(1, 20)), draw(st.booleans())))
        elif step == "amend":
            out.append((step, draw(st.integers(1, 6)), draw(_PRICES), draw(st.integers(1, 20))))
        elif step == "cancel":
            out.append((step, draw(st.integers(1, 6))))
        else:
            out.append((step, draw(st.integers(1, 15))))
    return out


def _price(offset: int) -> float:
    return 99_900.0 + offset


@settings(max_examples=150, deadline=None)
@given(script=_scripts(), feed_ms=st.sampled_from([0, 0, 2]))
def test_random_scripts_never_fill_better_than_limit_nor_more_than_traded_or_crossed(
    script: list[tuple[object, ...]], feed_ms: int
) -> None:
    h = Harness(SimMatchConfig(order_entry_latency_ns=3 * MS, cancel_latency_ns=2 * MS, response_latency_ns=1 * MS,
                               feed_latency_ns=feed_ms * MS))
    coids: dict[int, int] = {}  # slot -> live client_order_id
    next_coid = 1
    trades: list[tuple[int, int, float, Side]] = []  # (exchange ts, lots, price, aggressor)
    books: dict[int, tuple[float, int, float, int]] = {}  # exchange ts -> (bid, bid lots, ask, ask lots)
    t = 0.0
    for step in script:
        t += 0.5
        h.at(t)
        kind = step[0]
        if kind == "book":
            _, bid, ask, bid_lots, ask_lots = step
            h.book(_price(bid), _price(ask), bid_amount=bid_lots * LOT, ask_amount=ask_lots * LOT)  # type: ignore[operator,arg-type]
            books[h.clock.now_ns() - feed_ms * MS] = (_price(bid), bid_lots, _price(ask), ask_lots)  # type: ignore[arg-type]
        elif kind == "trade":
            _, px, lots, side = step
            h.trade(_price(px), lots * LOT, side)  # type: ignore[arg-type,operator]
            trades.append((h.clock.now_ns() - feed_ms * MS, lots, _price(px), side))  # type: ignore[arg-type]
        elif kind in ("buy", "sell"):
            _, slot, px, lots, post_only = step
            coids[slot] = next_coid  # type: ignore[index]
            submit = h.buy if kind == "buy" else h.sell
            submit(next_coid, _price(px), lots * LOT, post_only=post_only)  # type: ignore[arg-type,operator]
            next_coid += 1
        elif kind == "amend" and step[1] in coids:
            _, slot, px, lots = step
            h.amend(coids[slot], _price(px), lots * LOT)  # type: ignore[index,arg-type,operator]
        elif kind == "cancel" and step[1] in coids:
            h.cancel(coids[step[1]])  # type: ignore[index]
        elif kind == "wait":
            t += step[1]  # type: ignore[operator]
    h.at(t + 100)

    check_update_stream(h.events, LOT)
    by_trade = {ts: (lots, px, side) for ts, lots, px, side in trades}
    for e in h.updates():
        for f in e.fills:
            if f.maker_taker is MakerTaker.MAKER:
                # a maker fill is exactly at the order's limit, from a trade that reached that limit or a book whose
                # opposite best crossed it
                assert f.price == e.price
                if f.ts_exchange_ns in books:
                    bid, _, ask, _ = books[f.ts_exchange_ns]
                    assert (ask <= f.price) if e.side is Side.BUY else (bid >= f.price)
                    continue
                lots, px, aggressor = by_trade[f.ts_exchange_ns]
                assert aggressor is e.side.opposite
                assert (px <= f.price) if e.side is Side.BUY else (px >= f.price)
            else:
                # a taker fill is at the displayed best, never worse than the limit
                assert e.price is not None
                assert (f.price <= e.price) if e.side is Side.BUY else (f.price >= e.price)
    for ts, filled in fills_by_exchange_time(h.events).items():
        if ts in books:  # a crossing level fills at most its displayed size
            bid, bid_lots, ask, ask_lots = books[ts]
            assert round(filled / LOT) <= bid_lots + ask_lots, "fills from one book exceed the sizes that crossed"
        else:
            assert round(filled / LOT) <= by_trade[ts][0], "fills from one trade exceed its size"
    assert h.engine.pending_count() == 0


def test_book_top_sets_the_queue_like_a_ticker() -> None:
    # Arrange: the best bid shows 0.2 through a BookTop
    h = Harness()
    now = h.clock.now_ns()
    h.engine.on_book_top(BookTop("BTC-PERPETUAL", 99_999.0, 0.2, 100_001.0, 0.4, now, now))
    h.buy(1, 99_999.0, 0.1)
    h.at(12)
    # Act
    h.trade(99_999.0, 0.25, Side.SELL)
    h.at(20)
    # Assert: 0.2 ahead consumed, 0.05 to us
    assert h.filled(1) == 0.05

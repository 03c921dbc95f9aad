"""SimMatchEngine: a pessimistic simulated exchange for OUR orders, driven by public market data.

Used in shadow mode (live public data) and backtests (history). It answers exactly as Thalex would, with
:class:`~.entities.OrderUpdate` (Thalex ``OrderStatus``) events and typed :class:`~.sim.results.RequestRejected`
errors, so the StateTracker cannot tell it from the exchange (LESSONS 19).

Timing (STYLE 15, hftbacktest latency model; docs/simulator.md states every rule). Market data happened at the
exchange ``feed`` ns before we see it (:attr:`SimMatchEngine.feed_latency_ns`: the configured delay or the one
measured on public trades' two stamps, whichever is larger). The engine runs on the time we see data at
(``clock.now_ns()``), so a request sent at ``t``:

* reaches the exchange at ``t + latency``, which the engine meets at ``t + latency + feed``: inserts and amends
  after ``order_entry_latency_ns``, cancels after ``cancel_latency_ns``; requests arriving at the same instant are
  handled in submission order;
* is answered (ack, fill, error) ``response_latency_ns`` after the exchange produced it, but never before the
  engine has seen the market data that produced it: an answer made at engine time ``x`` (exchange time
  ``x - feed``, the ``ts_exchange_ns`` it carries) reaches us at ``x + max(0, response - feed)``;
* market data (``on_ticker``, ``on_book_top``, ``on_trade``) is fed when seen: the driver advances the clock first.
  Requests that reached the exchange before the data happened are handled first.

Deterministic (no randomness); memory is bounded by the open orders and undelivered answers (closed orders are
dropped at once).
"""

from __future__ import annotations

import heapq
import zlib

from .clock import Clock
from .entities import BookTop, Fill, Instrument, OrderFill, OrderUpdate, Ticker, Trade
from .enums import ChangeReason, DeleteReason, MakerTaker, OrderStatus, OrderType, Side, TimeInForce
from .errors import InvalidValue
from .events import RequestRejected
from .requests import AmendOrder, CancelOrder, InsertOrder, OrderRequest
from .sim.config import SimMatchConfig
from .sim.queue import TopOfBook, allocate_cross, allocate_trade, cap_queue, join_queue
from .sim.results import ORDER_NOT_FOUND, SimEvent
from .sim.sim_order import SimOrder
from .sim.validation import check_amount, check_insert, check_price

_BPS = 1e-4  # one basis point as a fraction
FEED_SAMPLE_MAX_NS = 1_000_000_000  # a trade stamped more than 1 s (or less than 0) before we saw it is not a sample
FEED_EWMA_SHIFT = 4  # the measured feed delay moves 1/16 of the way to each new sample


class SimMatchEngine:
    """The simulated exchange for one instrument.

    Args:
        instrument: the one instrument this engine matches (tick and lot grid, min_order_amount).
        clock: the time source; ``submit`` and the ``on_*`` methods read ``clock.now_ns()`` (int ns).
        config: latencies (ns), slippage (ticks) and fees (bps).

    Times are the engine's: when we see market data (``clock.now_ns()``); see the module docstring.

    Every method returning ``list[SimEvent]`` returns the answers that have reached us by then, in the
    order they arrive: :class:`OrderUpdate` or :class:`RequestRejected`.
    """

    def __init__(self, instrument: Instrument, clock: Clock, config: SimMatchConfig | None = None) -> None:
        self._instrument = instrument
        self._clock = clock
        self._config = config or SimMatchConfig()
        self._pending: list[tuple[int, int, OrderRequest]] = []  # (arrival ns, seq, request)
        self._outbox: list[tuple[int, int, SimEvent]] = []  # (due ns, seq, answer)
        self._orders: dict[str, SimOrder] = {}  # resting orders by order_id
        self._by_client_id: dict[int, str] = {}  # client_order_id -> order_id of resting orders
        self._top: TopOfBook | None = None
        # per side of our orders: (opposite best ticks, lots of it already used to fill us) while it crosses them
        self._cross_taken: dict[Side, tuple[int, int]] = {}
        self._measured_feed_ns: int | None = None  # EWMA of public trades' ts_local_ns - ts_exchange_ns
        self._now_ns = clock.now_ns()  # engine time processed so far
        self._seq = 0
        self._order_seq = 0
        self._trade_seq = 0
        self._priority = 0
        self._id_salt = zlib.crc32(instrument.instrument_name.encode())

    # -- public API ---------------------------------------------------------------------------------------

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @property
    def config(self) -> SimMatchConfig:
        return self._config

    @property
    def feed_latency_ns(self) -> int:
        """The public feed's delay in use (ns): the configured one, or the one measured on public trades when larger."""
        configured = self._config.feed_latency_ns
        measured = self._measured_feed_ns
        return configured if measured is None or measured < configured else measured

    def submit(self, request: OrderRequest) -> None:
        """Send a request at ``clock.now_ns()``; it reaches the exchange after the entry (or cancel) latency, which
        the engine meets one feed delay later."""
        latency = (
            self._config.cancel_latency_ns if isinstance(request, CancelOrder) else self._config.order_entry_latency_ns
        )
        arrival = self._clock.now_ns() + latency + self.feed_latency_ns
        heapq.heappush(self._pending, (arrival, self._next_seq(), request))

    def advance(self, now_ns: int | None = None) -> list[SimEvent]:
        """Handle every request that has reached the exchange by ``now_ns`` (default ``clock.now_ns()``, int ns)
        and return the answers that have reached us by then.

        Raises:
            InvalidValue: ``now_ns`` is earlier than a time already processed.
        """
        now = self._clock.now_ns() if now_ns is None else now_ns
        if now < self._now_ns:
            raise InvalidValue(
                f"SimMatchEngine.advance: now_ns must be >= {self._now_ns} (already processed), was {now}"
            )
        self._process_arrivals(now)
        self._now_ns = now
        return self._deliver(now)

    def on_ticker(self, ticker: Ticker) -> list[SimEvent]:
        """A new ticker (a full state) seen at ``clock.now_ns()``: refreshes the top of book used for post-only,
        taker fills and queue estimates, and fills resting orders its opposite best crossed (a touch of our own
        side is not a fill). A side without a displayed amount has an unknown size, never 0.
        """
        self._check_instrument("Ticker", ticker.instrument_name)
        now = self._start_event()
        self._set_top(ticker.best_bid_price, ticker.best_bid_amount, ticker.best_ask_price, ticker.best_ask_amount)
        self._fill_crossed(now)
        return self._deliver(now)

    def on_book_top(self, top: BookTop) -> list[SimEvent]:
        """A new best bid/ask seen at ``clock.now_ns()``; same effect as :meth:`on_ticker`."""
        self._check_instrument("BookTop", top.instrument_name)
        now = self._start_event()
        self._set_top(top.bid_price, top.bid_amount, top.ask_price, top.ask_amount)
        self._fill_crossed(now)
        return self._deliver(now)

    def on_trade(self, trade: Trade) -> list[SimEvent]:
        """A public trade seen at ``clock.now_ns()``: may fill resting orders on the side its aggressor hit. Its two
        stamps are a sample of the feed's delay."""
        self._check_instrument("Trade", trade.instrument_name)
        self._measure_feed(trade.ts_local_ns - trade.ts_exchange_ns)
        now = self._start_event()
        inst = self._instrument
        hit = trade.taker_side.opposite  # our orders on this side can be filled
        # Off-grid prints are rounded against us: away from our resting orders' limits.
        trade_ticks = inst.ask_ticks(trade.price) if hit is Side.BUY else inst.bid_ticks(trade.price)
        trade_lots = inst.lots_floor(trade.amount)
        resting = [o for o in self._orders.values() if o.side is hit]
        self._maker_fills(allocate_trade(resting, trade_ticks, trade_lots, self._config.slippage_ticks), now)
        return self._deliver(now)

    def fee_for(self, fill: OrderFill) -> float:
        """Fee of one fill in USD (positive = paid): notional x maker or taker bps. OrderFill has no fee field
        in Thalex, so the owner attaches this to its :class:`~.entities.Fill`.
        """
        bps = self._config.maker_fee_bps if fill.maker_taker is MakerTaker.MAKER else self._config.taker_fee_bps
        return fill.price * fill.amount * bps * _BPS

    def booked_trades(self, update: OrderUpdate) -> list[Fill]:
        """The exchange's trade records of ``update``'s fills, each with its fee (USD, positive = paid): what
        Thalex reports in ``account.trade_history`` after the order update, which carries no fees. The owner books
        them with :meth:`StateTracker.on_trade_fee`, as live mode books the exchange's."""
        return [
            Fill(fill.trade_id, update.order_id, update.client_order_id, update.instrument_name, update.side,
                 fill.price, fill.amount, fill.maker_taker, fill.ts_exchange_ns, update.ts_local_ns,
                 self.fee_for(fill))
            for fill in update.fills
        ]

    def open_order_count(self) -> int:
        """Orders resting on the simulated exchange now (requests still in flight not counted)."""
        return len(self._orders)

    def next_event_ns(self) -> int | None:
        """When the engine next has something to do: the earliest request reaching the exchange or answer reaching
        us (int ns), None when nothing is in flight. A driver on simulated time steps through these, so each
        answer is handled at its own time, not at the next market event."""
        pending, outbox = self._pending, self._outbox
        if pending and outbox:
            return min(pending[0][0], outbox[0][0])
        if pending:
            return pending[0][0]
        return outbox[0][0] if outbox else None

    def pending_count(self) -> int:
        """Requests in flight plus answers not yet delivered (both bounded by what was submitted)."""
        return len(self._pending) + len(self._outbox)

    # -- request handling (exchange side) -------------------------------------------------------------------

    def _process_arrivals(self, until_ns: int) -> None:
        while self._pending and self._pending[0][0] <= until_ns:
            arrival_ns, _, request = heapq.heappop(self._pending)
            at = max(arrival_ns, self._now_ns)
            self._now_ns = at
            if isinstance(request, InsertOrder):
                self._insert(request, at)
            elif isinstance(request, AmendOrder):
                self._amend(request, at)
            else:
                self._cancel(request, at)

    def _insert(self, req: InsertOrder, at: int) -> None:
        error = check_insert(req, self._instrument, self._by_client_id)
        if error is not None:
            self._reject(req, error[0], error[1], at)
            return
        inst = self._instrument
        is_market = req.order_type is OrderType.MARKET
        self._order_seq += 1
        order = SimOrder(
            order_id=f"{self._config.order_id_prefix}{self._id_salt:08X}{self._order_seq:08X}",
            client_order_id=req.client_order_id,
            instrument_name=req.instrument_name,
            side=req.side,
            order_type=req.order_type,
            time_in_force=req.time_in_force,
            post_only=req.post_only and not is_market,
            reject_post_only=req.reject_post_only,
            price_ticks=0 if is_market else inst.ticks_of(req.price),
            amount_lots=inst.lots_of(req.amount),
            label=req.label,
        )
        self._place(order, ChangeReason.INSERT, at)

    def _amend(self, req: AmendOrder, at: int) -> None:
        inst = self._instrument
        order = self._find(req.instrument_name, req.order_id, req.client_order_id)
        if order is None:
            self._reject(req, ORDER_NOT_FOUND, "order not found", at)
            return
        error = check_price(req.price, inst) or check_amount(req.amount, inst)
        if error is not None:
            self._reject(req, error[0], error[1], at)
            return
        new_ticks, new_lots = inst.ticks_of(req.price), inst.lots_of(req.amount)
        if new_lots <= order.filled_lots:
            # Thalex: an amend to at most the filled amount cancels the order (filled > 0 here, as new_lots >= min).
            order.amount_lots = order.filled_lots
            self._forget(order)
            self._emit_update(order, order.closed_status(), ChangeReason.AMEND, at, DeleteReason.CLIENT_CANCEL)
            return
        keeps_priority = new_ticks == order.price_ticks and new_lots <= order.amount_lots
        order.amount_lots = new_lots
        if keeps_priority:
            self._emit_update(order, order.live_status(), ChangeReason.AMEND, at)
            return
        self._forget(order)
        order.price_ticks = new_ticks
        self._place(order, ChangeReason.AMEND, at)

    def _cancel(self, req: CancelOrder, at: int) -> None:
        order = self._find(req.instrument_name, req.order_id, req.client_order_id)
        if order is None:
            self._reject(req, ORDER_NOT_FOUND, "order not found", at)
            return
        self._forget(order)
        self._emit_update(order, order.closed_status(), ChangeReason.CANCEL, at, DeleteReason.CLIENT_CANCEL)

    def _place(self, order: SimOrder, reason: ChangeReason, at: int) -> None:
        """Put a new (or re-priced) order on the book: post-only check, taker fills, then rest or cancel."""
        top = self._top
        opposite = order.side.opposite
        opp_ticks, opp_lots = top.best(opposite) if top is not None else (None, 0)
        is_market = order.order_type is OrderType.MARKET
        crosses = opp_ticks is not None and (is_market or _crosses(order.side, order.price_ticks, opp_ticks))
        if order.post_only and crosses:
            assert opp_ticks is not None
            if order.reject_post_only:
                self._emit_update(order, order.closed_status(), reason, at, DeleteReason.IMMEDIATE_CANCEL)
                return
            adjusted = opp_ticks - 1 if order.side is Side.BUY else opp_ticks + 1
            if adjusted <= 0:  # a bid can't move below the first tick: cancelled, reported at its own price
                self._emit_update(order, order.closed_status(), reason, at, DeleteReason.IMMEDIATE_CANCEL)
                return
            order.price_ticks = adjusted
            crosses = False
        fills: tuple[OrderFill, ...] = ()
        if crosses and top is not None and opp_ticks is not None:
            if opp_lots is None:  # size unknown: the whole order, at the worst price it accepts
                lots, price_ticks = order.remaining_lots, opp_ticks if is_market else order.price_ticks
            else:
                lots, price_ticks = min(order.remaining_lots, opp_lots), opp_ticks
            if lots > 0:
                top.consume(opposite, lots)
                self._note_taken(order.side, opp_ticks, lots)
                fills = (self._fill(order, price_ticks, lots, MakerTaker.TAKER, at),)
        if order.remaining_lots == 0:
            self._emit_update(order, order.live_status(), reason, at, DeleteReason.FILLED, fills)
            return
        if is_market or order.time_in_force is TimeInForce.IOC:
            self._emit_update(order, order.closed_status(), reason, at, DeleteReason.IMMEDIATE_CANCEL, fills)
            return
        self._priority += 1
        order.priority = self._priority
        order.queue_ahead_lots = join_queue(top, order.side, order.price_ticks)
        self._orders[order.order_id] = order
        self._by_client_id[order.client_order_id] = order.order_id
        self._emit_update(order, order.live_status(), reason, at, None, fills)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _start_event(self) -> int:
        """Bring the exchange to ``clock.now_ns()`` before a market event; return that time."""
        now = self._clock.now_ns()
        if now < self._now_ns:
            raise InvalidValue(f"SimMatchEngine: clock.now_ns() {now} is before the time already processed "
                               f"{self._now_ns}")
        self._process_arrivals(now)
        self._now_ns = now
        return now

    def _measure_feed(self, delay_ns: int) -> None:
        if 0 <= delay_ns <= FEED_SAMPLE_MAX_NS:
            measured = self._measured_feed_ns
            self._measured_feed_ns = (
                delay_ns if measured is None else measured + ((delay_ns - measured) >> FEED_EWMA_SHIFT)
            )

    def _set_top(
        self, bid: float | None, bid_amount: float | None, ask: float | None, ask_amount: float | None
    ) -> None:
        inst = self._instrument
        top = TopOfBook(
            bid_ticks=None if bid is None else inst.bid_ticks(bid),
            bid_lots=None if bid_amount is None else inst.lots_floor(bid_amount),
            ask_ticks=None if ask is None else inst.ask_ticks(ask),
            ask_lots=None if ask_amount is None else inst.lots_floor(ask_amount),
        )
        self._top = top
        for order in self._orders.values():
            cap_queue(order, top)

    def _fill_crossed(self, at: int) -> None:
        """Fill the resting orders the new top of book crossed, at their limits, from the part of the crossing level
        not used before (a level still shown by the next update is the same resting orders)."""
        top = self._top
        assert top is not None
        for side in (Side.BUY, Side.SELL):
            opp_ticks, opp_lots = top.best(side.opposite)
            if opp_ticks is None:
                self._cross_taken.pop(side, None)
                continue
            taken = self._note_taken(side, opp_ticks, 0)
            crossed = None if opp_lots is None else max(0, opp_lots - taken)
            resting = [o for o in self._orders.values() if o.side is side]
            fills = allocate_cross(resting, opp_ticks, crossed) if resting else []
            for _, lots in fills:
                self._note_taken(side, opp_ticks, lots)
                top.consume(side.opposite, lots)
            self._maker_fills(fills, at)

    def _note_taken(self, side: Side, opposite_ticks: int, lots: int) -> int:
        """Add ``lots`` to what our ``side`` took from the opposite level at ``opposite_ticks`` (a new level starts
        from 0); return the total taken from it."""
        taken_ticks, taken = self._cross_taken.get(side, (opposite_ticks, 0))
        total = (taken if taken_ticks == opposite_ticks else 0) + lots
        self._cross_taken[side] = (opposite_ticks, total)
        return total

    def _maker_fills(self, fills: list[tuple[SimOrder, int]], at: int) -> None:
        for order, lots in fills:
            fill = self._fill(order, order.price_ticks, lots, MakerTaker.MAKER, at)
            done = order.remaining_lots == 0
            if done:
                self._forget(order)
            self._emit_update(order, order.live_status(), ChangeReason.FILL, at,
                              DeleteReason.FILLED if done else None, (fill,))

    def _find(self, instrument_name: str, order_id: str | None, client_order_id: int) -> SimOrder | None:
        if instrument_name != self._instrument.instrument_name:
            return None
        if order_id is None:
            found = self._by_client_id.get(client_order_id)
            return None if found is None else self._orders.get(found)
        return self._orders.get(order_id)

    def _forget(self, order: SimOrder) -> None:
        self._orders.pop(order.order_id, None)
        if self._by_client_id.get(order.client_order_id) == order.order_id:
            del self._by_client_id[order.client_order_id]

    def _fill(self, order: SimOrder, price_ticks: int, lots: int, maker_taker: MakerTaker, at: int) -> OrderFill:
        order.filled_lots += lots
        self._trade_seq += 1
        return OrderFill(
            trade_id=f"{self._id_salt:08x}{self._trade_seq:024x}",
            price=self._instrument.price(price_ticks),
            amount=self._instrument.amount(lots),
            maker_taker=maker_taker,
            ts_exchange_ns=at - self.feed_latency_ns,
        )

    def _emit_update(
        self,
        order: SimOrder,
        status: OrderStatus,
        reason: ChangeReason,
        at: int,
        delete_reason: DeleteReason | None = None,
        fills: tuple[OrderFill, ...] = (),
    ) -> None:
        feed = self.feed_latency_ns
        due = self._due(at, feed)
        self._emit(order.to_update(self._instrument, status, reason, at - feed, due, delete_reason, fills), due)

    def _due(self, at: int, feed: int) -> int:
        """When an answer made at engine time ``at`` reaches us: response latency after the exchange made it
        (``at - feed``), but not before the engine knew it."""
        return at + max(0, self._config.response_latency_ns - feed)

    def _emit(self, event: SimEvent, due: int) -> None:
        heapq.heappush(self._outbox, (due, self._next_seq(), event))

    def _reject(self, req: OrderRequest, code: int, message: str, at: int) -> None:
        feed = self.feed_latency_ns
        due = self._due(at, feed)
        self._emit(RequestRejected(req.client_order_id, code, message, req, at - feed, due), due)

    def _deliver(self, now: int) -> list[SimEvent]:
        out: list[SimEvent] = []
        while self._outbox and self._outbox[0][0] <= now:
            out.append(heapq.heappop(self._outbox)[2])
        return out

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _check_instrument(self, what: str, name: str) -> None:
        if name != self._instrument.instrument_name:
            raise InvalidValue(
                f"SimMatchEngine({self._instrument.instrument_name}): {what}.instrument_name must match, was {name!r}"
            )


def _crosses(side: Side, price_ticks: int, opposite_best_ticks: int) -> bool:
    """A buy at or above the best ask (a sell at or below the best bid) would trade on arrival."""
    return price_ticks >= opposite_best_ticks if side is Side.BUY else price_ticks <= opposite_best_ticks

"""The reference driver: history replayed through SimSession, i.e. the objects shadow mode runs (QuotingCore,
StateTracker, RiskCheck, OrderReconciler, SimMatchEngine) on a simulated clock with the latency model.

Each event is seen (the clock the session runs on) when it was received, where the data has a receive time, else
``feed_latency_ns`` after its exchange time (``events.seen_times``). The simulator is shadow mode's: its feed leg is
the configured one, or the delay it measures on the public trades' two stamps when larger.
Deterministic for a seed: the only random choice is the aggressor of a trade the data gives no side for and that
printed exactly at the mid (others take the side of the mid they are on).
"""

from __future__ import annotations

import math
import random
from typing import Final

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.entities import Fill, Ticker, Trade
from thalex_modular.platform.domain.enums import MakerTaker, OrderStatus, Side
from thalex_modular.platform.domain.requests import AmendOrder, InsertOrder, OrderRequest
from thalex_modular.platform.use_cases.sim_session import SimSession, build_sim_session

from .config import BacktestConfig
from .events import QUOTE
from .recorder import BacktestRecorder, RestingQuotes, columns_table, sample_interval_for, typed_columns

#: Request kinds in the request log.
INSERT: Final = 0
AMEND: Final = 1
CANCEL: Final = 2
REQUEST_DTYPE: Final = np.dtype(
    [("ts_ns", "i8"), ("kind", "i1"), ("side", "i1"), ("client_order_id", "i8"), ("price", "f8"), ("amount", "f8")]
)
_RESTING: Final = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


def _positive_or_none(value: float) -> float | None:
    return value if value > 0.0 else None  # NaN compares False: None


def _amount_or_none(price: float | None, amount: float) -> float | None:
    return amount if price is not None and amount >= 0.0 else None


class ReferenceDriver:
    """Replays ``EVENT_DTYPE`` chunks through a :class:`SimSession`; :attr:`recorder` holds what it saw, and
    with ``record_requests`` every request sent."""

    def __init__(self, config: BacktestConfig, seed: int, feed_latency_ns: int | None = None,
                 record_requests: bool = False) -> None:
        self.config = config
        self.record_requests = record_requests
        self.feed_latency_ns = config.sim.feed_latency_ns if feed_latency_ns is None else feed_latency_ns
        history = config.history
        self.session: SimSession = build_sim_session(
            config.instrument, history.start_ns, config.params, config.sim,
            on_booked=self._on_booked, on_request=self._on_request,
        )
        self.session.core.warm_up()  # compile (or load) the kernels now, not inside the timed replay
        self.recorder = BacktestRecorder(sample_interval_for(history.start_ns, history.end_ns), history.start_ns)
        self._rng = random.Random(seed)
        self._name = config.instrument.instrument_name
        self.mid = math.nan
        self.mark = math.nan
        self.events = 0
        self.skipped = 0
        self.offered_amount = 0.0
        self._offered: dict[int, float] = {}
        self.request_counts = [0, 0, 0]  # inserts, amends, cancels
        self._requests = typed_columns(REQUEST_DTYPE)

    def replay(self, chunk: npt.NDArray[np.void], seen_ns: npt.NDArray[np.int64]) -> None:
        """Feed one chunk of events, in order, each at the time it is seen (``events.seen_times``)."""
        session, recorder, name = self.session, self.recorder, self._name
        rows = chunk[["ts_ns", "kind", "side", "bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price",
                      "price", "amount"]].tolist()  # funding: runner.py
        for (ts, kind, side, bp, ba, ap, aa, mk, px, amt), now in zip(rows, seen_ns.tolist(), strict=True):
            if recorder.due(now):
                self._sample(now)
            recorder.observe(now, self.mid)
            self.events += 1
            if kind == QUOTE:
                bid, ask = _positive_or_none(bp), _positive_or_none(ap)
                mark = mk if mk > 0.0 else (0.5 * (bid + ask) if bid and ask else bid or ask)
                if mark is None:
                    self.skipped += 1
                    continue
                self.mid = 0.5 * (bid + ask) if bid and ask else mark
                self.mark = mark
                session.on_ticker(Ticker(
                    name, mark, ts, now, best_bid_price=bid, best_bid_amount=_amount_or_none(bid, ba),
                    best_ask_price=ask, best_ask_amount=_amount_or_none(ask, aa),
                ))
            else:
                if not (px > 0.0 and amt > 0.0):
                    self.skipped += 1
                    continue
                session.on_trade(Trade(name, px, amt, self._taker(side, px), ts, now))

    def deliver_in_flight(self) -> None:
        """After the last event: every request still in flight and answer still due, each at its own time (a fill
        the exchange made before the range ended is ours even if its answer reaches us after it)."""
        self.session.deliver_in_flight()

    def _taker(self, side: int, price: float) -> Side:
        """The aggressor: the data's, else the side of the mid the print is on (a coin flip exactly at it)."""
        if side:
            return Side.BUY if side > 0 else Side.SELL
        if price != self.mid and self.mid == self.mid:
            return Side.BUY if price > self.mid else Side.SELL
        return Side.BUY if self._rng.random() < 0.5 else Side.SELL

    def _sample(self, now: int) -> None:
        if self.mid != self.mid:
            self.recorder.skip_to(now)
            return
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        open_ids = set()
        for order in self.session.core.tracker.open_orders(self._name):
            open_ids.add(order.client_order_id)
            if order.status in _RESTING:
                (bids if order.side is Side.BUY else asks).append((order.price, order.remaining_amount))
        self.recorder.sample(now, self.mid, self.mark, RestingQuotes(bids, asks))
        if len(self._offered) > len(open_ids):  # forget orders that are gone (filled): memory bounded by open orders
            self._offered = {cid: amount for cid, amount in self._offered.items() if cid in open_ids}

    def _on_booked(self, fill: Fill) -> None:
        self.recorder.on_fill(fill.ts_local_ns, fill.side.sign, fill.maker_taker is MakerTaker.MAKER, fill.price,
                              fill.amount, fill.fee, self.mid)

    def _on_request(self, request: OrderRequest) -> None:
        cid = request.client_order_id
        if isinstance(request, InsertOrder):
            row = (INSERT, request.side.sign, request.price, request.amount)
            self._offer(cid, request.amount)
        elif isinstance(request, AmendOrder):
            row = (AMEND, 0, request.price, request.amount)
            self._offer(cid, request.amount)
        else:
            row = (CANCEL, 0, math.nan, math.nan)
            self._offered.pop(cid, None)
        self.request_counts[row[0]] += 1
        if not self.record_requests:
            return
        for column, value in zip(self._requests, (self.session.clock.now_ns(), row[0], row[1],
                                                  request.client_order_id, row[2], row[3]), strict=True):
            column.append(value)

    def _offer(self, client_order_id: int, amount: float) -> None:
        """Count what an order offers: its amount, plus what an amend adds (Thalex: the new total incl. fills)."""
        before = self._offered.get(client_order_id, 0.0)
        if amount > before:
            self.offered_amount += amount - before
            self._offered[client_order_id] = amount

    # -- what the run gives (the interface BacktestRun reads from either driver) ----------------------------------

    @property
    def sample_interval_ns(self) -> int:
        return self.recorder.sample_interval_ns

    @property
    def denials(self) -> int:
        return self.session.stats.denials

    @property
    def position(self) -> float:
        """The tracker's position at the end, underlying."""
        return self.session.core.tracker.position_amount(self._name)

    @property
    def spread_capture_usd(self) -> float:
        return self.recorder.spread_capture_usd

    @property
    def fees_usd(self) -> float:
        return self.recorder.fees_usd

    def equity_usd(self, mark: float) -> float:
        return self.recorder.equity_usd(mark)

    def fills(self) -> npt.NDArray[np.void]:
        return self.recorder.fills()

    @property
    def fill_count(self) -> int:
        return self.recorder.fill_count

    @property
    def sample_count(self) -> int:
        return self.recorder.sample_count

    def fill_flows(self, start: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Fills from the ``start``-th on: time reached us (ns), signed amount (+ bought)."""
        return self.recorder.fill_flows(start)

    def sample_times(self, start: int) -> npt.NDArray[np.int64]:
        return self.recorder.sample_times(start)

    def samples(self) -> npt.NDArray[np.void]:
        return self.recorder.samples()

    def requests(self) -> npt.NDArray[np.void]:
        """Every request sent, in order (``REQUEST_DTYPE``); empty unless ``record_requests`` (the log grows with
        the replay: parity tests keep it, long runs do not)."""
        return columns_table(REQUEST_DTYPE, self._requests)

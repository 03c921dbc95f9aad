"""Ports the QuotingService talks to. Adapters implement them: the Thalex websocket adapter (live orders,
market data), the simulated gateway around SimMatchEngine (shadow, backtest).

Answers and market data are *pushed* to sinks the service registers, never polled: the websocket reader hands
each decoded message to a sink without awaiting anything (LESSONS 14).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from thalex_modular.platform.domain.entities import Fill, OrderUpdate, PortfolioEntry, Ticker, Trade
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import OrderRequest

GatewayAnswer = OrderUpdate | RequestRejected
"""What an order gateway answers: an order's new state (Thalex OrderStatus) or a typed refusal."""

AnswerSink = Callable[[GatewayAnswer], None]


class OrderGateway(Protocol):
    """Where our orders go. Required methods:

    ============================  ===========================================================================
    ``set_answer_sink(sink)``     every OrderUpdate / RequestRejected for our orders goes to ``sink``, in order
    ``submit(request)``           send one insert / amend / cancel; returns once it is sent (or refused locally
                                  by the rate limiter: then a RequestRejected with code 4 reaches the sink)
    ``submit_now(request)``       ``submit`` without waiting: True when done, False when it would have to wait
                                  (nothing done; the caller awaits ``submit``). The order path's usual call.
    ``cancel_all()``              cancel every order of ours (shutdown, kill switch), never another's;
                                  returns the number cancelled
    ``open_orders()``             the exchange's view of our open orders, only ours (resync)
    ``portfolio()``               the exchange's positions (resync)
    ``ready``                     order-bearing requests may leave now (connected, logged in, resynced)
    ``request_budget()``          how many inserts and amends the rate limiter allows now (cancels have their own)
    ============================  ===========================================================================
    """

    @property
    def ready(self) -> bool: ...

    def request_budget(self) -> int: ...

    def set_answer_sink(self, sink: AnswerSink) -> None: ...

    async def submit(self, request: OrderRequest) -> None: ...

    def submit_now(self, request: OrderRequest) -> bool: ...

    async def cancel_all(self) -> int: ...

    async def open_orders(self) -> Sequence[OrderUpdate]: ...

    async def portfolio(self) -> Sequence[PortfolioEntry]: ...


class MarketDataSink(Protocol):
    """Receives one instrument's market data, in arrival order, from a feed."""

    def on_ticker(self, ticker: Ticker) -> None: ...

    def on_trade(self, trade: Trade) -> None: ...

    def on_feed_down(self, reason: str) -> None:
        """The feed stopped (disconnect, unsubscribed, paused); quotes must come down until it is back."""
        ...


class SessionJournal(Protocol):
    """Where a live or shadow session's own activity is recorded (persistence). Required methods, each an append
    that never blocks and never raises into the caller (the tick path calls them):

    =====================  ===========================================================================
    ``order(update)``      one of our orders changed (insert, amend, cancel, fill; as the tracker took it)
    ``trade(fill)``        one of our trades as the exchange books it, with its fee (``account.trade_history``
                           live, the simulated exchange's trade history in shadow)
    =====================  ===========================================================================
    """

    def order(self, update: OrderUpdate) -> None: ...

    def trade(self, fill: Fill) -> None: ...

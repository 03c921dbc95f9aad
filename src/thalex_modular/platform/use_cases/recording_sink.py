"""A market data sink that also hands what it sees to a recorder (a session that records its market data)."""

from __future__ import annotations

from typing import Protocol

from thalex_modular.platform.domain.entities import Ticker, Trade
from thalex_modular.platform.use_cases.ports import MarketDataSink

__all__ = ["MarketRecorder", "RecordingSink", "recording"]


class MarketRecorder(Protocol):
    """Keeps the market data a session sees; each method an append that never blocks or raises (tick path)."""

    def ticker(self, ticker: Ticker) -> None: ...

    def public_trade(self, trade: Trade) -> None: ...


class RecordingSink:
    """Delivers to ``downstream`` first (quoting is not delayed by recording), then records."""

    __slots__ = ("_downstream", "_recorder")

    def __init__(self, downstream: MarketDataSink, recorder: MarketRecorder) -> None:
        self._downstream = downstream
        self._recorder = recorder

    def on_ticker(self, ticker: Ticker) -> None:
        self._downstream.on_ticker(ticker)
        self._recorder.ticker(ticker)

    def on_trade(self, trade: Trade) -> None:
        self._downstream.on_trade(trade)
        self._recorder.public_trade(trade)

    def on_feed_down(self, reason: str) -> None:
        self._downstream.on_feed_down(reason)


def recording(sink: MarketDataSink, recorder: MarketRecorder | None) -> MarketDataSink:
    """``sink`` itself when nothing records, else a :class:`RecordingSink` in front of it."""
    return sink if recorder is None else RecordingSink(sink, recorder)

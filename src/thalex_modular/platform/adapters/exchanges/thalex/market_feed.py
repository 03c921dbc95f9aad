"""Public market data of one instrument: ``ticker.<instrument>.<delay>`` and ``recent_trades.<instrument>.single``
into a :class:`~thalex_modular.platform.use_cases.ports.MarketDataSink`. Works on a session without credentials
(shadow mode).

The path from the websocket to the sink is synchronous: envelope decode (reader) → typed decode → domain value →
``sink.on_ticker`` / ``sink.on_trade``. The ``recent_trades`` snapshot (old trades sent on subscribe) is not
forwarded: it would look like a burst of fresh aggressive flow. A lost connection reaches the sink as
``on_feed_down``; after the reconnect, the ticker's current state arrives at once (a fresh snapshot).
"""

from __future__ import annotations

from typing import Final

import msgspec

from thalex_modular.platform.use_cases.ports import MarketDataSink

from .codec import decode_ticker, decode_trades
from .config import TickerDelay
from .errors import ExchangeConnectionError
from .session import ThalexSession

__all__ = ["ThalexMarketFeed"]

_NS_PER_S: Final = 1_000_000_000


class ThalexMarketFeed:
    """Feeds one instrument's tickers and public trades to ``sink``.

    Args:
        session: the session to subscribe on (public channels; register before ``session.start()``).
        instrument_name: e.g. ``BTC-PERPETUAL``.
        sink: receives tickers, trades and feed-down notices, in arrival order; None drops them until
            :attr:`sink` is set (the feed must be registered before the session starts, its consumer may be built
            after).
        delay: the ticker channel's ``<delay>`` (``raw`` = every change).
        trades: also subscribe ``recent_trades.<instrument>.single``.
    """

    def __init__(
        self,
        session: ThalexSession,
        instrument_name: str,
        sink: MarketDataSink | None,
        *,
        delay: TickerDelay = "raw",
        trades: bool = True,
    ) -> None:
        self._session = session
        self.instrument_name = instrument_name
        self.sink = sink
        self.ticker_channel = f"ticker.{instrument_name}.{delay}"
        self.trades_channel = f"recent_trades.{instrument_name}.single" if trades else None
        self.tickers = 0
        self.trades = 0
        self.snapshot_trades_skipped = 0
        self.last_ts_local_ns = 0
        session.add_channels([self.ticker_channel], self._on_ticker)
        if self.trades_channel is not None:
            session.add_channels([self.trades_channel], self._on_trades)
        session.add_down_hook(self._on_down)

    @property
    def channels(self) -> list[str]:
        return [self.ticker_channel] + ([self.trades_channel] if self.trades_channel else [])

    async def resubscribe(self) -> None:
        """Unsubscribe and subscribe again: a feed that went silent while RPC still answers gets a fresh state
        (DIGEST 8.14: no sequence numbers, resubscribing is the resync).

        Raises:
            ExchangeConnectionError: not connected; SubscriptionError semantics: a refused channel raises.
        """
        channels = self.channels
        await self._session.call("unsubscribe", {"channels": channels})
        raw = await self._session.call("public/subscribe", {"channels": channels})
        accepted = msgspec.json.decode(raw, type=list[str])
        if set(accepted) != set(channels):
            raise ExchangeConnectionError(f"resubscribe of {channels} accepted only {accepted}")

    def _on_ticker(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        self.tickers += 1
        self.last_ts_local_ns = ts_local_ns
        sink = self.sink
        if sink is not None:
            sink.on_ticker(decode_ticker(payload, self.instrument_name, ts_local_ns))

    def _on_trades(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        if snapshot:
            self.snapshot_trades_skipped += 1
            return
        self.last_ts_local_ns = ts_local_ns
        sink = self.sink
        if sink is None:
            return
        for trade in decode_trades(payload, ts_local_ns):
            self.trades += 1
            sink.on_trade(trade)

    def _on_down(self, reason: str) -> None:
        if self.sink is not None:
            self.sink.on_feed_down(f"{self.instrument_name} feed down: {reason}")

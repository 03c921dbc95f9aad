"""Subscription fan-out: per-connection outboxes, public feeds with ``<delay>`` throttling and book diffs, and
routing of the exchange core's notifications to ``session.*`` / ``account.*`` subscribers.

A public feed is keyed by its channel name: its payload is built and encoded once per flush and the same text goes
to every subscriber. Throttling uses wall time (``time.monotonic``): ``<delay>`` is the minimum interval between two
notifications of a channel; ``raw`` sends on every flush that follows a change. A new ``book`` subscriber gets a
snapshot of the state last sent on that channel (``snapshot: true``), so later diffs apply to it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection

from thalex_modular.emulator.faults import FaultInjector
from thalex_modular.emulator.protocol import encode_notification
from thalex_modular.emulator.subscriptions import Channel

if TYPE_CHECKING:
    from thalex_modular.emulator.runtime import Venue

__all__ = ["FeedHub", "Outbox", "Subscriber"]

_PER_INSTRUMENT = ("ticker", "lwt", "book")
_PINNABLE = ("ticker", "lwt")  # feeds a latency probe takes over (Venue.ticker_overrides)
_HOLD_S = 0.05  # a notification held back by the reorder fault is sent after the next one or after this delay
_MAX_OUTBOX = 200_000  # queued frames; a client this far behind is disconnected (code 1013)


class Outbox:
    """The outgoing frames of one connection, written by one task in order."""

    def __init__(self, ws: ServerConnection, faults: FaultInjector) -> None:
        self._ws = ws
        self._faults = faults
        self._queue: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._held: str | None = None
        self._late: deque[tuple[float, str]] = deque()  # (due loop time, frame) of delayed notifications, in order
        self._closed = False

    def put(self, text: str) -> None:
        """Queue an RPC reply (never disturbed by notification faults)."""
        if self._closed:
            return
        self._queue.append(text)
        self._wakeup.set()

    def put_notification(self, text: str, delay_s: float = 0.0) -> None:
        """Queue a notification, applying the duplicate/reorder faults; ``delay_s`` > 0 (the delayed-feeds fault)
        queues it that many seconds later, after any delayed earlier."""
        if self._closed:
            return
        if delay_s > 0:
            self._put_late(text, delay_s)
            return
        if self._held is None and self._faults.reorder():
            self._held = text
            asyncio.get_running_loop().call_later(_HOLD_S, self._release_held, text)
            return
        self._queue.append(text)
        if self._faults.duplicate():
            self._queue.append(text)
        if self._held is not None:
            self._queue.append(self._held)
            self._held = None
        self._wakeup.set()

    def _put_late(self, text: str, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._late.append((loop.time() + delay_s, text))
        if len(self._late) == 1:
            loop.call_later(delay_s, self._release_late)

    def _release_late(self) -> None:
        late = self._late
        loop = asyncio.get_running_loop()
        while late and late[0][0] <= loop.time():
            self.put_notification(late.popleft()[1])
        if late:
            loop.call_at(late[0][0], self._release_late)

    def _release_held(self, text: str) -> None:
        """Send a held-back notification that no later one has overtaken within ``_HOLD_S``."""
        if self._held is text:
            self._held = None
            self.put(text)

    async def send_now(self, text: str) -> bool:
        """Write ``text`` on the socket at once, bypassing the queue and the faults (latency probe only); ``False``
        when the outbox is closed."""
        if self._closed:
            return False
        await self._ws.send(text)
        return True

    def close(self) -> None:
        """Stop the writer after the frames already queued."""
        self._closed = True
        self._wakeup.set()

    async def run(self) -> None:
        """Writer task: send queued frames until :meth:`close` (or the socket closes)."""
        queue, ws = self._queue, self._ws
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if len(queue) > _MAX_OUTBOX:
                await ws.close(1013, "client too slow: outgoing queue overflow")
                return
            while queue:
                await ws.send(queue.popleft())
            if self._closed:
                return


class Subscriber:
    """What the hub knows of a connection: its outbox, session and subscribed channels."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.channels: dict[str, Channel] = {}
        self.hub_session_id: int | None = None
        self.hub_account: str | None = None


@dataclass(slots=True)
class _PublicFeed:
    channel: Channel
    subscribers: set[Subscriber] = field(default_factory=set)
    last_sent_s: float = 0.0
    bids: dict[float, tuple[float, float]] = field(default_factory=dict)
    asks: dict[float, tuple[float, float]] = field(default_factory=dict)
    pending_trades: list[list[Any]] = field(default_factory=list)


class FeedHub:
    """All subscriptions of the server; ``route`` engine notifications, ``flush`` due public feeds."""

    def __init__(self, venue: Venue, faults: FaultInjector) -> None:
        self._venue = venue
        self._faults = faults
        self._feeds: dict[str, _PublicFeed] = {}
        self._by_target: dict[str, set[str]] = {}  # instrument or underlying -> public feed names
        self._dirty: set[str] = set()
        self._sessions: dict[int, dict[str, Subscriber]] = {}  # session id -> channel -> subscriber
        self._accounts: dict[str, dict[str, set[Subscriber]]] = {}  # account -> channel -> subscribers
        self._system: set[Subscriber] = set()
        self._instruments_subs: set[Subscriber] = set()

    # -- subscription management --------------------------------------------------------------------------------

    def bind_session(self, sub: Subscriber, session_id: int, account: str) -> None:
        """Record the session and account a subscriber logged in to (private channels need it)."""
        sub.hub_session_id = session_id
        sub.hub_account = account

    def subscribe(self, sub: Subscriber, channel: Channel) -> None:
        """Add ``channel`` for ``sub`` and send its initial notification (snapshot or current state)."""
        if channel.name in sub.channels:
            return
        sub.channels[channel.name] = channel
        if channel.private:
            self._subscribe_private(sub, channel)
        elif channel.kind == "system":
            self._system.add(sub)
        elif channel.kind == "instruments":
            self._instruments_subs.add(sub)
            payload = [{"added": spec} for spec in self._venue.instruments_json()]
            sub.outbox.put_notification(encode_notification("instruments", payload, snapshot=True))
        else:
            self._subscribe_public(sub, channel)

    def unsubscribe(self, sub: Subscriber, name: str) -> bool:
        """Remove one channel; ``False`` when ``sub`` was not subscribed to it."""
        channel = sub.channels.pop(name, None)
        if channel is None:
            return False
        if channel.private:
            if channel.kind.startswith("session.") and sub.hub_session_id is not None:
                self._sessions.get(sub.hub_session_id, {}).pop(channel.kind, None)
            elif sub.hub_account is not None:
                self._accounts.get(sub.hub_account, {}).get(channel.kind, set()).discard(sub)
        elif channel.kind == "system":
            self._system.discard(sub)
        elif channel.kind == "instruments":
            self._instruments_subs.discard(sub)
        else:
            feed = self._feeds.get(name)
            if feed is not None:
                feed.subscribers.discard(sub)
                if not feed.subscribers:
                    self._remove_feed(feed)
        return True

    def drop_subscriber(self, sub: Subscriber) -> None:
        """Remove every subscription of a closing connection."""
        for name in list(sub.channels):
            self.unsubscribe(sub, name)
        if sub.hub_session_id is not None:
            self._sessions.pop(sub.hub_session_id, None)

    def _subscribe_private(self, sub: Subscriber, channel: Channel) -> None:
        session_id, account, kind = sub.hub_session_id, sub.hub_account, channel.kind
        assert session_id is not None and account is not None, "private channels need a logged-in session"
        venue = self._venue
        if kind.startswith("session."):
            self._sessions.setdefault(session_id, {})[kind] = sub
        else:
            self._accounts.setdefault(account, {}).setdefault(kind, set()).add(sub)
        if kind == "session.orders":
            snapshot: object = venue.session_orders(session_id)
        elif kind in ("account.orders", "account.persistent_orders"):
            snapshot = venue.account_orders(account, persistent_only=kind == "account.persistent_orders")
        elif kind == "account.portfolio":
            snapshot = venue.portfolio(account)
        elif kind == "account.summary":
            sub.outbox.put_notification(encode_notification(kind, venue.account_summary(account)))
            return
        else:  # account.trade_history, session.mm_protection: updates only
            return
        sub.outbox.put_notification(encode_notification(kind, snapshot, snapshot=True))

    def _subscribe_public(self, sub: Subscriber, channel: Channel) -> None:
        feed = self._feeds.get(channel.name)
        venue, target = self._venue, channel.target
        assert target is not None
        if feed is None:
            feed = _PublicFeed(channel)
            self._feeds[channel.name] = feed
            self._by_target.setdefault(target, set()).add(channel.name)
            if channel.kind == "book":
                bids, asks = venue.book_levels(target, channel.grouping, channel.nlevels)
                feed.bids = {p: (a, o) for p, a, o in bids}
                feed.asks = {p: (a, o) for p, a, o in asks}
        feed.subscribers.add(sub)
        kind = channel.kind
        if kind == "book":
            payload: object = self._book_snapshot(feed)
        elif kind == "recent_trades":
            payload = venue.recent_trades(target, channel.category or "single")
        elif kind == "ticker":
            payload = venue.ticker(target)
        elif kind == "lwt":
            payload = venue.lwt(target)
        else:
            payload = venue.index(target)
        snapshot = kind in ("book", "recent_trades")
        sub.outbox.put_notification(encode_notification(channel.name, payload, snapshot=snapshot))

    def _remove_feed(self, feed: _PublicFeed) -> None:
        name, target = feed.channel.name, feed.channel.target
        self._feeds.pop(name, None)
        self._dirty.discard(name)
        if target is not None:
            names = self._by_target.get(target)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_target[target]

    def _book_snapshot(self, feed: _PublicFeed) -> dict[str, object]:
        bids = sorted(feed.bids.items(), reverse=True)
        asks = sorted(feed.asks.items())
        target = feed.channel.target
        assert target is not None
        trades = [[r[0], r[1], r[2], r[3], r[5]] for r in self._venue.recent_trades(target, "single")]
        return {
            "trades": trades,
            "bid_changes": [[p, a, o] for p, (a, o) in bids],
            "ask_changes": [[p, a, o] for p, (a, o) in asks],
            "total_bid_amount": sum(a for a, _ in feed.bids.values()),
            "total_ask_amount": sum(a for a, _ in feed.asks.values()),
            "time": self._venue.now_s(),
        }

    # -- routing ---------------------------------------------------------------------------------------------

    def route(self, events: list[Any]) -> None:
        """Deliver engine notifications (``scope``, ``key``, ``channel_kind``, ``payload``)."""
        for event in events:
            scope, kind = event.scope, event.channel_kind
            if scope == "session":
                sub = self._sessions.get(event.key, {}).get(kind)
                if sub is not None and not self._faults.paused(kind):
                    sub.outbox.put_notification(encode_notification(kind, event.payload), self._faults.delay_s(kind))
            elif scope == "account":
                subs = self._accounts.get(event.key, {}).get(kind)
                if subs and not self._faults.paused(kind):
                    text = encode_notification(kind, event.payload)
                    delay_s = self._faults.delay_s(kind)
                    for sub in subs:
                        sub.outbox.put_notification(text, delay_s)
            elif kind == "trades":
                self._on_trades(event.key, event.payload)
            else:
                self._mark(event.key)

    def _mark(self, target: str) -> None:
        names = self._by_target.get(target)
        if names:
            self._dirty.update(n for n in names if self._feeds[n].channel.kind in _PER_INSTRUMENT)

    def _on_trades(self, instrument: str, rows: list[list[Any]]) -> None:
        self._mark(instrument)
        underlying, kind = self._venue.underlying_and_type(instrument)
        for target in (instrument, underlying):
            for name in self._by_target.get(target, ()):
                feed = self._feeds[name]
                channel = feed.channel
                if channel.kind == "book":
                    feed.pending_trades.extend([r[0], r[1], r[2], r[3], r[5]] for r in rows)
                elif channel.kind == "recent_trades" and (
                    channel.category in ("single", "all") or (channel.category == "options" and kind == "option")
                ):
                    feed.pending_trades.extend(rows)
                    self._dirty.add(name)

    def market_changed(self) -> None:
        """Marks and indexes moved: every ticker, lwt and price_index feed is due for an update."""
        self._dirty.update(n for n, f in self._feeds.items() if f.channel.kind in ("ticker", "lwt", "price_index"))

    def flush(self) -> None:
        """Send every changed public feed whose ``<delay>`` has elapsed."""
        if not self._dirty:
            return
        now_s = time.monotonic()
        pinned = self._venue.ticker_overrides
        for name in list(self._dirty):
            feed = self._feeds.get(name)
            if feed is None:
                self._dirty.discard(name)
                continue
            if (now_s - feed.last_sent_s) * 1000.0 < feed.channel.delay_ms:
                continue
            self._dirty.discard(name)
            if pinned and feed.channel.target in pinned and feed.channel.kind in _PINNABLE:
                continue  # the latency probe owns this ticker: only probes send it
            if self._faults.paused(name):
                feed.pending_trades.clear()
                continue
            payload = self._build(feed)
            if payload is None:
                continue
            feed.last_sent_s = now_s
            text = encode_notification(name, payload)
            for sub in feed.subscribers:
                sub.outbox.put_notification(text)

    def _build(self, feed: _PublicFeed) -> object | None:
        channel, venue = feed.channel, self._venue
        target = channel.target
        assert target is not None
        kind = channel.kind
        if kind == "ticker":
            return venue.ticker(target)
        if kind == "lwt":
            return venue.lwt(target)
        if kind == "price_index":
            return venue.index(target)
        if kind == "recent_trades":
            rows, feed.pending_trades = feed.pending_trades, []
            return rows or None
        bids, asks = venue.book_levels(target, channel.grouping, channel.nlevels)
        bid_changes = _diff(feed.bids, bids)
        ask_changes = _diff(feed.asks, asks)
        trades, feed.pending_trades = feed.pending_trades, []
        if not bid_changes and not ask_changes and not trades:
            return None
        payload: dict[str, object] = {
            "bid_changes": bid_changes,
            "ask_changes": ask_changes,
            "total_bid_amount": sum(a for a, _ in feed.bids.values()),
            "total_ask_amount": sum(a for a, _ in feed.asks.values()),
            "time": venue.now_s(),
        }
        if trades:
            payload["trades"] = trades
        return payload

    def ticker_subscribers(self, instrument: str) -> list[Subscriber]:
        """Every subscriber of a ``ticker.<instrument>.<delay>`` channel (each once)."""
        subs: dict[int, Subscriber] = {}
        for name in self._by_target.get(instrument, ()):
            feed = self._feeds[name]
            if feed.channel.kind == "ticker":
                subs.update((id(s), s) for s in feed.subscribers)
        return list(subs.values())

    # -- periodic and broadcast ------------------------------------------------------------------------------

    def publish_summaries(self) -> None:
        """Send ``account.summary`` to every subscribed account (called every ``summary_period_ms``)."""
        for account, channels in self._accounts.items():
            subs = channels.get("account.summary")
            if subs and not self._faults.paused("account.summary"):
                text = encode_notification("account.summary", self._venue.account_summary(account))
                for sub in subs:
                    sub.outbox.put_notification(text)

    def publish_system(self, event: dict[str, object]) -> int:
        """Send a ``system`` event to every subscriber; returns the number of recipients."""
        text = encode_notification("system", event)
        for sub in self._system:
            sub.outbox.put_notification(text)
        return len(self._system)


def _diff(state: dict[float, tuple[float, float]], levels: list[tuple[float, float, float]]) -> list[list[float]]:
    """Level changes from ``state`` to ``levels`` (amount 0 = level removed); updates ``state`` in place."""
    changes: list[list[float]] = []
    seen: set[float] = set()
    for price, amount, outright in levels:
        seen.add(price)
        if state.get(price) != (amount, outright):
            state[price] = (amount, outright)
            changes.append([price, amount, outright])
    for price in [p for p in state if p not in seen]:
        del state[price]
        changes.append([price, 0.0, 0.0])
    return changes

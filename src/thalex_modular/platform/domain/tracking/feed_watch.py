"""FeedWatch: whether one instrument's ticker feed is fresh enough to quote on (LESSONS 15, 17).

The feed is stale when the feed reported itself down, when no ticker arrived for ``max_silence_ns`` (feed
liveness, apart from RPC liveness), or when the newest ticker's exchange timestamp stopped advancing for
``max_age_ns`` (a feed that repeats old data). Only a real new ticker lifts it: nothing resets the stamps. Before
the first ticker nothing is stale (the owner waits for data anyway). Times are int ns; no I/O, no clock.
"""

from __future__ import annotations

__all__ = ["FeedWatch"]


class FeedWatch:
    """The freshness of one instrument's ticker feed.

    Args:
        max_silence_ns: longest gap between two received tickers.
        max_age_ns: longest time the exchange timestamp of the newest ticker may stand still.
    """

    __slots__ = ("_down", "_last_advance_ns", "_last_exchange_ts", "_last_receive_ns", "_max_age_ns",
                 "_max_silence_ns")

    def __init__(self, max_silence_ns: int, max_age_ns: int) -> None:
        if max_silence_ns <= 0 or max_age_ns <= 0:
            raise ValueError(
                f"invalid FeedWatch: max_silence_ns and max_age_ns must be > 0, were {max_silence_ns}, {max_age_ns}"
            )
        self._max_silence_ns = max_silence_ns
        self._max_age_ns = max_age_ns
        self._last_receive_ns: int | None = None
        self._last_exchange_ts: int | None = None
        self._last_advance_ns: int | None = None  # when the exchange timestamp last moved forward
        self._down: str | None = None

    def on_ticker(self, ts_exchange_ns: int, now_ns: int) -> None:
        """A ticker stamped ``ts_exchange_ns`` by the exchange was received at ``now_ns`` (the feed is up)."""
        self._last_receive_ns = now_ns
        if self._last_exchange_ts is None or ts_exchange_ns > self._last_exchange_ts:
            self._last_exchange_ts = ts_exchange_ns
            self._last_advance_ns = now_ns
        self._down = None

    def on_feed_down(self, reason: str) -> None:
        """The feed reported itself down (stale until the next ticker)."""
        self._down = reason

    def stale_reason(self, now_ns: int) -> str | None:
        """Why the feed is stale at ``now_ns`` (the kind, then `` for <seconds> s`` when it is a duration), None when
        it is not."""
        if self._down is not None:
            return f"feed down: {self._down}"
        if self._last_receive_ns is not None and now_ns - self._last_receive_ns > self._max_silence_ns:
            return f"feed silent for {(now_ns - self._last_receive_ns) / 1e9:.1f} s"
        if self._last_advance_ns is not None and now_ns - self._last_advance_ns > self._max_age_ns:
            return f"market data not advancing for {(now_ns - self._last_advance_ns) / 1e9:.1f} s"
        return None

"""PositionWatch: notices, from the exchange's portfolio feed, a position that differs from ours.

``account.portfolio`` and our fill notifications race each other (DIGEST: feeds race), so a difference is a real
desync only when it holds: no fill of ours arrived for ``settle_ns`` and the exchange still says otherwise. Then the
owner resyncs (which adopts the exchange's position with its own settle rule). Units: amounts in the underlying,
times int ns. No I/O, no clock.
"""

from __future__ import annotations

__all__ = ["PositionWatch"]


class PositionWatch:
    """One instrument's comparison of the exchange's position with ours.

    Args:
        tolerance: amounts closer than this are equal (half a volume tick).
        settle_ns: how long a difference must hold, with no fill of ours in between, to count.
    """

    __slots__ = ("_fills", "_settle_ns", "_since_ns", "_tolerance")

    def __init__(self, tolerance: float, settle_ns: int) -> None:
        if not tolerance > 0 or settle_ns <= 0:
            raise ValueError(
                f"invalid PositionWatch: tolerance and settle_ns must be > 0, were {tolerance}, {settle_ns}"
            )
        self._tolerance = tolerance
        self._settle_ns = settle_ns
        self._since_ns: int | None = None  # when the current difference was first seen
        self._fills = 0  # our fill count then

    def check(self, exchange: float | None, ours: float, fills: int, now_ns: int) -> str | None:
        """Compare the exchange's last reported position (None: none yet) with ``ours``; ``fills`` counts our fills
        so far. Returns the reason to resync when a difference held ``settle_ns`` with no fill of ours meanwhile
        (reported once), else None."""
        if exchange is None or abs(exchange - ours) <= self._tolerance:
            self._since_ns = None
            return None
        since = self._since_ns
        if since is None or fills != self._fills:
            self._since_ns = now_ns  # a new difference, or our fills moved: wait again
            self._fills = fills
            return None
        if now_ns - since < self._settle_ns:
            return None
        self._since_ns = None
        return (
            f"the exchange reports position {exchange!r}, ours is {ours!r} "
            f"(for {(now_ns - since) / 1e9:.2f} s with no fill of ours)"
        )

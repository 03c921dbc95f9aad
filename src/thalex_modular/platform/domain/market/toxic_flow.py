"""ToxicFlowDetector: one-sided aggressive volume in a time window → which of our quote sides is threatened.

An aggressive BUY burst (takers lifting asks) threatens our asks: informed buyers are about to move the price up
and a resting ask would be filled just before it does. The detector keeps the public trades of the last
``window_ns`` and, when the aggressive volume of one taker side reaches ``threshold_amount`` and makes at least
``min_one_sided_share`` of all aggressive volume in the window, marks the opposite quote side threatened until
``cooldown_ns`` after the last trade that kept the condition true (a continuing burst extends the cool-down).

Pure: no I/O, no clock reads; every call carries its time (int ns, any monotone time base as long as it is the
same for all calls). Amounts are in the underlying (e.g. BTC).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ..entities import Trade
from ..enums import Side
from ..errors import InvalidValue

__all__ = ["ToxicFlowConfig", "ToxicFlowDetector"]

_NO_SIDES: frozenset[Side] = frozenset()
_BOTH_SIDES: frozenset[Side] = frozenset((Side.BUY, Side.SELL))


@dataclass(frozen=True, slots=True)
class ToxicFlowConfig:
    """When aggressive flow counts as toxic.

    Args:
        window_ns: length of the rolling window of public trades, ns (> 0).
        threshold_amount: aggressive volume of one taker side in the window that trips the defence, in the
            underlying (> 0).
        cooldown_ns: how long a threatened side stays pulled after the last trade that kept the burst going,
            ns (>= 0).
        min_one_sided_share: the tripping side's share of all aggressive volume in the window, in (0, 1]; 0.8
            means at least 80 % of the window's taker volume went one way.
        pull_both_sides: pull both our bids and asks on a burst, not only the threatened side.

    Raises:
        InvalidValue: a field out of its range (the message names the field, the bound and the value).
    """

    window_ns: int = 2_000_000_000
    threshold_amount: float = 1.0
    cooldown_ns: int = 5_000_000_000
    min_one_sided_share: float = 0.8
    pull_both_sides: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.window_ns, bool) or not isinstance(self.window_ns, int) or self.window_ns <= 0:
            raise InvalidValue(f"invalid ToxicFlowConfig.window_ns <= 0 (ns), was {self.window_ns!r}")
        if isinstance(self.cooldown_ns, bool) or not isinstance(self.cooldown_ns, int) or self.cooldown_ns < 0:
            raise InvalidValue(f"invalid ToxicFlowConfig.cooldown_ns < 0 (ns), was {self.cooldown_ns!r}")
        if not math.isfinite(self.threshold_amount) or self.threshold_amount <= 0:
            raise InvalidValue(
                f"invalid ToxicFlowConfig.threshold_amount <= 0 (underlying), was {self.threshold_amount!r}"
            )
        share = self.min_one_sided_share
        if not math.isfinite(share) or not 0.0 < share <= 1.0:
            raise InvalidValue(f"invalid ToxicFlowConfig.min_one_sided_share outside (0, 1], was {share!r}")


class ToxicFlowDetector:
    """Rolling one-sided aggressive volume of one instrument (signal state is per instrument, LESSONS 18).

    Args:
        config: window, threshold and cool-down.
    """

    __slots__ = ("_buy_volume", "_config", "_last_ns", "_pulled_until_ns", "_sell_volume", "_trades", "_triggers")

    def __init__(self, config: ToxicFlowConfig | None = None) -> None:
        self._config = config or ToxicFlowConfig()
        self._trades: deque[tuple[int, Side, float]] = deque()
        self._buy_volume = 0.0  # aggressive buy volume in the window, underlying
        self._sell_volume = 0.0
        # our quote side → time (ns) until which it stays pulled
        self._pulled_until_ns: dict[Side, int] = {Side.BUY: -1, Side.SELL: -1}
        self._last_ns = -(2**62)
        self._triggers = 0

    @property
    def config(self) -> ToxicFlowConfig:
        return self._config

    @property
    def triggers(self) -> int:
        """How many trades found a burst above the threshold (each one sets or extends a cool-down)."""
        return self._triggers

    def on_trade(self, trade: Trade, now_ns: int) -> bool:
        """Add a public trade seen at ``now_ns`` (int ns, the detector's time base).

        Returns:
            True when the set of threatened sides changed (a side became threatened): the caller should
            reconcile at once.
        """
        return self.add(trade.taker_side, trade.amount, now_ns)

    def add(self, taker_side: Side, amount: float, now_ns: int) -> bool:
        """Add ``amount`` (underlying, > 0) of aggressive volume by ``taker_side`` at ``now_ns``.

        Returns:
            True when a side that was not threatened at ``now_ns`` became threatened.

        Raises:
            InvalidValue: ``amount`` not finite and > 0.
        """
        if not math.isfinite(amount) or amount <= 0.0:
            raise InvalidValue(f"invalid ToxicFlowDetector.add amount <= 0 (underlying), was {amount!r}")
        now = max(now_ns, self._last_ns)  # time never runs backwards inside the detector
        self._last_ns = now
        before = self.threatened_sides(now)
        self._evict(now)
        self._trades.append((now, taker_side, amount))
        if taker_side is Side.BUY:
            self._buy_volume += amount
        else:
            self._sell_volume += amount
        side_volume = self._buy_volume if taker_side is Side.BUY else self._sell_volume
        total = self._buy_volume + self._sell_volume
        cfg = self._config
        if side_volume >= cfg.threshold_amount and side_volume >= cfg.min_one_sided_share * total:
            self._triggers += 1
            until = now + cfg.cooldown_ns
            threatened = taker_side.opposite  # a buy burst threatens our asks
            self._pulled_until_ns[threatened] = max(self._pulled_until_ns[threatened], until)
            if cfg.pull_both_sides:
                other = taker_side
                self._pulled_until_ns[other] = max(self._pulled_until_ns[other], until)
        return self.threatened_sides(now) != before

    def threatened_sides(self, now_ns: int) -> frozenset[Side]:
        """Our quote sides to keep out of the book at ``now_ns`` (empty when the flow is benign)."""
        buy = now_ns < self._pulled_until_ns[Side.BUY]
        sell = now_ns < self._pulled_until_ns[Side.SELL]
        if buy and sell:
            return _BOTH_SIDES
        if buy:
            return frozenset((Side.BUY,))
        if sell:
            return frozenset((Side.SELL,))
        return _NO_SIDES

    def next_expiry_ns(self, now_ns: int) -> int | None:
        """The earliest time after ``now_ns`` at which a pulled side returns, or None when none is pulled."""
        pending = [until for until in self._pulled_until_ns.values() if until > now_ns]
        return min(pending) if pending else None

    def window_volume(self, taker_side: Side, now_ns: int) -> float:
        """Aggressive volume of ``taker_side`` in the window ending at ``now_ns``, underlying."""
        self._evict(max(now_ns, self._last_ns))
        return self._buy_volume if taker_side is Side.BUY else self._sell_volume

    def _evict(self, now_ns: int) -> None:
        horizon = now_ns - self._config.window_ns
        trades = self._trades
        while trades and trades[0][0] <= horizon:
            _, side, amount = trades.popleft()
            if side is Side.BUY:
                self._buy_volume -= amount
            else:
                self._sell_volume -= amount
        if not trades:  # drop accumulated float drift when the window empties
            self._buy_volume = 0.0
            self._sell_volume = 0.0

"""The kill switch's triggers: when one fires, the owner engages the RiskCheck's kill switch (every quote pulled,
nothing inserted or amended) and stays paused until an operator resumes.

Triggers (each off when its limit is None):

* daily loss: equity (realised net of fees + unrealised at the mark, USD) fell more than ``max_daily_loss_usd``
  below its value at the start of the UTC day (or at the last resume, whichever is later);
* drawdown: equity fell more than ``max_drawdown_usd`` below its peak since the session started (or resumed);
* both count what an earlier session of the instrument used (:class:`LimitsUsed`, carried over a restart);
* position breach: the absolute position exceeds ``max_position`` (a fill we could not prevent, a position adopted
  from the exchange);
* repeated rejects: more than ``max_rejects`` requests refused by the exchange within ``reject_window_ns``;
* repeated resyncs: more than ``max_resyncs`` resyncs within ``resync_window_ns``.

Units: USD, the underlying, int ns. No I/O, no clock: every call carries its time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from .errors import InvalidValue

__all__ = ["KillSwitchConfig", "KillSwitchMonitor", "LimitsUsed"]

_NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class KillSwitchConfig:
    """Kill switch triggers; None turns one off. Windows in ns."""

    max_daily_loss_usd: float | None = None
    max_drawdown_usd: float | None = None
    trip_on_position_breach: bool = True
    max_rejects: int | None = None
    reject_window_ns: int = 10_000_000_000
    max_resyncs: int | None = None
    resync_window_ns: int = 60_000_000_000

    def __post_init__(self) -> None:
        for name in ("max_daily_loss_usd", "max_drawdown_usd"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InvalidValue(f"invalid KillSwitchConfig.{name}: must be finite and > 0, was {value!r}")
        for name in ("max_rejects", "max_resyncs", "reject_window_ns", "resync_window_ns"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidValue(f"invalid KillSwitchConfig.{name} <= 0, was {value!r}")


@dataclass(frozen=True, slots=True)
class LimitsUsed:
    """How much of the loss limits a session has used: ``loss_usd`` below the equity at the start of UTC day
    ``day`` (days since the epoch) and ``drawdown_usd`` below the peak. A restarted session carries them on, so that
    a restart does not hand out a fresh daily loss budget."""

    day: int
    loss_usd: float
    drawdown_usd: float

    def __post_init__(self) -> None:
        for name in ("loss_usd", "drawdown_usd"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidValue(f"invalid LimitsUsed.{name}: must be finite, was {getattr(self, name)!r}")

    def then(self, later: LimitsUsed) -> LimitsUsed:
        """These followed by ``later``, what a session used that started from these figures without knowing them: on
        the same day the losses add up and the drawdown is the deeper of the later session's own and these extended by
        its loss; on a later day, that day's loss and a drawdown no smaller than the true one (the sum)."""
        if later.day == self.day:
            return LimitsUsed(self.day, self.loss_usd + later.loss_usd,
                              max(self.drawdown_usd + later.loss_usd, later.drawdown_usd))
        day, loss = (later.day, later.loss_usd) if later.day > self.day else (self.day, self.loss_usd)
        return LimitsUsed(day, loss, self.drawdown_usd + later.drawdown_usd)


class _Window:
    """Event times within a sliding window: more than ``limit`` of them trips."""

    __slots__ = ("_limit", "_times", "_window_ns")

    def __init__(self, limit: int | None, window_ns: int) -> None:
        self._limit = limit
        self._window_ns = window_ns
        self._times: deque[int] = deque()

    def add(self, now_ns: int) -> None:
        if self._limit is not None:
            self._times.append(now_ns)

    def count(self, now_ns: int) -> int:
        times = self._times
        while times and now_ns - times[0] > self._window_ns:
            times.popleft()
        return len(times)

    def exceeded(self, now_ns: int) -> bool:
        return self._limit is not None and self.count(now_ns) > self._limit

    def clear(self) -> None:
        self._times.clear()


class KillSwitchMonitor:
    """Watches one instrument's equity, position, rejects and resyncs; :meth:`check` names the first trigger that
    fired.

    Args:
        config: the triggers.
        max_position: the instrument's position limit (underlying) for the breach trigger.
        position_tolerance: how far past the limit counts as a breach (half a volume tick).
    """

    __slots__ = (
        "_base_equity", "_carried", "_config", "_day", "_day_start_equity", "_max_position", "_peak_equity", "_rejects",
        "_resyncs", "_tolerance",
    )

    def __init__(self, config: KillSwitchConfig, max_position: float, position_tolerance: float) -> None:
        self._config = config
        self._max_position = max_position
        self._tolerance = position_tolerance
        self._rejects = _Window(config.max_rejects, config.reject_window_ns)
        self._resyncs = _Window(config.max_resyncs, config.resync_window_ns)
        self._day: int | None = None
        self._day_start_equity = 0.0
        self._peak_equity: float | None = None
        self._base_equity = 0.0  # the equity this session's use counts from (its first check, or the last resume)
        self._carried: LimitsUsed | None = None

    @property
    def config(self) -> KillSwitchConfig:
        return self._config

    def on_reject(self, now_ns: int) -> None:
        """The exchange refused one of our requests."""
        self._rejects.add(now_ns)

    def on_resync(self, now_ns: int) -> None:
        """A resync ran."""
        self._resyncs.add(now_ns)

    def check(self, now_ns: int, equity_usd: float, position: float) -> str | None:
        """The reason the kill switch must fire now, or None. Call it on fills, rejects, resyncs and periodically
        (the mark moves the equity)."""
        cfg = self._config
        day = now_ns // _NS_PER_DAY
        carried, self._carried = self._carried, None
        if self._peak_equity is None:
            self._base_equity = equity_usd
        if carried is not None:  # the first check of a restarted session: its predecessor's use counts
            self._day = day
            self._day_start_equity = equity_usd + (carried.loss_usd if carried.day == day else 0.0)
            self._peak_equity = equity_usd + max(carried.drawdown_usd, 0.0)
        if day != self._day:
            self._day = day
            self._day_start_equity = equity_usd
        if self._peak_equity is None or equity_usd > self._peak_equity:
            self._peak_equity = equity_usd
        if cfg.trip_on_position_breach and abs(position) > self._max_position + self._tolerance:
            return f"position {position!r} beyond max_position {self._max_position}"
        loss = self._day_start_equity - equity_usd
        if cfg.max_daily_loss_usd is not None and loss > cfg.max_daily_loss_usd:
            return f"daily loss {loss:.2f} USD > max_daily_loss_usd {cfg.max_daily_loss_usd}"
        drawdown = self._peak_equity - equity_usd
        if cfg.max_drawdown_usd is not None and drawdown > cfg.max_drawdown_usd:
            return f"drawdown {drawdown:.2f} USD from the peak > max_drawdown_usd {cfg.max_drawdown_usd}"
        if self._rejects.exceeded(now_ns):
            return (f"{self._rejects.count(now_ns)} requests rejected within {cfg.reject_window_ns / 1e9:g} s "
                    f"> max_rejects {cfg.max_rejects}")
        if self._resyncs.exceeded(now_ns):
            return (f"{self._resyncs.count(now_ns)} resyncs within {cfg.resync_window_ns / 1e9:g} s "
                    f"> max_resyncs {cfg.max_resyncs}")
        return None

    def used(self, equity_usd: float) -> LimitsUsed | None:
        """The limits used at ``equity_usd`` (None before the first check)."""
        if self._day is None or self._peak_equity is None:
            return self._carried
        peak = max(self._peak_equity, equity_usd)
        return LimitsUsed(self._day, self._day_start_equity - equity_usd, peak - equity_usd)

    def carry(self, used: LimitsUsed) -> bool:
        """What an earlier session of this instrument used. Before the first check it is applied at that check, to the
        equity this session starts from; after it (known late), it is added to what this session used since: the same
        day's loss adds up, and the peak is the higher of this session's and the earlier one's seen from where this
        session started. Returns True when it was added late (the caller should check now)."""
        if self._day is None or self._peak_equity is None:
            self._carried = used
            return False
        if used.day == self._day:
            self._day_start_equity += used.loss_usd
        self._peak_equity = max(self._peak_equity, self._base_equity + used.drawdown_usd)
        return True

    def rebase(self, now_ns: int, equity_usd: float) -> None:
        """An operator resumed: losses and drawdown count from ``equity_usd`` now; rejects and resyncs from now."""
        self._day = now_ns // _NS_PER_DAY
        self._day_start_equity = equity_usd
        self._peak_equity = equity_usd
        self._base_equity = equity_usd
        self._carried = None
        self._rejects.clear()
        self._resyncs.clear()

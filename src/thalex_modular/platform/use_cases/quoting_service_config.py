"""Settings and counters of the QuotingService."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.use_cases.flat_cells import flat_cells


@dataclass(frozen=True, slots=True)
class QuotingServiceConfig:
    """Guard and back-off timings, int ns.

    Args:
        max_feed_silence_ns: pull quotes when no ticker arrived for this long.
        max_data_age_ns: pull quotes when the newest ticker's exchange timestamp has not advanced for this long.
        check_interval_ns: period of the guard timer (stale data, cool-down ends, back-off ends).
        throttle_backoff_ns: after a throttle error only cancels are sent for this long.
        resync_retry_ns: wait before retrying a failed resync.
        resync_settle_ns: when a resync (on the same connection) finds the tracker's position and the exchange's
            apart, how long to wait before fetching the portfolio again: a fill racing the snapshot (its
            notification still on the way, or the portfolio not updated yet) shows up meanwhile and is neither
            counted twice nor dropped; only a difference that holds is adopted.
        resync_settle_rounds: how many such waits at most (fills keep arriving) before the latest portfolio is
            adopted anyway.
        position_hold_ns: how long the exchange's portfolio feed may contradict our position, with no fill of ours
            arriving, before a resync (a fill notification racing the feed stays within it).
    """

    max_feed_silence_ns: int = 3_000_000_000
    max_data_age_ns: int = 5_000_000_000
    check_interval_ns: int = 250_000_000
    throttle_backoff_ns: int = 500_000_000
    resync_retry_ns: int = 1_000_000_000
    resync_settle_ns: int = 200_000_000
    resync_settle_rounds: int = 3
    position_hold_ns: int = 1_000_000_000

    def __post_init__(self) -> None:
        for name in ("max_feed_silence_ns", "max_data_age_ns", "check_interval_ns", "throttle_backoff_ns",
                     "resync_retry_ns", "resync_settle_ns", "resync_settle_rounds", "position_hold_ns"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"invalid QuotingServiceConfig.{name} <= 0, was {value!r}")


class LatencyRing:
    """The last ``capacity`` latencies (int ns) in a ring: appended on the order path (one store), summarised off it."""

    __slots__ = ("_cells", "_next", "_values", "count")

    def __init__(self, capacity: int = 4096) -> None:
        self._values = np.zeros(capacity, dtype=np.int64)
        self._cells = flat_cells(self._values)
        self._next = 0
        self.count = 0

    def add(self, ns: int) -> None:
        self._cells[self._next] = ns
        self._next = (self._next + 1) % len(self._values)
        self.count += 1

    def since_ms(self, count: int) -> list[float]:
        """The latencies added after the first ``count`` ones (those still held), oldest first, in ms."""
        capacity = len(self._values)
        new = min(self.count - count, capacity)
        if new <= 0:
            return []
        end = self._next
        indices = [(end - new + i) % capacity for i in range(new)]
        return [float(v) / 1e6 for v in self._values[indices]]

    def percentiles_ms(self, *quantiles: float) -> tuple[float, ...]:
        """The given quantiles (0 to 1) of the latencies held, in ms; NaN before any."""
        held = self._values[: min(self.count, len(self._values))]
        if len(held) == 0:
            return tuple(float("nan") for _ in quantiles)
        return tuple(float(v) / 1e6 for v in np.quantile(held, quantiles))


@dataclass(slots=True)
class ServiceStats:
    """Running counters of one service."""

    tickers: int = 0
    coalesced: int = 0  # tickers superseded by a newer one before a run took them (runs coalesce)
    trades: int = 0
    runs: int = 0
    requests_sent: int = 0
    amends_sent: int = 0
    cancels_sent: int = 0
    mass_quotes_sent: int = 0
    mass_quote_failed_sides: int = 0
    mm_protection_trips: int = 0
    fills: int = 0
    fees_usd: float = 0.0
    denials: int = 0
    rejections: int = 0
    rejections_by_code: dict[int, int] = field(default_factory=dict)  # Thalex error code -> count
    throttled: int = 0
    resyncs: int = 0
    stale_pulls: int = 0
    toxic_pulls: int = 0
    send_failures: int = 0
    deferred: int = 0  # amends and inserts the request budget held back for a later run
    position_mismatches: int = 0  # resyncs asked because the exchange's portfolio feed contradicted our position
    last_pull_reason: str | None = None
    kill_reason: str | None = None  # why the kill switch is engaged (None: it is not)
    sent_prices: list[tuple[Side, float]] = field(default_factory=list)  # (side, price USD) of inserts/amends
    # a ticker's receive time to its run's requests written (insert/amend mode; mass quotes: to the reply)
    tick_to_quote: LatencyRing = field(default_factory=LatencyRing)
    # a ticker's exchange time (mark_timestamp) to its receive time: the feed's delay, any backlog before us included
    # (meaningful where the venue's clock is the wall clock)
    feed_lag: LatencyRing = field(default_factory=LatencyRing)



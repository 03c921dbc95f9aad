"""History for a backtest, read from storage one time window at a time (``EVENT_DTYPE`` chunks).

Each chunk is one range read per table over ``[t, t + chunk_ns)``, merged; the replay holds one chunk at a time,
so memory does not grow with the length of the range. An in-memory source (a list of chunks) serves sweeps,
whose history is shared through Ray's object store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.errors import DomainError, InvalidValue
from thalex_modular.platform.domain.storage import Storage

from .events import MAX_FEED_DELAY_NS, bar_events, tick_events

Mode = Literal["tick", "bar"]
MODES: Final = ("tick", "bar")
NANOS_PER_SECOND: Final = 1_000_000_000


class NoHistory(DomainError):
    """The store holds no data of the instrument in the requested range."""


@dataclass(frozen=True, slots=True)
class HistoryRange:
    """What to replay: one instrument over ``[start_ns, end_ns)`` (exchange clock), in ``mode``.

    ``chunk_ns``: the time window of one range read. ``bar_volume_share``: bar mode's share of a bar's volume a
    resting order may fill per side (0, 1].
    """

    instrument_name: str
    start_ns: int
    end_ns: int
    mode: Mode = "tick"
    chunk_ns: int = 600 * NANOS_PER_SECOND
    bar_volume_share: float = 0.1

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise InvalidValue(f"HistoryRange: end ({self.end_ns}) must be after start ({self.start_ns})")
        if self.mode not in MODES:
            raise InvalidValue(f"HistoryRange.mode must be one of {list(MODES)}, was {self.mode!r}")
        if self.chunk_ns <= 0:
            raise InvalidValue(f"HistoryRange.chunk_ns must be > 0, was {self.chunk_ns}")
        if not 0.0 < self.bar_volume_share <= 1.0:
            raise InvalidValue(f"HistoryRange.bar_volume_share must be in (0, 1], was {self.bar_volume_share}")


def _tables(mode: Mode) -> tuple[str, ...]:
    return ("quotes", "trades") if mode == "tick" else ("ohlcv_1m",)


async def data_span(storage: Storage, history: HistoryRange) -> tuple[int, int]:
    """The part of the range that holds data: [first ts_ns, last ts_ns + 1) over the mode's tables.

    Raises:
        NoHistory: no row of the instrument in the range (the message says which tables were looked at).
    """
    lo, hi = history.end_ns, history.start_ns
    for table in _tables(history.mode):
        span = await storage.span(table, history.instrument_name)
        if span is not None:
            lo, hi = min(lo, max(span[0], history.start_ns)), max(hi, min(span[1] + 1, history.end_ns))
    if lo >= hi:
        raise NoHistory(
            f"no {history.mode} data of {history.instrument_name} in [{history.start_ns}, {history.end_ns}) ns "
            f"(looked in {', '.join(_tables(history.mode))}); import or record some first (platform data)"
        )
    return lo, hi


async def measured_feed_latency_ns(storage: Storage, history: HistoryRange, span: tuple[int, int]) -> int | None:
    """The median receive-minus-exchange delay (ns) of the quotes in the first chunk of ``span`` that carry both
    clocks, or None when none does (recordings and Tardis quotes do; synthetic data may not)."""
    if history.mode != "tick":
        return None
    end = min(span[1], span[0] + history.chunk_ns)
    delays = await storage.read_feed_delays(history.instrument_name, span[0], end)
    delays = delays[(delays >= 0) & (delays <= MAX_FEED_DELAY_NS)]
    return int(np.median(delays)) if len(delays) else None


async def storage_chunks(
    storage: Storage, history: HistoryRange, span: tuple[int, int]
) -> AsyncIterator[npt.NDArray[np.void]]:
    """``EVENT_DTYPE`` chunks of ``history`` over ``span`` (from :func:`data_span`), oldest first; empty windows
    are skipped. Bar mode's windows are whole minutes long (bars are read by their minute start)."""
    name = history.instrument_name
    chunk_ns = history.chunk_ns
    if history.mode == "bar":
        minute = 60 * NANOS_PER_SECOND
        chunk_ns = max(minute, chunk_ns // minute * minute)
    t, hi = span
    while t < hi:
        end = min(hi, t + chunk_ns)
        if history.mode == "tick":
            events = tick_events(await storage.read_quotes(name, t, end), await storage.read_trades(name, t, end))
        else:
            events = bar_events(await storage.read_ohlcv_1m(name, t, end), history.bar_volume_share)
        if len(events):
            yield events
        t = end

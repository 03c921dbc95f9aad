"""The history of a sweep's windows, read from the store once and put into Ray's object store once.

Reads exactly what ``platform backtest`` reads for the same range (the same chunks, the same feed latency measured
from the data), so a trial and the backtest of its written-out config give the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import Storage
from thalex_modular.platform.use_cases.backtest.source import (
    HistoryRange,
    data_span,
    measured_feed_latency_ns,
    storage_chunks,
)

__all__ = ["SharedWindow", "Window", "load_window", "share"]


@dataclass(frozen=True, slots=True)
class Window:
    """One window's history: the range, its chunks (in this process) and the measured feed latency."""

    history: HistoryRange
    chunks: list[npt.NDArray[np.void]]
    feed_latency_ns: int | None

    @property
    def events(self) -> int:
        return sum(len(c) for c in self.chunks)


@dataclass(frozen=True, slots=True)
class SharedWindow:
    """A window in the object store: ``ref`` resolves to its chunk list in any task that takes it as an argument."""

    history: HistoryRange
    ref: Any
    feed_latency_ns: int | None
    events: int


async def load_window(storage: Storage, history: HistoryRange) -> Window:
    """Every chunk of ``history`` from ``storage`` (the same reads as ``backtest_from_storage``).

    Raises:
        NoHistory: no data of the instrument in the range.
    """
    span = await data_span(storage, history)
    latency = await measured_feed_latency_ns(storage, history, span)
    chunks = [chunk async for chunk in storage_chunks(storage, history, span)]
    return Window(history, chunks, latency)


def share(window: Window) -> SharedWindow:
    """Put the window's chunks into the object store once (trials read them there without copying)."""
    import ray

    return SharedWindow(window.history, ray.put(window.chunks), window.feed_latency_ns, window.events)

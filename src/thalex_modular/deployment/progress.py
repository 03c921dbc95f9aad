"""The one progress display of every long job (import, export, backfill, record, backtest, sweep): tqdm on stderr.

A bar (with a total: done/total, rate, ETA) or a counter (without: done and rate), redrawn at most every
``mininterval_s``. When stderr is not a terminal (a pipe, a log file, CI) nothing is redrawn; :meth:`Progress.close`
then writes one final line with the count, the elapsed time and the rate, so logs still say what was done.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm  # type: ignore[import-untyped]

__all__ = ["Progress"]


class Progress:
    """Counts ``unit`` (rows, chunks, records) of one job.

    Args:
        label: what runs, e.g. ``import trades``.
        total: how many are expected (None: unknown, a counter without ETA).
        stream: where it is drawn (default stderr).
        enabled: draw it (default: only when ``stream`` is a terminal).
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "rows",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        mininterval_s: float = 0.5,
    ) -> None:
        self._stream = stream or sys.stderr
        self._label = label
        self._unit = unit
        self._start = time.monotonic()
        self._interactive = self._stream.isatty() if enabled is None else enabled
        self._bar: Any = tqdm(
            total=total, desc=label, unit=f" {unit}", unit_scale=False, file=self._stream,
            disable=not self._interactive, mininterval=mininterval_s, dynamic_ncols=True, leave=True,
        )
        self.done = 0
        self._closed = False

    def update(self, n: int) -> None:
        """``n`` more done."""
        self.done += n
        self._bar.update(n)

    __call__ = update

    def set_total(self, total: int) -> None:
        """The expected count, once known (shows the ETA)."""
        self._bar.total = total

    def set_status(self, text: str) -> None:
        """Extra figures shown after the rate (e.g. ``buffered 10, spilled 0``)."""
        self._bar.set_postfix_str(text, refresh=False)

    @property
    def rate_per_s(self) -> float:
        return self.done / max(time.monotonic() - self._start, 1e-9)

    def close(self) -> None:
        """End the display; without a terminal, write the one final line."""
        if self._closed:
            return
        self._closed = True
        self._bar.close()
        if not self._interactive:
            elapsed_s = time.monotonic() - self._start
            self._stream.write(f"{self._label}: {self.done:,} {self._unit} in {elapsed_s:.1f} s "
                               f"({self.rate_per_s:,.0f} {self._unit}/s)\n")
            self._stream.flush()

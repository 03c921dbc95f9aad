"""Tardis.dev ``derivative_ticker`` CSV: a perpetual's funding rate and index, joined onto imported quotes.

Format (timestamps µs since the epoch, ``timestamp`` the exchange's)::

    exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,
    last_price,index_price,mark_price

A row may leave fields empty (a venue's message updates some of them): each of ``funding_rate`` and ``index_price``
keeps its last value per symbol, in time order; a row counts once both are known. ``funding_rate`` is per the source
exchange's funding interval (8 h on Deribit and Binance: ``interval_h``); it is stored per 24 h, the convention of the
stored quotes and of the emulator (``emulator/engine/funding.py``: a fraction of the index per 24 h, positive when
longs pay): ``rate_24h = funding_rate x 24 / interval_h``.

Stored quotes carry the funding rate and index in force at their exchange time (the last derivative_ticker row of
their symbol at or before it: an as-of join), so the files go with the quotes import (``platform data import --kind
quotes --funding FILE…``). Quotes before a symbol's first row carry none.

Refused rows (named by file and line): a non-numeric or non-finite ``funding_rate``, one of 1 or more in absolute value
(100 % of the index per interval: a percentage written where a fraction belongs), an ``index_price`` that is not a
positive number, and timestamps that are not µs.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from thalex_modular.platform.domain.errors import InvalidValue

from .source_files import UNREADABLE, describe, open_text, stopped_reading
from .tardis import FileReport, RowError, _BadRow, _us_to_ns

HEADER: Final = ["exchange", "symbol", "timestamp", "local_timestamp", "funding_timestamp", "funding_rate",
                 "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price"]
#: The source exchange's funding interval when none is given (Deribit, Binance perpetuals: 8 h).
DEFAULT_INTERVAL_H: Final = 8.0
_SYMBOL, _TIMESTAMP, _RATE, _INDEX = 1, 2, 5, 9


def check_interval_h(interval_h: float) -> float:
    """Refuse a funding interval that is not a positive finite number of hours (at most a week), naming it."""
    if not (isinstance(interval_h, int | float) and math.isfinite(interval_h) and 0.0 < interval_h <= 168.0):
        raise InvalidValue(f"funding interval must be > 0 and <= 168 hours, was {interval_h!r}")
    return float(interval_h)


def _optional(name: str, text: str, *, rate: bool) -> float:
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise _BadRow(f"{name} must be a number, was {text!r}") from None
    if not math.isfinite(value):
        raise _BadRow(f"{name} must be finite, was {text!r}")
    if rate and abs(value) >= 1.0:
        raise _BadRow(f"{name} must be a fraction of the index per funding interval (|rate| < 1), was {text!r}: "
                      "a percentage?")
    if not rate and value <= 0.0:
        raise _BadRow(f"{name} must be > 0, was {text!r}")
    return value


@dataclass(slots=True)
class FundingTable:
    """Funding rate (per 24 h) and index (USD) observations per symbol, sorted by exchange time; :meth:`at` is the
    as-of lookup. Build with :func:`load_funding`."""

    times: dict[str, list[int]] = field(default_factory=dict)
    values: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def at(self, symbol: str, ts_ns: int) -> tuple[float, float]:
        """(rate per 24 h, index USD) in force at ``ts_ns``: of the last observation at or before it; NaN, NaN
        before the first one (or for a symbol without any)."""
        times = self.times.get(symbol)
        if not times:
            return math.nan, math.nan
        k = bisect.bisect_right(times, ts_ns) - 1
        return self.values[symbol][k] if k >= 0 else (math.nan, math.nan)

    def __len__(self) -> int:
        return sum(len(t) for t in self.times.values())


def _read(path: Path, report: FileReport, rows: list[tuple[str, int, int, float, float]]) -> None:
    """Append ``path``'s good rows as (symbol, ts_ns, file order, rate, index) to ``rows``; errors to ``report``."""
    name = str(path)
    try:
        text = open_text(path)
    except UNREADABLE as exc:
        report.errors.append(RowError(name, 1, f"{describe(exc)}; nothing was read", fatal=True))
        return
    with text as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header != HEADER:
                shown = "the file is empty" if header is None else f"was {','.join(header)!r}"
                report.errors.append(RowError(name, 1, f"header must be {','.join(HEADER)}, {shown}"))
                report.refused = True
                return
            for row in reader:
                report.rows_read += 1
                if len(row) != len(HEADER):
                    report.errors.append(RowError(name, reader.line_num,
                                                  f"expected {len(HEADER)} columns, got {len(row)}"))
                    continue
                try:
                    if not row[_SYMBOL]:
                        raise _BadRow("symbol must not be empty")
                    ts_ns = _us_to_ns("timestamp", row[_TIMESTAMP])
                    rate = _optional("funding_rate", row[_RATE], rate=True)
                    index = _optional("index_price", row[_INDEX], rate=False)
                except _BadRow as exc:
                    report.errors.append(RowError(name, reader.line_num, str(exc)))
                    continue
                rows.append((row[_SYMBOL], ts_ns, len(rows), rate, index))
        except UNREADABLE as exc:
            report.errors.append(RowError(name, reader.line_num + 1, stopped_reading(exc, reader.line_num),
                                          fatal=True))


def load_funding(paths: Sequence[Path], interval_h: float = DEFAULT_INTERVAL_H,
                 *, strict: bool = False) -> tuple[FundingTable, list[FileReport]]:
    """Read ``derivative_ticker`` files into a :class:`FundingTable` (rates converted to per 24 h from
    ``interval_h`` hours); one report per file (``rows_added``: its good rows, which the table uses). With
    ``strict`` a file with any bad row gives nothing (``refused``).

    Raises:
        InvalidValue: ``interval_h`` is not a positive number of hours.
    """
    per_24h = 24.0 / check_interval_h(interval_h)
    rows: list[tuple[str, int, int, float, float]] = []
    reports: list[FileReport] = []
    for path in paths:
        report = FileReport(str(path))
        reports.append(report)
        mine: list[tuple[str, int, int, float, float]] = []
        _read(path, report, mine)
        if strict and report.errors:
            report.refused = True
            continue
        report.rows_added = len(mine)
        rows += [(s, t, len(rows) + k, r, i) for k, (s, t, _, r, i) in enumerate(mine)]
    table = FundingTable()
    rows.sort(key=lambda r: (r[0], r[1], r[2]))  # per symbol in time order; file order among equal times
    last: dict[str, tuple[float, float]] = {}
    for symbol, ts_ns, _, rate, index in rows:
        known_rate, known_index = last.get(symbol, (math.nan, math.nan))
        known_rate = rate if rate == rate else known_rate
        known_index = index if index == index else known_index
        last[symbol] = (known_rate, known_index)
        if known_rate == known_rate and known_index == known_index:
            times = table.times.setdefault(symbol, [])
            values = table.values.setdefault(symbol, [])
            if times and times[-1] == ts_ns:  # one instant: the last row of it holds
                values[-1] = (known_rate * per_24h, known_index)
            else:
                times.append(ts_ns)
                values.append((known_rate * per_24h, known_index))
    return table, reports


__all__ = ["DEFAULT_INTERVAL_H", "HEADER", "FundingTable", "check_interval_h", "load_funding"]

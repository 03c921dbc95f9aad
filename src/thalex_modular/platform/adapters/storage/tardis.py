"""Tardis.dev CSV import (``trades`` and ``quotes`` data types; plain or gzip).

Formats (timestamps are µs since the epoch; ``timestamp`` is the exchange's, ``local_timestamp`` Tardis's):

* trades: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount`` — ``side`` is the taker's
  ``buy``/``sell``/``unknown``; an empty ``id`` gets a synthetic id (:func:`synthetic_trade_id`).
* quotes: ``exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount`` — an empty
  side is stored as NaN. With ``derivative_ticker`` files (:mod:`.tardis_funding`) each quote also carries the
  funding rate (per 24 h) and index in force at its exchange time; without, NaN.

Refused rows (named by file and line): timestamps that are not µs (a value before 1973 read as µs is milliseconds
or seconds: it would land in 1970), crossed quotes (bid above ask), non-positive or non-finite numbers. A file that
ends early (a truncated gzip) or cannot be decoded stops at the line reached: what came before is kept (reported), or
with ``strict`` nothing of that file. A file that cannot be opened gives nothing. A UTF-8 byte-order mark before the
header is accepted. Callers check each file first (:func:`.source_files.check_readable`): a file that cannot be
opened or whose first line cannot be read is refused before anything is stored.

The instrument name stored is the ``symbol`` column as is. ``seq`` numbers rows of one symbol sharing a
timestamp in file order, so importing the same file twice produces the same keys and adds nothing.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final, Literal, Protocol

from thalex_modular.platform.domain.storage import (
    QuoteRecord,
    Record,
    Storage,
    StorageError,
    TradeRecord,
    synthetic_trade_id,
)

from .source_files import UNREADABLE, describe, open_text, stopped_reading

Kind = Literal["trades", "quotes"]
HEADERS: Final[dict[str, list[str]]] = {
    "trades": ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"],
    "quotes": ["exchange", "symbol", "timestamp", "local_timestamp", "ask_amount", "ask_price", "bid_price",
               "bid_amount"],
}
_SIDES: Final = {"buy": 1, "sell": -1, "unknown": 0}
_NS_PER_US: Final = 1_000
#: µs stamps below this (1973-03-03) are milliseconds or seconds written where µs belong.
_MIN_PLAUSIBLE_US: Final = 100_000_000_000_000


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: file, 1-based line number (the header is line 1) and why."""

    path: str
    line: int
    message: str
    fatal: bool = False  # the file could not be read past this line

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(slots=True)
class FileReport:
    path: str
    rows_read: int = 0
    rows_added: int = 0
    refused: bool = False
    errors: list[RowError] = field(default_factory=list)

    @property
    def broken(self) -> RowError | None:
        """Where the file could not be read further (truncated, corrupt), None when it was read to its end."""
        return next((e for e in self.errors if e.fatal), None)

    @property
    def bad_rows(self) -> int:
        """Data rows refused (a bad header, line 1, and an unreadable end are not rows)."""
        return sum(not (e.fatal or e.line == 1) for e in self.errors)


class ImportStopped(StorageError):
    """The store failed in the middle of an import: the message says what was added before (``reports``: per file
    up to the one it stopped in; importing the same files again adds only what is missing)."""

    def __init__(self, reports: list[FileReport], cause: StorageError) -> None:
        done = "; ".join(f"{r.path}: {r.rows_added} rows added" for r in reports)
        super().__init__(f"the store failed importing {reports[-1].path} ({cause}); added before that: {done}; "
                         "the rest was not imported (importing the same files again adds only what is missing)")
        self.reports = reports


class _BadRow(ValueError):
    pass


class FundingLookup(Protocol):
    """The funding rate (per 24 h) and index (USD) of a symbol in force at an exchange time (NaN: none)."""

    def at(self, symbol: str, ts_ns: int) -> tuple[float, float]: ...


def _us_to_ns(name: str, text: str) -> int:
    """Tardis µs timestamp → ns (× 1000)."""
    try:
        value = int(text)
    except ValueError:
        raise _BadRow(f"{name} must be an integer of µs since the epoch, was {text!r}") from None
    if value < _MIN_PLAUSIBLE_US:
        raise _BadRow(f"{name} must be µs since the epoch; {value} as µs is before 1973: milliseconds or seconds?")
    return value * _NS_PER_US


def _number(name: str, text: str, *, optional: bool = False) -> float:
    if optional and text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise _BadRow(f"{name} must be a number, was {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise _BadRow(f"{name} must be finite and > 0, was {text!r}")
    return value


class _Sequencer:
    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def next(self, symbol: str, ts_ns: int) -> int:
        last = self._last.get(symbol)
        seq = last[1] + 1 if last is not None and last[0] == ts_ns else 0
        self._last[symbol] = (ts_ns, seq)
        return seq


def _trade(row: list[str], seq: _Sequencer) -> TradeRecord:
    _, symbol, ts, local_ts, trade_id, side_text, price_text, amount_text = row
    if not symbol:
        raise _BadRow("symbol must not be empty")
    ts_ns = _us_to_ns("timestamp", ts)
    local_ns = _us_to_ns("local_timestamp", local_ts)
    side = _SIDES.get(side_text)
    if side is None:
        raise _BadRow(f"side must be one of {list(_SIDES)}, was {side_text!r}")
    price = _number("price", price_text)
    amount = _number("amount", amount_text)
    n = seq.next(symbol, ts_ns)
    trade_id = trade_id or synthetic_trade_id(symbol, ts_ns, price, amount, side, n)
    return TradeRecord(symbol, ts_ns, n, trade_id, price, amount, side, local_ns)


def _quote(row: list[str], seq: _Sequencer, funding: FundingLookup | None = None) -> QuoteRecord:
    _, symbol, ts, local_ts, ask_amount, ask_price, bid_price, bid_amount = row
    if not symbol:
        raise _BadRow("symbol must not be empty")
    ts_ns = _us_to_ns("timestamp", ts)
    local_ns = _us_to_ns("local_timestamp", local_ts)
    bid = _number("bid_price", bid_price, optional=True)
    ask = _number("ask_price", ask_price, optional=True)
    if math.isnan(bid) and math.isnan(ask):
        raise _BadRow("bid_price and ask_price are both empty")
    if bid > ask:  # False when a side is empty (NaN)
        raise _BadRow(f"crossed quote: bid_price {bid_price} is above ask_price {ask_price}")
    rate_24h, index = (math.nan, math.nan) if funding is None else funding.at(symbol, ts_ns)
    return QuoteRecord(
        symbol, ts_ns, seq.next(symbol, ts_ns), bid, _number("bid_amount", bid_amount, optional=True),
        ask, _number("ask_amount", ask_amount, optional=True), math.nan, local_ns, ts_ns, rate_24h, index,
    )


def iter_file(
    path: Path, kind: Kind, batch_rows: int = 50_000, funding: FundingLookup | None = None
) -> Iterator[tuple[list[Record], list[RowError]]]:
    """Parse a Tardis CSV file in batches of good records plus the bad rows seen in that batch (quotes get the
    funding rate and index ``funding`` has in force at their time).

    A wrong header (or an empty file) is reported as an error on line 1 and nothing else is parsed. A file that
    cannot be read further (truncated gzip, bad UTF-8) ends with a ``fatal`` error at the first line not read (line
    1 when it cannot be opened).
    """
    parse: Callable[[list[str], _Sequencer], Record] = _trade if kind == "trades" else partial(_quote, funding=funding)
    expected = HEADERS[kind]
    seq = _Sequencer()
    name = str(path)
    try:
        text = open_text(path)
    except UNREADABLE as exc:
        yield [], [RowError(name, 1, f"{describe(exc)}; nothing was read", fatal=True)]
        return
    with text as f:
        reader = csv.reader(f)
        records: list[Record] = []
        errors: list[RowError] = []
        try:
            header = next(reader, None)
            if header != expected:
                shown = "the file is empty" if header is None else f"was {','.join(header)!r}"
                yield [], [RowError(name, 1, f"header must be {','.join(expected)}, {shown}")]
                return
            for row in reader:
                if len(row) != len(expected):
                    errors.append(RowError(name, reader.line_num, f"expected {len(expected)} columns, got {len(row)}"))
                    continue
                try:
                    records.append(parse(row, seq))
                except _BadRow as exc:
                    errors.append(RowError(name, reader.line_num, str(exc)))
                if len(records) >= batch_rows:
                    yield records, errors
                    records, errors = [], []
        except UNREADABLE as exc:
            errors.append(RowError(name, reader.line_num + 1, stopped_reading(exc, reader.line_num), fatal=True))
        yield records, errors


async def import_files(
    storage: Storage,
    paths: Sequence[Path],
    kind: Kind,
    *,
    strict: bool = False,
    on_rows: Callable[[int], None] | None = None,
    funding: FundingLookup | None = None,
) -> list[FileReport]:
    """Import Tardis CSV files into ``storage``; returns one report per file. ``funding``: quotes carry the funding
    rate and index it has in force at their time (:func:`.tardis_funding.load_funding`).

    Non-strict: good rows are imported, bad rows reported; of a file that ends early the rows before are kept.
    Strict: a file with any bad row, or that ends early, is refused entirely (validated in a first pass, nothing
    written). ``on_rows(n)`` is called as rows are read
    (progress). Importing a file again adds no rows.

    Raises:
        ImportStopped: the store failed writing a batch (the batches before stay: its message says what was added).
    """
    reports: list[FileReport] = []
    for path in paths:
        report = FileReport(str(path))
        reports.append(report)
        if strict:
            for _, errors in iter_file(path, kind, funding=funding):
                report.errors.extend(errors)
            if report.errors:
                report.refused = True
                continue
        for records, errors in iter_file(path, kind, funding=funding):
            report.errors.extend(errors)
            rows = len(records) + sum(not (e.fatal or e.line == 1) for e in errors)
            report.rows_read += rows
            if records:
                try:
                    report.rows_added += await storage.write(records)
                except StorageError as exc:
                    raise ImportStopped(reports, exc) from exc
            if on_rows is not None:
                on_rows(rows)
        report.refused = any(e.line == 1 and not e.fatal for e in report.errors)
    return reports

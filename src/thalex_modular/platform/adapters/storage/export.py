"""Export stored market data to CSV or Parquet.

Parquet needs ``pyarrow``, which is not a dependency of this package: install the ``parquet`` extra
(``pip install 'thalex-modular[parquet]'``). Without it a Parquet export raises :class:`ExportError` saying so.
Data are read in day-sized chunks (within the stored time span), so memory stays bounded for long ranges; 1m candles
(``candles_1m``, a few hundred thousand rows a year) in one read per name. CSV numbers are written with 12 significant
digits, which holds every Thalex tick and volume tick exactly and drops binary float noise (a sum stored as
``1.3730000000000002`` is written ``1.373``); Parquet keeps the stored doubles.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import CANDLE_DTYPE, OHLCV_DTYPE, QUOTE_DTYPE, TRADE_DTYPE, Storage

from .schema import NANOS_PER_DAY

Table = Literal["trades", "quotes", "ohlcv_1m", "candles_1m"]
Format = Literal["csv", "parquet"]
EXPORT_TABLES: Final = ("trades", "quotes", "ohlcv_1m", "candles_1m")
_DTYPES: Final[dict[str, Any]] = {"trades": TRADE_DTYPE, "quotes": QUOTE_DTYPE, "ohlcv_1m": OHLCV_DTYPE,
                                  "candles_1m": CANDLE_DTYPE}


def candle_source(name: str) -> str:
    """``mark`` for an instrument name (has a ``-``), ``index`` for an index name such as ``BTCUSD``."""
    return "mark" if "-" in name else "index"


def csv_value(value: object) -> object:
    """A float with 12 significant digits (no float noise, every tick exact); other values as they are."""
    return repr(float(f"{value:.12g}")) if isinstance(value, float) else value


class ExportError(Exception):
    """An export cannot be done (missing optional dependency, bad arguments)."""


def require_pyarrow() -> tuple[Any, Any]:
    """The pyarrow modules (``pyarrow``, ``pyarrow.parquet``); raises ExportError saying how to install them."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ExportError(
            "Parquet export needs pyarrow, which is not installed (it is an optional dependency): "
            "pip install 'thalex-modular[parquet]' or pip install pyarrow; or use --format csv"
        ) from None


async def _chunks(
    storage: Storage, table: Table, name: str, start_ns: int, end_ns: int
) -> AsyncIterator[npt.NDArray[np.void]]:
    """Day-sized reads of one instrument over the part of [start_ns, end_ns) that holds data."""
    if table == "candles_1m":
        candles = await storage.read_candles_1m(candle_source(name), name, start_ns, end_ns)
        if len(candles):
            yield candles
        return
    span = await storage.span(table, name)
    if span is None:
        return
    read = {"trades": storage.read_trades, "quotes": storage.read_quotes, "ohlcv_1m": storage.read_ohlcv_1m}[table]
    t, hi = max(start_ns, span[0]), min(end_ns, span[1] + 1)
    while t < hi:
        chunk = await read(name, t, min(hi, t + NANOS_PER_DAY))
        if len(chunk):
            yield chunk
        t += NANOS_PER_DAY


async def export_table(
    storage: Storage,
    table: Table,
    out: Path,
    *,
    fmt: Format = "csv",
    instruments: Sequence[str] = (),
    start_ns: int = 0,
    end_ns: int = 2**62,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Write ``table`` rows (all instruments unless given) with ts_ns in [start_ns, end_ns) to ``out``.

    Columns: ``instrument_name`` then the table's columnar dtype fields (ts in ns, prices USD, amounts in the
    underlying). Returns the number of rows written. ``candles_1m`` needs ``instruments`` (instrument names: mark
    candles; index names such as ``BTCUSD``: index candles).

    Raises:
        ExportError: unknown table or format, or Parquet requested without pyarrow installed.
    """
    if table not in EXPORT_TABLES:
        raise ExportError(f"table must be one of {list(EXPORT_TABLES)}, was {table!r}")
    if fmt not in ("csv", "parquet"):
        raise ExportError(f"format must be csv or parquet, was {fmt!r}")
    if fmt == "parquet":
        pa, pq = require_pyarrow()
    if table == "candles_1m" and not instruments:
        raise ExportError("candles_1m needs the instrument or index names (--instrument BTC-PERPETUAL, BTCUSD)")
    names = list(instruments) or await storage.instruments(table)
    total = 0
    if fmt == "csv":
        with out.open("w", newline="") as f:
            csv_out = csv.writer(f)
            csv_out.writerow(["instrument_name", *_DTYPES[table].names])
            for name in names:
                async for chunk in _chunks(storage, table, name, start_ns, end_ns):
                    columns = [chunk[c].tolist() for c in _DTYPES[table].names]
                    csv_out.writerows([name, *map(csv_value, row)] for row in zip(*columns, strict=True))
                    total += len(chunk)
                    if on_rows is not None:
                        on_rows(len(chunk))
        return total
    writer: Any = None
    try:
        for name in names:
            async for chunk in _chunks(storage, table, name, start_ns, end_ns):
                arrays = {"instrument_name": pa.array([name] * len(chunk))}
                arrays |= {c: pa.array(chunk[c]) for c in _DTYPES[table].names}
                batch = pa.table(arrays)
                writer = writer or pq.ParquetWriter(str(out), batch.schema)
                writer.write_table(batch)
                total += len(chunk)
                if on_rows is not None:
                    on_rows(len(chunk))
    finally:
        if writer is not None:
            writer.close()
    return total

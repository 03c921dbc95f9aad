"""The range reads both storage adapters share: each adapter supplies only ``_read`` (its query runner)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import (
    CANDLE_DTYPE,
    CANDLE_FETCH_DTYPE,
    FEED_DELAY_DTYPE,
    OHLCV_DTYPE,
    QUOTE_CLOCKS,
    QUOTE_DTYPE,
    TRADE_DTYPE,
    QuoteClock,
    check_candle_source,
    check_range,
)

from . import schema


class RangeReads(ABC):
    """``read_trades`` / ``read_quotes`` / ``read_ohlcv_1m`` / ``read_candles_1m`` over ``[start_ns, end_ns)``,
    as structured arrays."""

    @abstractmethod
    async def _read(
        self, sql: str, dtype: np.dtype[Any], name: str, start_ns: int, end_ns: int
    ) -> npt.NDArray[np.void]: ...

    async def read_trades(self, instrument_name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.void]:
        """Trades of one instrument with ts_ns in [start_ns, end_ns), as ``TRADE_DTYPE``, ordered by (ts_ns, seq)."""
        check_range("read_trades", start_ns, end_ns)
        return await self._read(schema.READ_TRADES_SQL, TRADE_DTYPE, instrument_name, start_ns, end_ns)

    async def read_quotes(
        self, instrument_name: str, start_ns: int, end_ns: int, clock: QuoteClock = "exchange"
    ) -> npt.NDArray[np.void]:
        """Quote snapshots in [start_ns, end_ns) of ``clock`` as ``QUOTE_DTYPE``, whose ``ts_ns`` is that clock.

        ``exchange`` (default): the venue's time; snapshots that came without one are not returned. ``local``: our
        receive time, every snapshot (not indexed: slower on a large table).

        Raises:
            InvalidValue: an unknown clock, or an inverted range.
        """
        check_range("read_quotes", start_ns, end_ns)
        if clock not in QUOTE_CLOCKS:
            raise InvalidValue(f"read_quotes: clock must be one of {list(QUOTE_CLOCKS)}, was {clock!r}")
        sql = schema.READ_QUOTES_SQL if clock == "exchange" else schema.READ_QUOTES_LOCAL_SQL
        return await self._read(sql, QUOTE_DTYPE, instrument_name, start_ns, end_ns)

    async def read_feed_delays(self, instrument_name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.int64]:
        """Receive time minus exchange time (ns) of the first (at most 10,000) quotes in [start_ns, end_ns) that
        carry both clocks; empty when none does (the backtest then keeps its configured feed latency)."""
        check_range("read_feed_delays", start_ns, end_ns)
        rows = await self._read(schema.READ_FEED_DELAYS_SQL, FEED_DELAY_DTYPE, instrument_name, start_ns, end_ns)
        return np.asarray(rows["delay_ns"], dtype=np.int64)

    async def read_ohlcv_1m(self, instrument_name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.void]:
        """1m bars with minute start in [start_ns, end_ns) as ``OHLCV_DTYPE``."""
        check_range("read_ohlcv_1m", start_ns, end_ns)
        return await self._read(schema.READ_OHLCV_SQL, OHLCV_DTYPE, instrument_name, start_ns, end_ns)

    async def read_candles_1m(self, source: str, name: str, start_ns: int, end_ns: int) -> npt.NDArray[np.void]:
        """Venue 1m candles of ``source`` (``mark`` | ``index``) and ``name`` with minute start in
        [start_ns, end_ns), as ``CANDLE_DTYPE`` (ts_ns, open, high, low, close; USD), ordered by ts_ns.

        Raises:
            InvalidValue: ``source`` is not ``mark`` or ``index``, or the range is inverted.
        """
        check_candle_source("read_candles_1m", source)
        check_range("read_candles_1m", start_ns, end_ns)
        return await self._read(schema.read_candles_sql(source), CANDLE_DTYPE, name, start_ns, end_ns)

    async def read_candle_fetches(
        self, source: str, name: str, start_ns: int, end_ns: int
    ) -> npt.NDArray[np.void]:
        """Backfill chunks of ``source`` and ``name`` fetched once all their minutes were past, with chunk start in
        [start_ns, end_ns), as ``CANDLE_FETCH_DTYPE`` (ts_ns, end_ns, fetched_ns), ordered by ts_ns.

        Raises:
            InvalidValue: ``source`` is not ``mark`` or ``index``, or the range is inverted.
        """
        check_candle_source("read_candle_fetches", source)
        check_range("read_candle_fetches", start_ns, end_ns)
        return await self._read(schema.read_candle_fetches_sql(source), CANDLE_FETCH_DTYPE, name, start_ns, end_ns)

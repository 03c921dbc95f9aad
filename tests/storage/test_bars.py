"""The client-side 1m bars of the PostgreSQL append path (``bars.batch_bars``), on hand-made batches."""

from __future__ import annotations

import math

from thalex_modular.platform.adapters.storage.bars import batch_bars, batch_columns, minute_start
from thalex_modular.platform.domain.storage import TradeRecord

M = 60_000_000_000


def _trade(name: str, ts_ns: int, seq: int, price: float, amount: float) -> TradeRecord:
    return TradeRecord(name, ts_ns, seq, f"{name}-{ts_ns}-{seq}", price, amount, 1, ts_ns)


def test_bars_order_by_instrument_minute_then_ts_and_seq_whatever_the_batch_order() -> None:
    # Arrange: out of order, two instruments, a same-nanosecond pair told apart by seq
    batch = [
        _trade("ETH", 2 * M + 5, 0, 20.0, 1.0),
        _trade("BTC", M + 9, 1, 13.0, 0.5),
        _trade("BTC", 2 * M, 0, 11.0, 2.0),
        _trade("BTC", M + 9, 0, 12.0, 0.25),
        _trade("BTC", M, 0, 10.0, 1.0),
        _trade("ETH", 2 * M + 1, 0, 19.0, 3.0),
    ]
    # Act
    bars = batch_bars(batch_columns(batch))
    # Assert
    rows = list(zip(bars.instrument_name, *(c.tolist() for c in bars[1:]), strict=True))
    assert rows == [
        ("ETH", 2 * M, 19.0, 20.0, 19.0, 20.0, 4.0, 2),
        ("BTC", M, 10.0, 13.0, 10.0, 13.0, 1.75, 3),
        ("BTC", 2 * M, 11.0, 11.0, 11.0, 11.0, 2.0, 1),
    ]


def test_nan_prices_follow_postgresql_max_and_min() -> None:
    # PostgreSQL sorts NaN above every number: max() returns it, min() returns the smallest number
    bars = batch_bars(batch_columns([_trade("BTC", M, 0, 10.0, 1.0), _trade("BTC", M + 1, 0, math.nan, 1.0)]))
    assert math.isnan(bars.high[0]) and bars.low[0] == 10.0


def test_minute_start_truncates_like_sql() -> None:
    assert minute_start(2 * M + 7) == 2 * M
    assert minute_start(-M - 7) == -M  # SQL's % keeps the dividend's sign


def test_select_keeps_masked_rows_as_python_lists() -> None:
    bars = batch_bars(batch_columns([_trade("BTC", M, 0, 10.0, 1.0), _trade("BTC", 3 * M, 0, 11.0, 1.0)]))
    assert bars.select(bars.ts_ns > M) == [["BTC"], [3 * M], [11.0], [11.0], [11.0], [11.0], [1.0], [1]]

"""The event stream: tick merge order and the bar rule's events."""

from __future__ import annotations

import numpy as np
import pytest

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import NANOS_PER_MINUTE, OHLCV_DTYPE, QUOTE_DTYPE, TRADE_DTYPE
from thalex_modular.platform.use_cases.backtest.events import (
    BAR_PRINT_OFFSET_NS,
    EVENT_DTYPE,
    MAX_FEED_DELAY_NS,
    QUOTE,
    TRADE,
    bar_events,
    seen_times,
    tick_events,
)

MS = 1_000_000


def test_tick_events_merge_by_time_with_quotes_first_at_equal_times() -> None:
    # Arrange
    quotes = np.array([(10, 99.0, 1.0, 101.0, 2.0, 100.0, 0.0003, 99.5, 0),
                       (30, 98.0, 1.0, 100.0, 1.0, np.nan, np.nan, np.nan, 0)], dtype=QUOTE_DTYPE)
    trades = np.array([(5, 100.0, 0.5, 1, 0), (10, 99.0, 0.1, -1, 0), (40, 97.0, 0.2, 0, 0)], dtype=TRADE_DTYPE)
    # Act
    events = tick_events(quotes, trades)
    # Assert
    assert events["ts_ns"].tolist() == [5, 10, 10, 30, 40]
    assert events["kind"].tolist() == [TRADE, QUOTE, TRADE, QUOTE, TRADE]
    assert events["side"].tolist() == [1, 0, -1, 0, 0]
    assert events[1]["bid_price"] == 99.0 and events[1]["ask_amount"] == 2.0 and np.isnan(events[1]["price"])
    assert events[2]["price"] == 99.0 and events[2]["amount"] == 0.1 and np.isnan(events[2]["bid_price"])
    # the funding rate and index ride on the quote that carried them; trades and quotes without them have NaN
    assert (events[1]["funding_rate_24h"], events[1]["index_price"]) == (0.0003, 99.5)
    others = events[[0, 2, 3, 4]]
    assert np.isnan(others["funding_rate_24h"]).all() and np.isnan(others["index_price"]).all()


def test_tick_events_are_in_the_order_we_received_them_and_keep_only_plausible_receive_times() -> None:
    # Arrange: the ticker channel reaches us 100 ms late, trades 5 ms late: a ticker stamped before a trade is
    # received after it. One trade's receive time is before its exchange time, one 2 s after, and the last ticker's
    # before its exchange time: clock errors.
    t0 = 1_700_000_000 * 10**9
    quotes = np.array([(t0, 99.0, 1.0, 101.0, 1.0, 100.0, np.nan, np.nan, t0 + 100 * MS),
                       (t0 + 200 * MS, 99.0, 1.0, 101.0, 1.0, 100.0, np.nan, np.nan, t0 + 300 * MS),
                       (t0 + 250 * MS, 99.0, 1.0, 101.0, 1.0, 100.0, np.nan, np.nan, t0 + 249 * MS)],
                      dtype=QUOTE_DTYPE)
    trades = np.array([(t0 + 50 * MS, 100.0, 0.5, 1, t0 + 55 * MS),
                       (t0 + 150 * MS, 100.0, 0.5, 1, t0 + 149 * MS),
                       (t0 + 160 * MS, 100.0, 0.5, 1, t0 + 160 * MS + MAX_FEED_DELAY_NS + 1)], dtype=TRADE_DTYPE)
    # Act
    events = tick_events(quotes, trades)
    # Assert: received order; the implausible receive times are dropped (0) and those rows sort by exchange time,
    # never before the row before them in their channel (the third ticker stays after the second)
    assert events["ts_ns"].tolist() == [t0 + 50 * MS, t0, t0 + 150 * MS, t0 + 160 * MS, t0 + 200 * MS,
                                        t0 + 250 * MS]
    assert events["local_ns"].tolist() == [t0 + 55 * MS, t0 + 100 * MS, 0, 0, t0 + 300 * MS, 0]
    assert events["kind"].tolist() == [TRADE, QUOTE, TRADE, TRADE, QUOTE, QUOTE]


def test_seen_times_fall_back_to_the_feed_delay_and_never_go_back() -> None:
    # Arrange: a chunk whose second row has no receive time and whose third was received before the first
    chunk = np.zeros(4, dtype=EVENT_DTYPE)
    chunk["ts_ns"] = [1_000, 2_000, 3_000, 4_000]
    chunk["local_ns"] = [1_500, 0, 1_200, 4_100]
    # Act
    first = seen_times(chunk, 300, np.iinfo(np.int64).min)
    after_a_later_chunk = seen_times(chunk, 300, 5_000)
    # Assert
    assert first.tolist() == [1_500, 2_300, 2_300, 4_100]
    assert after_a_later_chunk.tolist() == [5_000, 5_000, 5_000, 5_000]
    assert chunk["local_ns"].tolist() == [1_500, 0, 1_200, 4_100]  # the chunk is not changed


def test_bar_events_two_prints_of_the_volume_share_then_the_close_without_a_book() -> None:
    # Arrange: a traded bar and an empty one
    t0 = 1_700_000_040 * 10**9 // NANOS_PER_MINUTE * NANOS_PER_MINUTE
    bars = np.array([(t0, 100.0, 105.0, 95.0, 102.0, 4.0, 9), (t0 + NANOS_PER_MINUTE, 102.0, 102.0, 102.0, 102.0,
                                                                 0.0, 0)], dtype=OHLCV_DTYPE)
    # Act
    events = bar_events(bars, 0.25)
    # Assert
    assert events["ts_ns"].tolist() == [t0 + BAR_PRINT_OFFSET_NS] * 2 + [t0 + NANOS_PER_MINUTE - 1,
                                                                         t0 + 2 * NANOS_PER_MINUTE - 1]
    sell, buy, close, close2 = events
    assert (sell["kind"], sell["side"], sell["price"], sell["amount"]) == (TRADE, -1, 95.0, 1.0)
    assert (buy["kind"], buy["side"], buy["price"], buy["amount"]) == (TRADE, 1, 105.0, 1.0)
    assert close["kind"] == QUOTE and close["mark_price"] == 102.0
    assert np.isnan(close["bid_price"]) and np.isnan(close["ask_price"])
    assert close2["mark_price"] == 102.0
    assert np.isnan(events["funding_rate_24h"]).all()  # bars carry no funding


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_bar_events_refuse_a_volume_share_outside_0_1(share: float) -> None:
    with pytest.raises(InvalidValue, match="volume_share"):
        bar_events(np.zeros(0, dtype=OHLCV_DTYPE), share)

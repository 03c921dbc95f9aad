"""FeedWatch: a silent feed, a feed repeating old data and a feed reported down are stale; only a new ticker lifts."""

from __future__ import annotations

import pytest

from thalex_modular.platform.domain.tracking.feed_watch import FeedWatch

S = 1_000_000_000


def test_nothing_is_stale_before_the_first_ticker() -> None:
    watch = FeedWatch(max_silence_ns=3 * S, max_age_ns=5 * S)
    assert watch.stale_reason(100 * S) is None


def test_a_silent_feed_is_stale_and_the_next_ticker_lifts_it() -> None:
    # Arrange
    watch = FeedWatch(max_silence_ns=3 * S, max_age_ns=5 * S)
    watch.on_ticker(ts_exchange_ns=10 * S, now_ns=10 * S)
    # Act / Assert
    assert watch.stale_reason(13 * S) is None  # exactly the limit is still fresh
    assert watch.stale_reason(13 * S + 500_000_000) == "feed silent for 3.5 s"
    watch.on_ticker(ts_exchange_ns=14 * S, now_ns=14 * S)
    assert watch.stale_reason(14 * S) is None


def test_an_exchange_timestamp_standing_still_is_stale_although_tickers_arrive() -> None:
    # Arrange
    watch = FeedWatch(max_silence_ns=3 * S, max_age_ns=5 * S)
    watch.on_ticker(ts_exchange_ns=7 * S, now_ns=10 * S)
    # Act: the same (or an older) exchange stamp every second
    for second in range(11, 17):
        watch.on_ticker(ts_exchange_ns=7 * S if second % 2 else 6 * S, now_ns=second * S)
    # Assert
    assert watch.stale_reason(16 * S) == "market data not advancing for 6.0 s"
    watch.on_ticker(ts_exchange_ns=8 * S, now_ns=17 * S)
    assert watch.stale_reason(17 * S) is None


def test_a_feed_reported_down_is_stale_until_the_next_ticker() -> None:
    watch = FeedWatch(max_silence_ns=3 * S, max_age_ns=5 * S)
    watch.on_ticker(ts_exchange_ns=10 * S, now_ns=10 * S)
    watch.on_feed_down("disconnected")
    assert watch.stale_reason(10 * S) == "feed down: disconnected"
    watch.on_ticker(ts_exchange_ns=11 * S, now_ns=11 * S)
    assert watch.stale_reason(11 * S) is None


@pytest.mark.parametrize(("silence", "age"), [(0, 5 * S), (3 * S, -1)])
def test_a_limit_that_is_not_positive_is_refused_by_name(silence: int, age: int) -> None:
    with pytest.raises(ValueError, match="max_silence_ns and max_age_ns must be > 0"):
        FeedWatch(silence, age)

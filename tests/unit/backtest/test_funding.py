"""The funding ledger: the emulator's accrual (per 24 h, x index, the rate in force at each interval's start) on
the position between fills, independent of how the history is cut into chunks; its kernel equals its twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thalex_modular.platform.use_cases.backtest import funding
from thalex_modular.platform.use_cases.backtest.events import EVENT_DTYPE, QUOTE, TRADE, seen_times
from thalex_modular.platform.use_cases.backtest.funding import DAY_NS, FundingLedger, funding_note
from twins import pure

S = 1_000_000_000
T0 = 1_735_689_600 * S
FEED = 3_000_000


def _events(rows: list[tuple[int, int, float, float]]) -> np.ndarray:
    """(exchange time, kind, funding rate per 24 h, index USD) rows; other columns plausible."""
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for column in ("bid_price", "ask_price", "mark_price", "bid_amount", "ask_amount", "price", "amount"):
        out[column] = np.nan
    for i, (ts, kind, rate, index) in enumerate(rows):
        out[i]["ts_ns"] = ts
        out[i]["kind"] = kind
        out[i]["funding_rate_24h"] = rate
        out[i]["index_price"] = index
    return out


def _seen(events: np.ndarray, feed_ns: int) -> np.ndarray:
    return seen_times(events, feed_ns, np.iinfo(np.int64).min)


NAN = math.nan
#: updates at 0 (1 %/day, index 100,000) and 1 h (-2 %/day, 101,000); a trade and a quote without funding between
EVENTS = _events([
    (T0, QUOTE, 0.01, 100_000.0),
    (T0 + 900 * S, TRADE, NAN, NAN),
    (T0 + 1_200 * S, QUOTE, NAN, 100_500.0),  # an index without a rate: not an observation
    (T0 + 3_600 * S, QUOTE, -0.02, 101_000.0),
    (T0 + 5_000 * S, TRADE, NAN, NAN),
    (T0 + 10_800 * S, QUOTE, NAN, NAN),
])
#: our fills (time reached us, signed amount): long 0.5 at 600 s, sell 0.2 at 1,800 s, sell 0.3 at 7,200 s
FILL_NS = np.array([T0 + 600 * S + FEED, T0 + 1_800 * S + FEED, T0 + 7_200 * S + FEED], dtype=np.int64)
FILL_AMOUNT = np.array([0.5, -0.2, -0.3])


def _expected() -> float:
    """-position x rate x index x dt / 1 day, interval by interval (the rate of each interval's start)."""
    day = DAY_NS
    return (
        -0.5 * 0.01 * 100_000.0 * 1_200 * S / day  # 600 s .. 1,800 s: long 0.5 at 1 %
        - 0.3 * 0.01 * 100_000.0 * 1_800 * S / day  # 1,800 s .. 3,600 s: long 0.3 at 1 %
        - 0.3 * -0.02 * 101_000.0 * 3_600 * S / day  # 3,600 s .. 7,200 s: long 0.3 at -2 % (a long earns)
    )  # flat from 7,200 s to the end


def test_the_ledger_books_the_emulators_formula_on_the_position_between_fills() -> None:
    # Arrange
    ledger = FundingLedger(perpetual=True)
    samples = np.array([T0 + 600 * S + FEED, T0 + 1_200 * S + FEED, T0 + 10_000 * S], dtype=np.int64)
    # Act
    ledger.book(EVENTS, _seen(EVENTS, FEED), FILL_NS, FILL_AMOUNT, samples)
    # Assert
    assert ledger.updates == 2
    assert ledger.funding_usd() == pytest.approx(_expected(), rel=1e-12)
    assert ledger.funding_usd() == pytest.approx(-6.94444 - 6.25 + 25.25, abs=1e-5)  # by hand
    at_1200 = -0.5 * 0.01 * 100_000.0 * 600 * S / DAY_NS
    np.testing.assert_allclose(ledger.sample_funding_usd(), [0.0, at_1200, _expected()], rtol=1e-12)


def test_any_chunking_books_the_same_funding_bit_for_bit() -> None:
    # Arrange: the same history in one chunk and in three (fills and samples booked with the chunk replaying them)
    one = FundingLedger(perpetual=True)
    three = FundingLedger(perpetual=True)
    samples = np.array([T0 + k * 700 * S for k in range(1, 15)], dtype=np.int64)
    # Act
    one.book(EVENTS, _seen(EVENTS, FEED), FILL_NS, FILL_AMOUNT, samples)
    for rows, fills, sampled in ((slice(0, 2), slice(0, 1), slice(0, 1)), (slice(2, 4), slice(1, 2), slice(1, 5)),
                                 (slice(4, 6), slice(2, 3), slice(5, 14))):
        three.book(EVENTS[rows], _seen(EVENTS, FEED)[rows], FILL_NS[fills], FILL_AMOUNT[fills], samples[sampled])
    # Assert
    assert three.funding_usd() == one.funding_usd()
    assert three.sample_funding_usd().tobytes() == one.sample_funding_usd().tobytes()


def test_nothing_accrues_before_a_rate_nor_off_a_perpetual_nor_without_data() -> None:
    # Arrange: a position from the start, the first rate only at 1 h
    late = FundingLedger(perpetual=True)
    future = FundingLedger(perpetual=False)
    blank = FundingLedger(perpetual=True)
    fills = (np.array([T0], dtype=np.int64), np.array([-1.0]))
    no_samples = np.zeros(0, dtype=np.int64)
    # Act
    late.book(EVENTS[3:], _seen(EVENTS[3:], 0), *fills, no_samples)
    future.book(EVENTS, _seen(EVENTS, 0), *fills, no_samples)
    blank_events = EVENTS.copy()
    blank_events["funding_rate_24h"] = np.nan
    blank.book(blank_events, _seen(blank_events, 0), *fills, no_samples)
    # Assert: short 1 from 1 h (a rate of -2 %: the short pays) to the end
    assert late.funding_usd() == pytest.approx(1.0 * -0.02 * 101_000.0 * 7_200 * S / DAY_NS, rel=1e-12)
    assert (future.funding_usd(), future.updates) == (0.0, 0)
    assert (blank.funding_usd(), blank.updates) == (0.0, 0)
    assert FundingLedger(True).funding_usd() == 0.0  # nothing replayed


def test_the_note_says_what_funding_rests_on() -> None:
    assert funding_note(True, 0, "tick") == (
        "funding: the history carries no funding rate or index: funding_usd = 0, not estimated")
    assert "from 12 funding rate observations" in funding_note(True, 12, "tick")
    assert "not a perpetual" in funding_note(False, 0, "tick")
    assert "bars carry no funding rate" in funding_note(True, 0, "bar")


def test_the_kernel_equals_its_pure_python_twin() -> None:
    # Arrange: random events (a fifth without an observation), fills and samples, sorted, with ties between them
    rng = np.random.default_rng(4)
    times = np.sort(rng.integers(T0, T0 + 3_600 * S, 600)).astype(np.int64)
    event_ns, fill_ns, sample_ns = np.sort(times[:300]), np.sort(times[250:450]), np.sort(times[400:])
    rate, index = rng.normal(0.0, 0.01, 300), rng.uniform(90_000.0, 110_000.0, 300)
    rate[rng.random(300) < 0.1] = np.nan
    index[rng.random(300) < 0.1] = np.nan
    amount = rng.normal(0.0, 0.1, 200)
    twin = pure(funding.accrue, funding)
    results = []
    # Act
    for fn in (funding.accrue, twin):
        sti, stf = np.zeros(3, dtype=np.int64), np.zeros(4)
        out = np.zeros(len(sample_ns))
        fn(sti, stf, event_ns + FEED, rate, index, fill_ns, amount, sample_ns, out)
        results.append((sti.tobytes(), stf.tobytes(), out.tobytes()))
    # Assert
    assert results[0] == results[1]
    sti = np.frombuffer(results[0][0], dtype=np.int64)
    assert sti[funding.I_UPDATES] == int((np.isfinite(rate) & np.isfinite(index)).sum())
    assert np.frombuffer(results[0][1])[funding.F_FUNDING] != 0.0

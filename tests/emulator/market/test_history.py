from __future__ import annotations

import itertools

import pytest

from thalex_modular.emulator.market import MarketLookupError, MarketModel

SEC = 1_000_000_000
ROW_LEN = {"perpetual": 7, "future": 6, "option": 10}


def _names(model: MarketModel) -> list[str]:
    kinds: dict[str, str] = {}
    for s in model.instruments():
        kinds.setdefault(s.type, s.instrument_name)
    return list(kinds.values())


def _check_rows(rows: list[list[object]], step_s: int, ohlc_offsets: list[int]) -> None:
    assert rows
    times = [int(r[0]) for r in rows]  # type: ignore[call-overload]
    assert all(b - a == step_s for a, b in itertools.pairwise(times))
    for r in rows:
        for off in ohlc_offsets:
            o, h, low, c = (float(x) for x in r[off : off + 4])  # type: ignore[arg-type]
            assert h >= max(o, c) and low <= min(o, c) and low > 0


def test_seven_days_of_1m_rows_with_api_layouts(model: MarketModel) -> None:
    start_s = model.config.start_ns // SEC
    for name in _names(model):
        spec = model.instrument(name)
        result = model.mark_history(name, start_s - 7 * 86_400, start_s, "1m")
        assert result["instrument_type"] == spec.type and "no_data" not in result
        rows = result["mark"]
        assert isinstance(rows, list) and len(rows) == 7 * 1440
        assert {len(r) for r in rows} == {ROW_LEN[spec.type]}
        _check_rows(rows, 60, [1, 5] if spec.type == "option" else [1])
        tob = rows[0][-1]
        assert isinstance(tob, list) and len(tob) == 4 and tob[2] > (tob[0] or 0)


def test_aggregation_matches_1m_rows_and_tob_is_null(model: MarketModel) -> None:
    start_s = model.config.start_ns // SEC
    lo, hi = start_s - 86_400, start_s
    minute = model.index_history("BTCUSD", lo, hi, "1m")["index"]
    hourly = model.index_history("BTCUSD", lo, hi, "1h")["index"]
    assert isinstance(minute, list) and isinstance(hourly, list)
    assert len(hourly) == 24
    _check_rows(hourly, 3600, [1])
    first = minute[:60]
    assert hourly[0] == [first[0][0], first[0][1], max(r[2] for r in first), min(r[3] for r in first), first[-1][4]]
    perp = model.mark_history("BTC-PERPETUAL", lo, hi, "15m")["mark"]
    perp_1m = model.mark_history("BTC-PERPETUAL", lo, lo + 900, "1m")["mark"]
    assert isinstance(perp, list) and isinstance(perp_1m, list)
    assert all(r[-1] is None for r in perp)
    assert perp[0][5] == pytest.approx(sum(r[5] for r in perp_1m))  # funding payments add up
    daily = model.index_history("BTCUSD", start_s - 7 * 86_400, start_s, "1d")["index"]
    weekly = model.index_history("BTCUSD", start_s - 7 * 86_400, start_s, "1w")["index"]
    assert isinstance(daily, list) and isinstance(weekly, list)
    assert all(int(r[0]) % 86_400 == 0 for r in daily)
    assert all((int(r[0]) - 4 * 86_400) % 604_800 == 0 for r in weekly)  # weeks start on Monday


def test_to_is_exclusive_and_no_data_before_history(model: MarketModel) -> None:
    start_s = model.config.start_ns // SEC
    rows = model.index_history("ETHUSD", start_s - 600, start_s - 300, "1m")["index"]
    assert isinstance(rows, list) and len(rows) == 5 and rows[-1][0] == start_s - 360
    old = model.mark_history("BTC-PERPETUAL", start_s - 30 * 86_400, start_s - 20 * 86_400, "1m")
    assert old == {"instrument_type": "perpetual", "mark": [], "no_data": True}
    future = model.index_history("BTCUSD", start_s + 86_400, start_s + 2 * 86_400, "1m")
    assert future == {"index": []}


def test_live_minutes_extend_history_and_match_the_index(model: MarketModel) -> None:
    start_s = model.config.start_ns // SEC
    now = model.config.start_ns
    closes = []
    for _ in range(300):
        now += SEC
        model.step(now)
        closes.append(model.index_price("BTCUSD"))
    rows = model.index_history("BTCUSD", start_s - 120, start_s + 3600, "1m")["index"]
    assert isinstance(rows, list)
    _check_rows(rows, 60, [1])
    # 300 s after start: the last row is the minute [240, 300) whose close is the current price
    assert rows[-1][0] == start_s + 240
    assert rows[-1][4] == pytest.approx(closes[-1])
    assert rows[-2][4] == pytest.approx(closes[-61])


def test_unknown_names_and_resolution_are_refused(model: MarketModel) -> None:
    start_s = model.config.start_ns // SEC
    with pytest.raises(MarketLookupError, match="resolution"):
        model.index_history("BTCUSD", start_s - 600, start_s, "2m")
    with pytest.raises(MarketLookupError, match="underlying"):
        model.index_history("XRPUSD", start_s - 600, start_s, "1m")
    with pytest.raises(MarketLookupError, match="instrument_name"):
        model.mark_history("BTC-1JAN99", start_s - 600, start_s, "1m")

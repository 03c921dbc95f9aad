"""Issue 13 item 10, the gap report: how long nobody recorded, and whether the subscribe snapshot reached back."""

from __future__ import annotations

import msgspec

from thalex_modular.deployment.record_trades import TradeRecorder
from thalex_modular.platform.adapters.exchanges.thalex import ThalexConfig, ThalexSession
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.domain.entities import Trade

NAME = "BTC-PERPETUAL"
S = 1_000_000_000


def rows(*times_s: float) -> msgspec.Raw:
    """A recent_trades payload: [price, amount, direction, time, instrument]."""
    return msgspec.Raw(msgspec.json.encode([[100.0 + t, 0.1, "buy", t, NAME] for t in times_s]))


def recorder(last_stored_s: float | None) -> tuple[TradeRecorder, list[Trade]]:
    got: list[Trade] = []
    session = ThalexSession(ThalexConfig.local("ws://127.0.0.1:1/ws/api/v2"), LiveClock())
    last = None if last_stored_s is None else round(last_stored_s * S)
    return TradeRecorder(session, NAME, got.append, last), got


def test_a_snapshot_reaching_back_past_the_last_stored_trade_covers_the_gap() -> None:
    rec, got = recorder(last_stored_s=1_000.0)
    rec.on_message(rows(1_012.0, 1_005.0, 998.0, 1_000.0), snapshot=True, ts_local_ns=0)  # newest first
    rec.on_message(rows(1_013.0), snapshot=False, ts_local_ns=0)
    assert [t.ts_exchange_ns // S for t in got] == [1_005, 1_012, 1_013]  # only what was not stored, in order
    assert "gap of 12.0 s since the newest trade recorded before, covered by the subscribe snapshot" in rec.summary()


def test_a_snapshot_not_reaching_back_says_how_much_may_be_missing() -> None:
    rec, got = recorder(last_stored_s=1_000.0)
    rec.on_message(rows(1_030.0, 1_040.0), snapshot=True, ts_local_ns=0)
    assert len(got) == 2
    assert "gap of 40.0 s" in rec.summary() and "did not reach back 30.0 s" in rec.summary()


def test_a_reconnect_snapshot_is_measured_from_the_newest_trade_received() -> None:
    rec, got = recorder(last_stored_s=None)
    rec.on_message(rows(10.0, 11.0), snapshot=True, ts_local_ns=0)
    rec.on_message(rows(12.0), snapshot=False, ts_local_ns=0)
    rec.on_message(rows(11.0, 12.0, 15.0), snapshot=True, ts_local_ns=0)  # after a reconnect
    assert [t.ts_exchange_ns // S for t in got] == [10, 11, 12, 15]
    assert "gap of 3.0 s" in rec.summary() and "covered" in rec.summary()

"""`platform data record`'s public trades, including the snapshot Thalex sends on subscribe, and the gap report.

``recent_trades.<instrument>.single`` first sends a snapshot of the latest trades, then each new trade. The market
feed drops the snapshot (to a quoting strategy it would look like fresh flow); a recorder stores it: after a restart
(or a reconnect) it holds the trades made while nobody recorded, back as far as the venue's snapshot reaches.
Trades of the snapshot not newer than the newest one already known (stored before this run, or received since)
are skipped; the store would skip them anyway (same synthetic ids, same key).

Per instrument, the gap since the newest known trade is measured on the exchange clock at each snapshot: covered
when the snapshot reaches back to it, else the part the snapshot does not reach may be missing trades.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from thalex_modular.platform.adapters.exchanges.thalex import ThalexSession
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_trades
from thalex_modular.platform.domain.entities import Trade

NS_PER_S = 1_000_000_000


@dataclass
class TradeGaps:
    """The gaps of one instrument's trade record, on the exchange clock (ns)."""

    last_known_ns: int | None  # the newest trade stored before this run or received since; None: none known
    snapshots: int = 0
    snapshot_trades: int = 0  # trades of snapshots that were new (stored)
    gap_ns: int = 0  # since the newest known trade, at each snapshot (summed)
    uncovered_ns: int = 0  # the part of those gaps no snapshot reached back to

    def describe(self, name: str) -> str:
        """One line for the summary."""
        if self.snapshots == 0:
            return f"{name}: no trade snapshot received"
        if self.gap_ns == 0:
            return f"{name}: no gap ({self.snapshot_trades} new trades in {self.snapshots} snapshot(s))"
        verdict = ("covered by the subscribe snapshot" if self.uncovered_ns == 0 else
                   f"the snapshot did not reach back {self.uncovered_ns / NS_PER_S:.1f} s of it: trades made then "
                   "may be missing")
        return (f"{name}: gap of {self.gap_ns / NS_PER_S:.1f} s since the newest trade recorded before, {verdict} "
                f"({self.snapshot_trades} trades from {self.snapshots} snapshot(s))")


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, UTC).isoformat(timespec="milliseconds")


def in_time_order(trades: list[Trade]) -> list[Trade]:
    """Oldest first, trades of one time kept in the venue's order (a newest-first snapshot is reversed first)."""
    if len(trades) > 1 and trades[0].ts_exchange_ns > trades[-1].ts_exchange_ns:
        trades = trades[::-1]
    return sorted(trades, key=lambda t: t.ts_exchange_ns)


class TradeRecorder:
    """Subscribes one instrument's ``recent_trades`` on ``session`` and hands every trade to ``on_trade``, snapshots
    included (see the module doc). Register before the session starts.

    Args:
        last_stored_ns: the newest trade the store held before this run (exchange ns), None when it held none or
            could not be asked.
    """

    def __init__(
        self, session: ThalexSession, instrument_name: str, on_trade: Callable[[Trade], None],
        last_stored_ns: int | None,
    ) -> None:
        self.instrument_name = instrument_name
        self.channel = f"recent_trades.{instrument_name}.single"
        self._on_trade = on_trade
        self.gaps = TradeGaps(last_stored_ns)
        session.add_channels([self.channel], self.on_message)

    def on_message(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        """The session's handler of the channel: a snapshot (on subscribe) or new trades."""
        trades = decode_trades(payload, ts_local_ns)
        if snapshot:
            trades = self._new_of_snapshot(in_time_order(trades))
        for trade in trades:
            self._on_trade(trade)
            if self.gaps.last_known_ns is None or trade.ts_exchange_ns > self.gaps.last_known_ns:
                self.gaps.last_known_ns = trade.ts_exchange_ns

    def _new_of_snapshot(self, trades: list[Trade]) -> list[Trade]:
        gaps = self.gaps
        gaps.snapshots += 1
        known = gaps.last_known_ns
        if known is None or not trades:
            gaps.snapshot_trades += len(trades)
            return trades
        new = [t for t in trades if t.ts_exchange_ns > known]
        gaps.snapshot_trades += len(new)
        if new:
            gaps.gap_ns += new[-1].ts_exchange_ns - known
            gaps.uncovered_ns += max(0, trades[0].ts_exchange_ns - known)
        return new

    def summary(self) -> str:
        known = self.gaps.last_known_ns
        tail = "" if known is None else f"; newest trade {_utc(known)}"
        return self.gaps.describe(self.instrument_name) + tail

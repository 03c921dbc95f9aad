"""The deployment's metrics through ``ray.util.metrics``: in the Ray dashboard's metrics view and on the cluster's
Prometheus endpoint, tagged with the instrument.

Updated by each instrument actor's publish loop from its counters (never on the tick path): tickers, requests sent by
kind, fills, position, PnL, quoting state, the tick-to-quote latency histogram (ms), rate-limit lease waits and the
persistence lag.
"""

from __future__ import annotations

from typing import Any

from ray.util.metrics import Counter, Gauge, Histogram

from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState

__all__ = ["InstrumentMetrics"]

_LATENCY_BOUNDARIES_MS = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
_KINDS = ("insert", "amend", "cancel", "mass_quote")
_STATE_CODE = {
    InstrumentState.SYNCING: 0, InstrumentState.QUOTING: 1, InstrumentState.PAUSED: 2, InstrumentState.STOPPED: 3,
    InstrumentState.ERROR: 4,
}


class InstrumentMetrics:
    """One instrument actor's metrics; :meth:`update` takes its latest snapshot and new latency samples."""

    def __init__(self, instrument: str) -> None:
        self._tags = {"instrument": instrument}
        keys = ("instrument",)
        self._tickers = Counter("thalex_tickers_total", "tickers received", tag_keys=keys)
        self._requests = Counter("thalex_requests_total", "order requests sent, by kind", tag_keys=(*keys, "kind"))
        self._fills = Counter("thalex_fills_total", "fills of our orders", tag_keys=keys)
        self._position = Gauge("thalex_position", "position in the underlying", tag_keys=keys)
        self._pnl = Gauge("thalex_pnl_usd", "PnL net of fees (realised + unrealised), USD", tag_keys=keys)
        self._fees = Gauge("thalex_fees_usd", "fees paid, USD", tag_keys=keys)
        self._state = Gauge("thalex_quoting_state",
                            "0 syncing, 1 quoting, 2 paused, 3 stopped, 4 error", tag_keys=keys)
        self._latency = Histogram("thalex_tick_to_quote_ms", "ticker received to its requests written, ms",
                                  boundaries=_LATENCY_BOUNDARIES_MS, tag_keys=keys)
        self._lease_waits = Counter("thalex_lease_waits_total", "times the rate-limit lease ran dry", tag_keys=keys)
        self._persistence_lag = Gauge("thalex_persistence_lag_s", "oldest record not yet shipped, s", tag_keys=keys)
        self._last: dict[str, float] = {}

    def update(self, snapshot: InstrumentSnapshot, latencies_ms: list[float], lease_waits: int = 0,
               persistence_lag_s: float | None = None) -> None:
        tags = self._tags
        self._count(self._tickers, "tickers", snapshot.tickers, tags)
        self._count(self._fills, "fills", snapshot.fills, tags)
        inserts = snapshot.requests_sent - snapshot.amends_sent - snapshot.cancels_sent
        for kind, total in zip(_KINDS, (inserts, snapshot.amends_sent, snapshot.cancels_sent,
                                        snapshot.mass_quotes_sent), strict=True):
            self._count(self._requests, f"requests_{kind}", total, {**tags, "kind": kind})
        self._count(self._lease_waits, "lease_waits", lease_waits, tags)
        self._position.set(snapshot.position, tags=tags)
        self._pnl.set(snapshot.pnl_usd, tags=tags)
        self._fees.set(snapshot.fees_usd, tags=tags)
        self._state.set(_STATE_CODE[snapshot.state], tags=tags)
        for latency in latencies_ms:
            self._latency.observe(latency, tags=tags)
        if persistence_lag_s is not None:
            self._persistence_lag.set(persistence_lag_s, tags=tags)

    def _count(self, counter: Counter, key: str, total: float, tags: dict[str, Any]) -> None:
        """Counters take increments: add what ``total`` grew by since the last update (a restart starts anew)."""
        last = self._last.get(key, 0.0)
        if total > last:
            counter.inc(total - last, tags=tags)
        self._last[key] = total

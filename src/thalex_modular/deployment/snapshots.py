"""What a running instrument tells the rest of the deployment: a snapshot of its state and a stream of events.

Instrument actors publish these to the Controller (pushed, batched, paced), which `platform status` and the API read:
nobody outside calls into an instrument actor to read its state, so no reader ever sits on its tick path. All are
msgspec Structs: cheap to build, picklable (Ray), and encodable to JSON as they are (``msgspec.to_builtins``).

Units: prices USD, amounts in the underlying, money USD, times int ns (``*_ns``) or ms (``*_ms``), vols annualised
fractions (0.5 = 50 %/yr).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from thalex_modular.platform.domain.kill_switch import LimitsUsed

__all__ = [
    "EquityEvent",
    "Event",
    "FillEvent",
    "InstrumentSnapshot",
    "InstrumentState",
    "QuoteEvent",
    "RegimeEvent",
]


class InstrumentState(StrEnum):
    """An instrument actor's lifecycle: ``syncing`` (connecting, compiling, resyncing orders and positions before
    the first quote) → ``quoting`` ⇄ ``paused`` (an operator, the kill switch, stale data, a resync) → ``stopped``;
    or ``error`` with the reason (it cannot quote and says why)."""

    SYNCING = "syncing"
    QUOTING = "quoting"
    PAUSED = "paused"
    STOPPED = "stopped"
    ERROR = "error"


class InstrumentSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's state as its actor last published it."""

    instrument: str
    mode: str
    state: InstrumentState
    reason: str | None = None  # why: the error, or why quoting is held (pause, kill switch, stale data, resync)
    ts_ns: int = 0  # when the snapshot was taken (wall clock)
    started_ns: int = 0  # when this incarnation of the actor started
    incarnation: int = 0  # how many times the actor was (re)started
    node_id: str = ""
    position: float = 0.0
    average_price: float = 0.0
    realised_pnl_usd: float = 0.0  # net of fees
    unrealised_pnl_usd: float = 0.0  # at the mark
    fees_usd: float = 0.0
    mark_price: float | None = None
    index_price: float | None = None
    best_bid_price: float | None = None
    best_bid_amount: float | None = None
    best_ask_price: float | None = None
    best_ask_amount: float | None = None
    bids: tuple[tuple[float, float], ...] = ()  # our open bids (price, remaining), best first
    asks: tuple[tuple[float, float], ...] = ()  # our open asks, best first
    fills: int = 0
    requests_sent: int = 0
    amends_sent: int = 0
    cancels_sent: int = 0
    mass_quotes_sent: int = 0
    rejections: int = 0
    denials: int = 0
    resyncs: int = 0
    tickers: int = 0
    last_tick_age_ms: float | None = None
    tick_to_quote_p50_ms: float | None = None
    tick_to_quote_p99_ms: float | None = None
    regime: str = ""
    risk_multiplier: float = 1.0  # what the regime multiplies the spread and skew by
    sigma_fast_annual: float = 0.0
    sigma_slow_annual: float = 0.0
    atm_iv_annual: float | None = None
    kill_reason: str | None = None
    limits_used: LimitsUsed | None = None  # of the daily loss and drawdown limits, carried over a restart
    # False: the actor has not adopted the carried state (started without it, held; or failed before asking); its PnL,
    # fees and limits used are its own session's alone (the Controller keeps what it kept, and shows the two added)
    carried_adopted: bool = True

    @property
    def pnl_usd(self) -> float:
        """Realised (net of fees) plus unrealised, USD."""
        return self.realised_pnl_usd + self.unrealised_pnl_usd

    @property
    def open_quotes(self) -> int:
        return len(self.bids) + len(self.asks)


class FillEvent(msgspec.Struct, frozen=True, tag="fill"):
    """One of our fills (the trade with its fee, as the exchange books it)."""

    instrument: str
    ts_ns: int
    trade_id: str
    side: str
    price: float
    amount: float
    maker_taker: str
    fee_usd: float


class QuoteEvent(msgspec.Struct, frozen=True, tag="quotes"):
    """Our quotes changed: what rests now, with the market around it."""

    instrument: str
    ts_ns: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    mark_price: float | None
    best_bid_price: float | None
    best_ask_price: float | None


class RegimeEvent(msgspec.Struct, frozen=True, tag="regime"):
    """The regime or the volatility in force changed."""

    instrument: str
    ts_ns: int
    regime: str
    risk_multiplier: float
    sigma_fast_annual: float
    sigma_slow_annual: float
    atm_iv_annual: float | None


class EquityEvent(msgspec.Struct, frozen=True, tag="equity"):
    """A point of the instrument's equity curve."""

    instrument: str
    ts_ns: int
    position: float
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    fees_usd: float

    @property
    def equity_usd(self) -> float:
        return self.realised_pnl_usd + self.unrealised_pnl_usd


Event = FillEvent | QuoteEvent | RegimeEvent | EquityEvent

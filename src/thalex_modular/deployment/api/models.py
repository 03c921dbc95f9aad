"""The API's response bodies (pydantic: FastAPI builds the OpenAPI schema from them). Units as in snapshots.py:
prices USD, amounts in the underlying, money USD, vols annualised fractions, times int ns or ms."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from thalex_modular.deployment.deployment_book import AccountTotals
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState

__all__ = [
    "Account",
    "Action",
    "ControlResult",
    "DeploymentConfig",
    "Fill",
    "Fills",
    "Health",
    "Instrument",
    "Level",
    "Market",
    "Orders",
    "Portfolio",
    "Problem",
    "QuoteSet",
    "StrategyConfig",
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class Problem(_Body):
    """Why a request was refused (401, 404, 503)."""

    detail: str


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    KILL = "kill"


class Health(_Body):
    status: str  # "ok", or "degraded" while the Controller cannot be read
    error: str | None
    feed_age_ms: float | None
    instruments: int
    sse_clients: int
    sse_max_queued_events: int  # the fullest client queue
    sse_dropped_events: int  # dropped from clients' queues so far (clients that fell behind)


class Instrument(_Body):
    instrument: str
    mode: str
    state: InstrumentState
    reason: str | None
    fills: int
    open_quotes: int

    @classmethod
    def of(cls, s: InstrumentSnapshot) -> Instrument:
        return cls(instrument=s.instrument, mode=s.mode, state=s.state, reason=s.reason, fills=s.fills,
                   open_quotes=s.open_quotes)


class Market(_Body):
    """The ticker and book top, the regime and the volatility in force."""

    instrument: str
    ts_ns: int
    mark_price: float | None
    index_price: float | None
    best_bid_price: float | None
    best_bid_amount: float | None
    best_ask_price: float | None
    best_ask_amount: float | None
    last_tick_age_ms: float | None
    regime: str
    risk_multiplier: float  # what the regime multiplies the spread and skew by (the gamma multiplier)
    sigma_fast_annual: float  # realised vol, fast window
    sigma_slow_annual: float  # realised vol, slow window
    atm_iv_annual: float | None
    iv_minus_rv_annual: float | None  # ATM IV minus the slow realised vol

    @classmethod
    def of(cls, s: InstrumentSnapshot) -> Market:
        iv_rv = None if s.atm_iv_annual is None else s.atm_iv_annual - s.sigma_slow_annual
        return cls(instrument=s.instrument, ts_ns=s.ts_ns, mark_price=s.mark_price, index_price=s.index_price,
                   best_bid_price=s.best_bid_price, best_bid_amount=s.best_bid_amount,
                   best_ask_price=s.best_ask_price, best_ask_amount=s.best_ask_amount,
                   last_tick_age_ms=s.last_tick_age_ms, regime=s.regime, risk_multiplier=s.risk_multiplier,
                   sigma_fast_annual=s.sigma_fast_annual, sigma_slow_annual=s.sigma_slow_annual,
                   atm_iv_annual=s.atm_iv_annual, iv_minus_rv_annual=iv_rv)


class Portfolio(_Body):
    instrument: str
    position: float
    average_price: float
    mark_price: float | None
    realised_pnl_usd: float  # net of fees
    unrealised_pnl_usd: float  # at the mark
    fees_usd: float
    pnl_usd: float

    @classmethod
    def of(cls, s: InstrumentSnapshot) -> Portfolio:
        return cls(instrument=s.instrument, position=s.position, average_price=s.average_price,
                   mark_price=s.mark_price, realised_pnl_usd=s.realised_pnl_usd,
                   unrealised_pnl_usd=s.unrealised_pnl_usd, fees_usd=s.fees_usd, pnl_usd=s.pnl_usd)


class Level(_Body):
    price: float
    amount: float


def levels(pairs: Any) -> list[Level]:
    return [Level(price=p, amount=a) for p, a in pairs]


class QuoteSet(_Body):
    """What rested at ``ts_ns``, with the market around it."""

    ts_ns: int
    bids: list[Level]
    asks: list[Level]
    mark_price: float | None
    best_bid_price: float | None
    best_ask_price: float | None


class Orders(_Body):
    """Our open orders now (best first) and the recent history of what rested (oldest first)."""

    instrument: str
    state: InstrumentState
    bids: list[Level]
    asks: list[Level]
    recent: list[QuoteSet]


class Fill(_Body):
    ts_ns: int
    trade_id: str
    side: str
    price: float
    amount: float
    maker_taker: str
    fee_usd: float


class Fills(_Body):
    instrument: str
    total: int  # fills of the session (the list holds the recent ones)
    fills: list[Fill]


class Account(_Body):
    instruments: int
    quoting: int
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    fees_usd: float
    pnl_usd: float
    fills: int
    open_quotes: int
    gross_notional_usd: float

    @classmethod
    def of(cls, a: AccountTotals) -> Account:
        return cls(instruments=a.instruments, quoting=a.quoting, realised_pnl_usd=a.realised_pnl_usd,
                   unrealised_pnl_usd=a.unrealised_pnl_usd, fees_usd=a.fees_usd, pnl_usd=a.pnl_usd, fills=a.fills,
                   open_quotes=a.open_quotes, gross_notional_usd=a.gross_notional_usd)


class DeploymentConfig(_Body):
    mode: str
    network: str
    instruments: list[str]
    strategies: dict[str, dict[str, Any]]  # per instrument, the strategy parameters in force


class StrategyConfig(_Body):
    instrument: str
    strategy: dict[str, Any]


class ControlResult(_Body):
    action: Action
    instruments: list[str]

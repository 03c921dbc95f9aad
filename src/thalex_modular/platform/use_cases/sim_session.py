"""SimSession: the quoting core trading against SimMatchEngine on simulated time.

The driver order follows STYLE 15: advance the clock to the event, deliver exchange answers due by then, feed the
market data to the simulated exchange *before* the strategy, then let the core plan and submit. Used by the demo
and by the benchmark; the backtest runner builds on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from thalex_modular.platform.domain.clock import SimClock
from thalex_modular.platform.domain.entities import Fill, Instrument, OrderUpdate, Ticker, Trade
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.events import OrderDenied, ResyncRequest
from thalex_modular.platform.domain.fees import thalex_maker_fee_bps
from thalex_modular.platform.domain.market.regime import RegimeConfig
from thalex_modular.platform.domain.market.regime_analyzer import MultiWindowRegimeAnalyzer
from thalex_modular.platform.domain.requests import ClientOrderIds, OrderRequest
from thalex_modular.platform.domain.risk import RiskCheck, RiskConfig
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim.results import SimEvent
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.domain.tracking import StateTracker
from thalex_modular.platform.domain.tracking.account_exposure import AccountExposure
from thalex_modular.platform.use_cases.order_reconciler import OrderReconciler, ReconcilePlan
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.strategies.avellaneda_stoikov import AvellanedaStoikovConfig, AvellanedaStoikovStrategy
from thalex_modular.strategies.glft import GlftConfig, GlftStrategy


@dataclass(slots=True)
class SimStats:
    """Running totals of a simulated session. Money in USD, amounts in the underlying."""

    tickers: int = 0
    trades: int = 0
    requests_sent: int = 0
    fills: int = 0
    volume: float = 0.0
    notional_usd: float = 0.0
    fees_usd: float = 0.0
    max_abs_position: float = 0.0
    denials: int = 0
    resyncs: int = 0
    denial_limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimSummary:
    """The end of a simulated session. ``realised_pnl_usd`` is net of fees (``stats.fees_usd``), as in live."""

    stats: SimStats
    position: float
    average_price_usd: float
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    mark_price_usd: float
    open_orders: int
    regime_label: str

    @property
    def total_pnl_usd(self) -> float:
        """Realised (net of fees, as the tracker books them) + unrealised at the mark."""
        return self.realised_pnl_usd + self.unrealised_pnl_usd

    @property
    def gross_capture_usd(self) -> float:
        """What the quotes captured before fees: total PnL plus the fees paid (USD)."""
        return self.total_pnl_usd + self.stats.fees_usd

    @property
    def gross_capture_bps(self) -> float:
        """Gross capture per unit of volume, bps of the traded notional (0 before any fill)."""
        return _bps_of(self.gross_capture_usd, self.stats.notional_usd)

    @property
    def fees_bps(self) -> float:
        """Fees per unit of volume, bps of the traded notional."""
        return _bps_of(self.stats.fees_usd, self.stats.notional_usd)

    @property
    def net_bps(self) -> float:
        """Net PnL per unit of volume, bps of the traded notional: gross capture less fees."""
        return _bps_of(self.total_pnl_usd, self.stats.notional_usd)

    @property
    def net_usd_per_unit(self) -> float:
        """Net PnL per unit of the underlying traded (USD)."""
        return self.total_pnl_usd / self.stats.volume if self.stats.volume else 0.0


def _bps_of(usd: float, notional_usd: float) -> float:
    return usd / notional_usd * 1e4 if notional_usd else 0.0


class SimSession:
    """Drives one :class:`QuotingCore` against one :class:`SimMatchEngine` on a :class:`SimClock`.

    Hooks (each optional): ``on_fill`` gets every fill the tracker emits; ``on_booked`` every fill as the exchange
    books it, with its fee (USD); ``on_request`` every request sent to the exchange (a backtest records them).
    """

    def __init__(
        self,
        core: QuotingCore,
        engine: SimMatchEngine,
        clock: SimClock,
        on_fill: Callable[[Fill], None] | None = None,
        on_booked: Callable[[Fill], None] | None = None,
        on_request: Callable[[OrderRequest], None] | None = None,
    ) -> None:
        self.core = core
        self.engine = engine
        self.clock = clock
        self.stats = SimStats()
        self._on_fill = on_fill
        self._on_booked = on_booked
        self._on_request = on_request

    def on_ticker(self, ticker: Ticker) -> None:
        self._advance(ticker.ts_local_ns)
        self._deliver(self.engine.on_ticker(ticker))
        self.stats.tickers += 1
        self._execute(self.core.on_ticker(ticker, self.clock.now_ns()))
        self.core.after_sends()

    def on_trade(self, trade: Trade) -> None:
        self._advance(trade.ts_local_ns)
        self.stats.trades += 1
        self.core.on_trade(trade)
        if self._deliver(self.engine.on_trade(trade)):
            self._execute(self.core.requote(self.clock.now_ns()))

    def summary(self) -> SimSummary:
        name = self.core.instrument.instrument_name
        position = self.core.tracker.position(name)
        ticker = self.core.last_ticker
        mark = ticker.mark_price if ticker is not None else 0.0
        return SimSummary(
            stats=self.stats,
            position=position.position,
            average_price_usd=position.average_price,
            realised_pnl_usd=position.realised_pnl,
            unrealised_pnl_usd=position.unrealised_pnl(mark) if ticker is not None else 0.0,
            mark_price_usd=mark,
            open_orders=len(self.core.tracker.open_orders(name)),
            regime_label=str(self.core.regime().label),
        )

    # -- internals ----------------------------------------------------------------------------------------

    def deliver_in_flight(self) -> None:
        """After the last market event (a backtest's range ends): step the clock through every request still in
        flight and every answer still due, each at its own time, and handle them (a fill requotes). Without market
        data nothing more can fill; the requests that requote sends are acknowledged in turn."""
        self._advance(None)

    def _advance(self, ts_ns: int | None) -> None:
        """Move the clock to ``ts_ns`` (None: as far as the exchange has something to do) through every time the
        exchange acts or answers before it: an answer is handled when it reaches us (a fill requotes then, as the
        shadow session does), not at the next event."""
        clock, engine = self.clock, self.engine
        due = engine.next_event_ns()
        while due is not None and (ts_ns is None or due <= ts_ns):
            if due > clock.now_ns():
                clock.advance_to(due)
            if self._deliver(engine.advance(clock.now_ns())):
                self._execute(self.core.requote(clock.now_ns()))
            due = engine.next_event_ns()
        if ts_ns is not None and ts_ns > clock.now_ns():
            clock.advance_to(ts_ns)

    def _deliver(self, answers: list[SimEvent]) -> bool:
        """Feed the exchange's answers to the tracker; True when one of them was a fill of ours."""
        filled = False
        tracker = self.core.tracker
        stats = self.stats
        for answer in answers:
            if not isinstance(answer, OrderUpdate):
                self.core.on_request_failed(answer.client_order_id, answer.ts_local_ns, answer.message)
                continue
            for event in self.core.on_order_update(answer):
                if isinstance(event, Fill):
                    filled = True
                    stats.fills += 1
                    stats.volume += event.amount
                    stats.notional_usd += event.price * event.amount
                    if self._on_fill is not None:
                        self._on_fill(event)
                elif isinstance(event, ResyncRequest):
                    stats.resyncs += 1
            if answer.fills:
                for trade in self.engine.booked_trades(answer):  # the fees, as live books trade_history
                    if tracker.on_trade_fee(trade):
                        stats.fees_usd += trade.fee
                    if self._on_booked is not None:
                        self._on_booked(trade)
        if filled:
            position = abs(tracker.position(self.core.instrument.instrument_name).position)
            stats.max_abs_position = max(stats.max_abs_position, position)
        return filled

    def _execute(self, plan: ReconcilePlan) -> None:
        now = self.clock.now_ns()
        for request in plan.requests:
            self.core.register_sent(request, now)
            self.engine.submit(request)
            self.stats.requests_sent += 1
            if self._on_request is not None:
                self._on_request(request)
        self._count_denials(plan.denials)

    def _count_denials(self, denials: list[OrderDenied]) -> None:
        for denial in denials:
            self.stats.denials += 1
            limit = str(denial.limit)
            self.stats.denial_limits[limit] = self.stats.denial_limits.get(limit, 0) + 1


@dataclass(frozen=True, slots=True)
class CoreParameters:
    """One instrument's quoting core; defaults are ``platform run``'s. Units in names (``_ns`` int ns).
    ``maker_fee_bps`` None: the venue's (Thalex's schedule; in a simulated session, the simulator's)."""

    gamma: float = 0.002
    max_position_underlying: float = 0.5
    level_amounts: tuple[float, ...] = (0.01, 0.02, 0.03)
    horizon_s: float = 60.0
    min_spread_ticks: int = 4
    amend_tolerance_ticks: int = 3
    amend_tolerance_bps: float = 1.0
    amount_tolerance: float = 0.5
    max_order_amount: float = 0.1
    max_notional_usd: float = 50_000.0
    max_instrument_notional_usd: float | None = None
    max_account_notional_usd: float | None = None
    max_open_orders: int = 10
    price_band_bps: float = 200.0
    max_mark_age_ns: int | None = None
    fill_report_grace_ns: int = 0
    label: str = "thalex-modular"
    maker_fee_bps: float | None = None
    min_edge_bps: float = 1.5
    sigma_floor_annual: float = 0.2
    model: str = "avellaneda_stoikov"  # or "glft"
    arrival_intensity_per_s: float = 1.0  # GLFT's A


def build_strategy(params: CoreParameters, instrument: Instrument) -> AvellanedaStoikovStrategy:
    """The quoting model of ``params`` for ``instrument`` (a running service takes a new one with
    ``QuotingService.replace_strategy``).

    Raises:
        InvalidValue: an unknown model, or parameters the model's config refuses.
    """
    common = AvellanedaStoikovConfig(
        gamma=params.gamma,
        max_position_underlying=params.max_position_underlying,
        level_amounts=params.level_amounts,
        horizon_s=params.horizon_s,
        min_spread_ticks=params.min_spread_ticks,
        maker_fee_bps=thalex_maker_fee_bps(instrument) if params.maker_fee_bps is None else params.maker_fee_bps,
        min_edge_bps=params.min_edge_bps,
    )
    if params.model == "avellaneda_stoikov":
        return AvellanedaStoikovStrategy(common)
    if params.model == "glft":
        return GlftStrategy(GlftConfig(**dataclasses.asdict(common),
                                       arrival_intensity_per_s=params.arrival_intensity_per_s))
    raise InvalidValue(f"CoreParameters.model must be 'avellaneda_stoikov' or 'glft', was {params.model!r}")


def build_core(
    instrument: Instrument,
    params: CoreParameters | None = None,
    ids: ClientOrderIds | None = None,
    exposure: AccountExposure | None = None,
) -> QuotingCore:
    """Wire tracker, analyzer, A-S strategy, risk and reconciler for one instrument (``exposure``: the account's
    other orders and positions, live)."""
    p = params or CoreParameters()
    strategy = build_strategy(p, instrument)
    risk = RiskCheck(
        RiskConfig(
            max_position=p.max_position_underlying,
            max_order_amount=p.max_order_amount,
            max_notional_usd=p.max_notional_usd,
            max_open_orders=p.max_open_orders,
            price_band_bps=p.price_band_bps,
            max_mark_age_ns=p.max_mark_age_ns,
            max_instrument_notional_usd=p.max_instrument_notional_usd,
            max_account_notional_usd=p.max_account_notional_usd,
        )
    )
    reconciler = OrderReconciler(
        risk, ids or ClientOrderIds(), p.amend_tolerance_ticks, label=p.label,
        amend_tolerance_bps=p.amend_tolerance_bps, amount_tolerance=p.amount_tolerance,
    )
    tracker = StateTracker((instrument,), fill_report_grace_ns=p.fill_report_grace_ns)
    analyzer = MultiWindowRegimeAnalyzer(RegimeConfig(sigma_floor_annual=p.sigma_floor_annual))
    return QuotingCore(instrument, tracker, analyzer, strategy, reconciler, exposure=exposure)


def build_sim_session(
    instrument: Instrument,
    start_ns: int,
    params: CoreParameters | None = None,
    sim_config: SimMatchConfig | None = None,
    on_fill: Callable[[Fill], None] | None = None,
    on_booked: Callable[[Fill], None] | None = None,
    on_request: Callable[[OrderRequest], None] | None = None,
) -> SimSession:
    """A core against the simulator on simulated time; the strategy's maker fee is the simulator's unless
    ``params`` names one. Hooks: see :class:`SimSession`."""
    clock = SimClock(start_ns)
    engine = SimMatchEngine(instrument, clock, sim_config)
    p = params or CoreParameters()
    if p.maker_fee_bps is None:
        p = dataclasses.replace(p, maker_fee_bps=engine.config.maker_fee_bps)
    return SimSession(build_core(instrument, p), engine, clock, on_fill, on_booked, on_request)

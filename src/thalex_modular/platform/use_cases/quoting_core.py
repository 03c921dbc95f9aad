"""QuotingCore: the synchronous tick path of one instrument, shared by live, shadow and backtest.

market data → StateTracker (position, open orders) → RegimeAnalyzer → Strategy → RiskCheck → OrderReconciler
→ a plan of requests. It does no I/O: the caller (QuotingService live/shadow, the backtest runner) sends the
plan's requests to its gateway and feeds the gateway's order updates back through :meth:`on_order_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from thalex_modular.platform.domain.entities import Fill, Instrument, OrderUpdate, Quote, Ticker, Trade
from thalex_modular.platform.domain.enums import PriceReference
from thalex_modular.platform.domain.events import ResyncRequest
from thalex_modular.platform.domain.market.regime import Regime
from thalex_modular.platform.domain.market.regime_analyzer import MultiWindowRegimeAnalyzer
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder, OrderRequest
from thalex_modular.platform.domain.risk import RiskContext
from thalex_modular.platform.domain.tracking import StateTracker
from thalex_modular.platform.use_cases.order_reconciler import OrderReconciler, ReconcilePlan
from thalex_modular.strategies.protocol import QuoteContext, Strategy


class QuotingCore:
    """One instrument's decision loop. Call :meth:`on_ticker` per ticker; send ``plan.requests`` in order after
    registering each with :meth:`register_sent` (PENDING before sending, LESSONS 12).

    Args:
        instrument: the quoted instrument.
        tracker: orders, fills, positions (may be shared by several instruments of one account).
        analyzer: the instrument's regime analyzer (signal state is per instrument, LESSONS 18).
        strategy: the quoting model.
        reconciler: diff + risk; it owns the RiskCheck.
        price_reference: the ticker price quotes are centred on and volatility is measured from (the mark by
            default: our own resting orders move the book mid, never the mark).
    """

    __slots__ = (
        "_last_reference_price", "_last_ticker", "_settled", "analyzer", "instrument", "price_reference",
        "reconciler", "strategy", "tracker",
    )

    def __init__(
        self,
        instrument: Instrument,
        tracker: StateTracker,
        analyzer: MultiWindowRegimeAnalyzer,
        strategy: Strategy,
        reconciler: OrderReconciler,
        price_reference: PriceReference = PriceReference.MARK,
    ) -> None:
        self.instrument = instrument
        self.price_reference = price_reference
        self.tracker = tracker
        self.analyzer = analyzer
        self.strategy = strategy
        self.reconciler = reconciler
        self._last_ticker: Ticker | None = None
        self._last_reference_price = 0.0  # the latest ticker's reference price (USD)
        # (desired quotes, tracker version) of the last reconcile that asked for nothing and denied nothing:
        # the same quotes against the same orders plan nothing again (no risk check ran, none can flip).
        self._settled: tuple[Sequence[Quote], int] | None = None

    @property
    def last_ticker(self) -> Ticker | None:
        return self._last_ticker

    def regime(self) -> Regime:
        return self.analyzer.regime()

    def on_ticker(self, ticker: Ticker, now_ns: int) -> ReconcilePlan:
        """Absorb a ticker and plan the requests that bring our orders to the strategy's quotes."""
        self.observe(ticker)
        return self.requote(now_ns)

    def observe(self, ticker: Ticker) -> None:
        """Absorb a ticker: the regime analyzer sees its reference price; it becomes the latest ticker."""
        price = ticker.reference_price(self.price_reference)
        self.analyzer.update(price, ticker.ts_exchange_ns)
        self._last_ticker = ticker
        self._last_reference_price = price

    def desired_quotes(self, now_ns: int) -> tuple[Sequence[Quote], RiskContext] | None:
        """The strategy's quotes against the latest ticker and the risk context to check them in; None before
        the first ticker."""
        ticker = self._last_ticker
        if ticker is None:
            return None
        position = self.tracker.position_amount(self.instrument.instrument_name)
        regime = self.analyzer.regime()
        ctx = QuoteContext(
            self.instrument,
            ticker,
            self._last_reference_price,
            position,
            regime.quoting_sigma_per_sqrt_s,
            regime.gamma_multiplier,
            now_ns,
        )
        risk_ctx = RiskContext(position, ticker.mark_price, now_ns, ticker.ts_exchange_ns, ticker.index)
        return self.strategy.compute_quotes(ctx), risk_ctx

    def requote(self, now_ns: int) -> ReconcilePlan:
        """Plan against the latest ticker (after a fill, a cool-down, a resync). Empty before the first ticker."""
        wanted = self.desired_quotes(now_ns)
        if wanted is None:
            return ReconcilePlan([], [])
        desired, risk_ctx = wanted
        version = self.tracker.version
        settled = self._settled
        if settled is not None and settled[1] == version and settled[0] == desired and not self.reconciler.halted:
            return ReconcilePlan([], [])
        live = self.tracker.open_orders(self.instrument.instrument_name)
        plan = self.reconciler.reconcile(self.instrument, desired, live, risk_ctx)
        self._settled = (desired, version) if not plan.requests and not plan.denials else None
        return plan

    def pull_quotes(self, now_ns: int) -> ReconcilePlan:
        """Plan cancels of every resting order of the instrument (stale data, toxic flow, shutdown)."""
        ticker = self._last_ticker
        position = self.tracker.position_amount(self.instrument.instrument_name)
        mark = ticker.mark_price if ticker is not None else 1.0
        risk_ctx = RiskContext(position, mark, now_ns)
        return self.reconciler.reconcile(
            self.instrument, (), self.tracker.open_orders(self.instrument.instrument_name), risk_ctx
        )

    def on_trade(self, trade: Trade) -> None:
        self.strategy.on_trade(trade)

    def register_sent(self, request: OrderRequest, ts_ns: int) -> None:
        """Record a request in the tracker just before it is sent (inserts become PENDING)."""
        if isinstance(request, InsertOrder):
            self.tracker.register_pending(request, ts_ns)
        elif isinstance(request, AmendOrder):
            self.tracker.register_amend(request, ts_ns)
        elif isinstance(request, CancelOrder):
            self.tracker.register_cancel(request, ts_ns)

    def on_order_update(self, update: OrderUpdate) -> Sequence[Fill | ResyncRequest]:
        return self.tracker.on_order_update(update)

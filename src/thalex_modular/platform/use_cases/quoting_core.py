"""QuotingCore: the synchronous tick path of one instrument, shared by live, shadow and backtest.

market data → StateTracker (position, open orders) → RegimeAnalyzer → Strategy → RiskCheck → OrderReconciler
→ a plan of requests. It does no I/O: the caller (QuotingService live/shadow, the backtest runner) sends the
plan's requests to its gateway and feeds the gateway's order updates back through :meth:`on_order_update`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from thalex_modular.platform.domain.entities import Fill, Instrument, Order, OrderUpdate, Quote, Ticker, Trade
from thalex_modular.platform.domain.enums import PriceReference, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.events import ResyncRequest
from thalex_modular.platform.domain.market.regime import Regime
from thalex_modular.platform.domain.market.regime_analyzer import MultiWindowRegimeAnalyzer
from thalex_modular.platform.domain.quote_array import QuoteArray, new_quote_array, quotes_into_array
from thalex_modular.platform.domain.requests import AmendOrder, InsertOrder, OrderRequest
from thalex_modular.platform.domain.risk import OpenBook, RiskContext
from thalex_modular.platform.domain.risk_kernel import UNLIMITED_BUDGET
from thalex_modular.platform.domain.tracking import StateTracker
from thalex_modular.platform.domain.tracking.account_exposure import AccountExposure
from thalex_modular.platform.use_cases import reconcile_kernel
from thalex_modular.platform.use_cases.order_reconciler import OrderReconciler, ReconcilePlan
from thalex_modular.platform.use_cases.order_rows import OrderRows
from thalex_modular.strategies.protocol import ArrayStrategy, QuoteContext, Strategy


class QuotingCore:
    """One instrument's decision loop. Call :meth:`on_ticker` per ticker; send ``plan.requests`` in order after
    registering each with :meth:`register_sent` (PENDING before sending, LESSONS 12); then
    :meth:`after_sends`.

    Quotes centre on the latest ticker at once; its price reaches the regime analyzer after the plan for it, so the
    analyzer's update is off the order path: every plan uses the volatility and regime of the tickers before the
    latest one (a one-ticker lag, the same in live, shadow and backtest). Whether :meth:`after_sends` runs before
    the next ticker or not changes no decision: the next ticker applies a pending update first, and plans read the
    inputs captured when their ticker arrived.

    Args:
        instrument: the quoted instrument.
        tracker: orders, fills, positions (may be shared by several instruments of one account).
        analyzer: the instrument's regime analyzer (signal state is per instrument, LESSONS 18).
        strategy: the quoting model.
        reconciler: diff + risk; it owns the RiskCheck.
        price_reference: the ticker price quotes are centred on and volatility is measured from (the mark by
            default: our own resting orders move the book mid, never the mark).
        exposure: the account's orders that are not ours and its positions per the exchange (live); None when the
            account holds nothing else (shadow, backtest).

    Every risk check counts, besides our resting orders, the exposure the tracker and the account know of
    (:meth:`extra_exposure`): fills reported but not received, orders of the account that are not ours, and the
    exchange's position where it is worse than ours on a side.
    """

    __slots__ = (
        "_array_strategy", "_desired", "_desired_from", "_gamma_multiplier", "_last_reference_price", "_last_ticker",
        "_n_desired", "_observed_ts_ns", "_pending_price", "_rows", "_rows_version", "_sigma_per_sqrt_s", "_strategy",
        "_unsynced", "analyzer", "exposure", "instrument", "price_reference", "reconciler", "tracker",
    )

    def __init__(
        self,
        instrument: Instrument,
        tracker: StateTracker,
        analyzer: MultiWindowRegimeAnalyzer,
        strategy: Strategy,
        reconciler: OrderReconciler,
        price_reference: PriceReference = PriceReference.MARK,
        exposure: AccountExposure | None = None,
    ) -> None:
        self.instrument = instrument
        self.price_reference = price_reference
        self.exposure = exposure
        self.tracker = tracker
        self.analyzer = analyzer
        self.reconciler = reconciler
        self._last_ticker: Ticker | None = None
        self._last_reference_price = 0.0  # the latest ticker's reference price (USD)
        self._pending_price: float | None = None  # the latest ticker's price, not yet given to the analyzer (USD)
        self._observed_ts_ns = -1  # ts_exchange_ns of the latest ticker
        # the analyzer's quoting inputs when the latest ticker arrived (through the ticker before it)
        self._sigma_per_sqrt_s, self._gamma_multiplier = analyzer.quoting_inputs()
        # the tick path's arrays: desired quotes as rows (written by an ArrayStrategy, or converted from another
        # strategy's quotes when its ladder object changes) and our resting orders as rows (kept in step with the
        # tracker by register_sent / on_order_update / on_request_failed; reloaded when its version moved else)
        self._desired: QuoteArray = new_quote_array(16)
        self._desired_from: Sequence[Quote] | None = None
        self._n_desired = 0
        self._rows = OrderRows(instrument)
        self._rows_version = -1  # the tracker version the rows match; another one reloads them
        self._unsynced: list[Order] = []  # orders registered since: their rows are written by _sync_registered
        self._strategy: Strategy = strategy
        self._array_strategy: ArrayStrategy | None = None
        self.strategy = strategy

    @property
    def strategy(self) -> Strategy:
        """The quoting model (replaceable, e.g. by a wrapper: an :class:`ArrayStrategy` runs the array path)."""
        return self._strategy

    @strategy.setter
    def strategy(self, strategy: Strategy) -> None:
        self._strategy = strategy
        self._array_strategy = strategy if isinstance(strategy, ArrayStrategy) else None
        self._desired_from = None
        if self._array_strategy is not None and self._array_strategy.max_quotes > self._desired.shape[0]:
            self._desired = new_quote_array(self._array_strategy.max_quotes)

    @property
    def last_ticker(self) -> Ticker | None:
        return self._last_ticker

    def warm_up(self) -> None:
        """Compile (or load from the on-disk cache) the tick path's kernels before the first ticker: seconds on
        the first run after an install, well under one afterwards. Runs them on throwaway copies: no state of
        this core changes."""
        reconcile_kernel.warm_up()
        analyzer = MultiWindowRegimeAnalyzer(self.analyzer.config)
        analyzer.update(100.0, 1)
        analyzer.update(101.0, 2)
        sigma_per_sqrt_s, gamma_multiplier = analyzer.quoting_inputs()
        if self._array_strategy is not None:
            fair_price = self.instrument.price(1_000)
            copy.deepcopy(self._array_strategy).quote_into(
                new_quote_array(self._desired.shape[0]), self.instrument, None, None, fair_price, 0.0,
                sigma_per_sqrt_s, gamma_multiplier, 0,
            )

    @property
    def order_rows(self) -> OrderRows:
        """Our resting orders as the compiled reconcile reads them (kept in step with the tracker)."""
        self._sync_registered()
        return self._rows

    @property
    def order_rows_in_step(self) -> bool:
        """The rows reflect the tracker's current state (False: the next requote reloads them)."""
        return self._rows_version == self.tracker.version

    def regime(self) -> Regime:
        return self.analyzer.regime()

    def on_ticker(self, ticker: Ticker, now_ns: int, budget: int = UNLIMITED_BUDGET) -> ReconcilePlan:
        """Absorb a ticker and plan the requests that bring our orders to the strategy's quotes (at most ``budget``
        amends and inserts)."""
        self.observe(ticker)
        return self.requote(now_ns, budget)

    def observe(self, ticker: Ticker) -> None:
        """Absorb a ticker: it becomes the latest ticker, quoted around from now on; its reference price goes to the
        regime analyzer at :meth:`after_sends` (or when the next ticker arrives).

        Raises:
            InvalidValue: the ticker is older than the latest one (``mark_timestamp`` went back).
        """
        ts_ns = ticker.ts_exchange_ns
        if ts_ns < self._observed_ts_ns:
            raise InvalidValue(
                f"QuotingCore.observe: ticker ts_exchange_ns must be >= the latest {self._observed_ts_ns}, was {ts_ns}"
            )
        if self._pending_price is not None or self._unsynced:
            self.after_sends()
        price = ticker.reference_price(self.price_reference)
        self._sigma_per_sqrt_s, self._gamma_multiplier = self.analyzer.quoting_inputs()
        self._pending_price = price
        self._observed_ts_ns = ts_ns
        self._last_ticker = ticker
        self._last_reference_price = price

    def after_sends(self) -> None:
        """The work a plan leaves for after its requests went out (nothing sent depends on it): the order rows of
        the requests registered since, and the regime analyzer's update with the latest ticker's price. The next
        plan, order update or ticker does it first if this was not called."""
        self._sync_registered()
        price = self._pending_price
        if price is not None:
            self._pending_price = None
            self.analyzer.update(price, self._observed_ts_ns)

    def desired_quotes(self, now_ns: int) -> tuple[Sequence[Quote], RiskContext, OpenBook] | None:
        """The strategy's quotes against the latest ticker, the risk context to check them in, and the exposure per
        side besides our orders (:meth:`extra_exposure`); None before the first ticker."""
        ticker = self._last_ticker
        if ticker is None:
            return None
        name = self.instrument.instrument_name
        position = self.tracker.position_amount(name)
        ctx = QuoteContext(
            self.instrument, ticker, self._last_reference_price, position, self._sigma_per_sqrt_s,
            self._gamma_multiplier, now_ns,
        )
        extra_bids, extra_asks, other_notional = self.extra_exposure(position)
        risk_ctx = RiskContext(
            position, ticker.mark_price, now_ns, ticker.ts_local_ns, ticker.index, ticker.collar_low,
            ticker.collar_high, other_notional,
        )
        return self.strategy.compute_quotes(ctx), risk_ctx, OpenBook(extra_bids, extra_asks, 0)

    def extra_exposure(self, position: float) -> tuple[float, float, float]:
        """What risk counts besides ``position`` and our resting orders: (bids, asks) in the underlying, fills
        reported but not received, the account's orders that are not ours, and the exchange's position where it is
        worse than ours on that side; and the account's other instruments' notional (USD)."""
        name = self.instrument.instrument_name
        tracker = self.tracker
        bids = tracker.provisional_amount(name, Side.BUY)
        asks = tracker.provisional_amount(name, Side.SELL)
        exposure = self.exposure
        if exposure is None:
            return bids, asks, 0.0
        bids += exposure.open_amount(name, Side.BUY)
        asks += exposure.open_amount(name, Side.SELL)
        exchange = exposure.exchange_position(name)
        if exchange is not None:
            if exchange > position:
                bids += exchange - position
            else:
                asks += position - exchange
        return bids, asks, exposure.other_notional_usd(name)

    def equity_usd(self) -> float:
        """Realised PnL (net of fees) plus unrealised PnL at the latest mark, USD."""
        position = self.tracker.position(self.instrument.instrument_name)
        ticker = self._last_ticker
        return position.realised_pnl + (position.unrealised_pnl(ticker.mark_price) if ticker is not None else 0.0)

    def requote(self, now_ns: int, budget: int = UNLIMITED_BUDGET) -> ReconcilePlan:
        """Plan against the latest ticker (after a fill, a cool-down, a resync), at most ``budget`` amends and
        inserts. Empty before the first ticker."""
        ticker = self._last_ticker
        array_strategy = self._array_strategy
        if ticker is None or array_strategy is None or self.reconciler.halted:
            return self._requote_from_quotes(now_ns, budget)
        instrument = self.instrument
        tracker = self.tracker
        position = tracker.position_amount(instrument.instrument_name)
        n_desired = array_strategy.quote_into(
            self._desired, instrument, ticker.best_bid_price, ticker.best_ask_price, self._last_reference_price,
            position, self._sigma_per_sqrt_s, self._gamma_multiplier, now_ns,
        )
        self._desired_from = None
        if self._unsynced:
            self._sync_registered()
        if tracker.version != self._rows_version:
            self._reload_rows()
        extra_bids, extra_asks, other_notional = self.extra_exposure(position)
        return self.reconciler.plan_at(
            instrument, self._desired, n_desired, self._rows, position, ticker, now_ns, extra_bids, extra_asks,
            other_notional, budget,
        )

    def _requote_from_quotes(self, now_ns: int, budget: int) -> ReconcilePlan:
        """:meth:`requote` through ``compute_quotes`` (a strategy without arrays, or the kill switch engaged)."""
        wanted = self.desired_quotes(now_ns)
        if wanted is None:
            return ReconcilePlan([], [])
        desired, risk_ctx, extra = wanted
        reconciler = self.reconciler
        if reconciler.halted:
            return reconciler.reconcile(
                self.instrument, desired, self.tracker.open_orders(self.instrument.instrument_name), risk_ctx
            )
        if desired is not self._desired_from:
            if len(desired) > self._desired.shape[0]:
                self._desired = new_quote_array(2 * len(desired))
            self._n_desired = quotes_into_array(desired, self._desired)
            self._desired_from = desired
        self._sync_registered()
        if self.tracker.version != self._rows_version:
            self._reload_rows()
        return reconciler.plan(
            self.instrument, self._desired, self._n_desired, self._rows, risk_ctx, extra.bid_amount,
            extra.ask_amount, budget,
        )

    def _reload_rows(self) -> None:
        self._unsynced.clear()  # the load covers them
        self._rows.load(self.tracker.open_orders(self.instrument.instrument_name))
        self._rows_version = self.tracker.version

    def _sync_registered(self) -> None:
        """Write the rows of the orders registered since the last call, in registration order (as an immediate
        sync would have)."""
        unsynced = self._unsynced
        if unsynced:
            sync = self._rows.sync
            for order in unsynced:
                sync(order)
            unsynced.clear()

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
        """Record a request in the tracker just before it is sent (inserts become PENDING). Its order row is written
        after the sends (:meth:`after_sends`), or before anything reads the rows."""
        tracker = self.tracker
        in_step = tracker.version == self._rows_version
        if isinstance(request, InsertOrder):
            order = tracker.register_pending(request, ts_ns)
        elif isinstance(request, AmendOrder):
            order = tracker.register_amend(request, ts_ns)
        else:
            order = tracker.register_cancel(request, ts_ns)
        if in_step:
            self._unsynced.append(order)
            self._rows_version = tracker.version

    def on_order_update(self, update: OrderUpdate) -> Sequence[Fill | ResyncRequest]:
        """Apply an exchange order update to the tracker; returns its fills and resync requests."""
        tracker = self.tracker
        self._sync_registered()
        in_step = tracker.version == self._rows_version
        events = tracker.on_order_update(update)
        self._track(in_step, tracker.last_updated_order)
        if update.fills:  # our own fills reach the strategy (kappa must not learn from their prints)
            for event in events:
                if type(event) is Fill:
                    self._strategy.on_own_fill(event)
        return events

    def on_request_failed(self, client_order_id: int, ts_ns: int, reason: str) -> Order | None:
        """The request in flight for this order got an error response (see StateTracker.on_request_failed)."""
        self._sync_registered()
        in_step = self.tracker.version == self._rows_version
        order = self.tracker.on_request_failed(client_order_id, ts_ns, reason)
        self._track(in_step, order)
        return order

    def _track(self, in_step: bool, order: Order | None) -> None:
        """Keep the order rows in step with one tracker change to ``order``; when they were already behind, or
        the changed order is unknown, the next requote reloads them."""
        if in_step and order is not None:
            self._rows.sync(order)
            self._rows_version = self.tracker.version

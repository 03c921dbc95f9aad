"""InstrumentHost: one instrument's runtime as a deployment runs it (inside its Ray actor, or any process).

It builds the instrument's :class:`~.instrument_runtime.InstrumentRuntime` (the same ``build_live`` /
``build_shadow`` as ``platform run``: the tick path compiled before any connection, open orders and positions
resynced from the exchange before the first quote), tells its state (:class:`~.snapshots.InstrumentState`), takes
the operator's commands (pause, resume, kill switch, stop, strategy parameters), and collects what the rest of the
deployment reads: a snapshot and the events since the last collection (fills, quote changes, regime changes, equity
points). Collecting is done off the tick path, by the actor's publish loop. No Ray here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from thalex_modular.deployment.carried_state import AWAITING_CARRIED, CarriedState, adopt_late
from thalex_modular.deployment.config import RunConfig, StrategySettings
from thalex_modular.deployment.instrument_runtime import InstrumentRuntime, build_runtime, service_parts
from thalex_modular.deployment.options_vol_feed import publish_implied_vol
from thalex_modular.deployment.snapshots import (
    EquityEvent,
    Event,
    FillEvent,
    InstrumentSnapshot,
    InstrumentState,
    QuoteEvent,
    RegimeEvent,
)
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import TokenSource
from thalex_modular.platform.domain.entities import Fill, OrderUpdate
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.services.options_vol import VolSnapshot
from thalex_modular.platform.use_cases.ports import SessionJournal
from thalex_modular.platform.use_cases.recording_sink import MarketRecorder
from thalex_modular.platform.use_cases.sim_session import build_strategy

__all__ = ["InstrumentHost"]

log = logging.getLogger(__name__)

Builder = Callable[..., Awaitable[InstrumentRuntime]]
Command = Callable[[InstrumentRuntime], object]


class _Tee:
    """The service's journal: our trades become fill events here and go on to persistence (when there is one)."""

    __slots__ = ("_downstream", "_fills", "_name")

    def __init__(self, name: str, downstream: SessionJournal | None) -> None:
        self._name = name
        self._downstream = downstream
        self._fills: list[Event] = []

    def order(self, update: OrderUpdate) -> None:
        if self._downstream is not None:
            self._downstream.order(update)

    def trade(self, fill: Fill) -> None:
        self._fills.append(FillEvent(
            fill.instrument_name, fill.ts_exchange_ns, fill.trade_id, fill.side.value, fill.price, fill.amount,
            fill.maker_taker.value, fill.fee,
        ))
        if self._downstream is not None:
            self._downstream.trade(fill)

    def drain(self) -> list[Event]:
        fills, self._fills = self._fills, []
        return fills


class InstrumentHost:
    """One instrument of a deployment.

    Args:
        config: the instrument's run config (``config.instrument``); live credentials come separately.
        tokens: the session's rate limiter (a lease from the account-wide one), None for its own buckets.
        journal: where our orders and trades go (persistence), None for nowhere.
        market: where the tickers and public trades it sees go (recording market data), None for nowhere.
        credentials: live credentials (read on the actor's node), None to read them from ``config``.
        incarnation: how many times this instrument's actor has started (1 = first).
        node_id: where it runs (shown in the status).
        builder: builds the runtime (``build_runtime``; tests may pass another).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        tokens: TokenSource | None = None,
        journal: SessionJournal | None = None,
        market: MarketRecorder | None = None,
        credentials: Any = None,
        incarnation: int = 1,
        node_id: str = "",
        builder: Builder = build_runtime,
    ) -> None:
        self.config = config
        self.name = config.instrument
        self.runtime: InstrumentRuntime | None = None
        self._tokens = tokens
        self._tee = _Tee(self.name, journal)
        self._market = market
        self._credentials = credentials
        self._builder = builder
        self._incarnation = incarnation
        self._node_id = node_id
        self._started_ns = time.time_ns()
        self._state = InstrumentState.SYNCING
        self._error: str | None = None
        self._stopped = False
        self._last_quotes: tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]] | None = None
        self._last_regime: tuple[str, float] | None = None
        self._last_equity_ns = 0
        self.carried = CarriedState()
        self._building = False
        self._pending: list[Command] = []  # commands taken while the runtime was being built, applied once it is
        self._adopted = False
        self._awaiting = False
        self._resumed_while_awaiting = False
        self._strategy_set_while_awaiting = False

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def started_ns(self) -> int:
        """When this incarnation started (wall clock): it names the session to the Controller."""
        return self._started_ns

    @property
    def adopted(self) -> bool:
        """It took the deployment's carried state (:meth:`adopt`): its figures include the earlier sessions'. Until
        then (started without it, or failed before asking) they are this session's alone."""
        return self._adopted

    @property
    def awaiting_carried(self) -> bool:
        """Started without the deployment's carried state (see :meth:`await_carried`), not adopted yet."""
        return self._awaiting

    def await_carried(self) -> None:
        """The deployment's carried state could not be fetched: hold (:data:`AWAITING_CARRIED`) until :meth:`adopt`
        brings it; meanwhile the reports say so, and count this session's PnL, fees and limits alone."""
        self._awaiting = True
        self._resumed_while_awaiting = self._strategy_set_while_awaiting = False
        self.pause(AWAITING_CARRIED)

    def adopt(self, carried: CarriedState) -> None:
        """Take what the deployment kept of the instrument: its strategy parameters, its pause or kill switch, the
        loss limits used, and the PnL and fees of its earlier sessions, which the reports add to this one's.

        Before :meth:`start` (a restarted actor) the build applies them from the first quote on. After
        :meth:`await_carried` (known late, whether the runtime is built or not) they join what this session did
        since, as :func:`~.carried_state.adopt_late` says.

        Raises:
            pydantic.ValidationError: the kept strategy no longer fits the config model (nothing is adopted then).
        """
        if not self._awaiting:
            if carried.strategy is not None:
                self._use_strategy(carried.strategy)
            self.carried = carried
            self._adopted = True
            return
        plan = adopt_late(self.carried, carried, resumed=self._resumed_while_awaiting,
                          strategy_set=self._strategy_set_while_awaiting)
        kept_strategy = None if self._strategy_set_while_awaiting else plan.carried.strategy
        if kept_strategy is not None:
            self._use_strategy(kept_strategy)
            self._command(self._replace_strategy)
        self.carried = plan.carried
        self._awaiting = False
        self._adopted = True
        limits, kill, pause = plan.limits_used, plan.kill, plan.pause
        if limits is not None:
            self._command(lambda runtime: runtime.service.controls.carry(limits))
        if kill is not None:
            self._command(lambda runtime: runtime.service.controls.kill(kill))
        if pause is not None:
            self._command(lambda runtime: runtime.service.controls.pause(pause))
        if plan.lift_awaiting:
            self._command(lambda runtime: runtime.service.controls.lift_pause(AWAITING_CARRIED))
        log.warning("%s: adopted the carried state late (%s)", self.name, self.state.value)

    def _use_strategy(self, strategy: dict[str, Any]) -> None:
        """Quote with the kept ``strategy`` parameters (validated by the config model: ValidationError if refused)."""
        self.config = self.config.model_copy(update={"strategy": StrategySettings.model_validate(strategy)})

    def _command(self, command: Command) -> None:
        """Apply ``command`` to the runtime now, or once it is built; before the build, ``carried`` says it all."""
        if self.runtime is not None:
            command(self.runtime)
        elif self._building:
            self._pending.append(command)

    def current_carried(self) -> CarriedState:
        """What a successor must be handed now: with a kill switch the service tripped by itself (a limit), which only
        a resume lifts, the limits used and the PnL and fees so far."""
        carried = self.carried
        runtime = self.runtime
        if runtime is None:
            return carried
        service = runtime.service
        tripped = service.core.reconciler.risk.kill_reason
        if carried.kill_reason is None and tripped is not None:
            carried = carried.kill(tripped)
        return carried.reported(service.controls.limits_used(), *self._realised_and_fees_usd())

    def _realised_and_fees_usd(self) -> tuple[float, float]:
        """Realised PnL (net of fees) and fees, USD, of this and the earlier sessions of the instrument."""
        carried = self.carried
        runtime = self.runtime
        if runtime is None:
            return carried.realised_pnl_usd, carried.fees_usd
        tracker = runtime.service.core.tracker
        return (carried.realised_pnl_usd + tracker.position(self.name).realised_pnl,
                carried.fees_usd + tracker.fees_usd(self.name))

    async def start(self) -> None:
        """Build and start the runtime: ``syncing`` until open orders and positions are resynced and quoting runs;
        ``error`` with the reason when it cannot start (nothing is quoted then). Never raises."""
        self._state = InstrumentState.SYNCING
        self._building = True
        try:
            runtime = await self._builder(
                self.config, tokens=self._tokens, journal=self._tee, market=self._market,
                credentials=self._credentials, carried=self.carried,
            )
        except Exception as exc:  # a deployment reports why an instrument cannot quote instead of dying
            log.exception("%s: cannot start", self.name)
            self.fail(f"cannot start: {type(exc).__name__}: {exc}")
            return
        finally:
            self._building = False
        self.runtime = runtime
        pending, self._pending = self._pending, []
        for command in pending:  # the build applied ``carried`` as it was when the build began
            command(runtime)
        if self._stopped:  # stopped while starting
            await runtime.stop()

    async def stop(self) -> int:
        """Kill switch, pull and cancel every order of ours, close the connection. Returns how many of our orders
        the exchange still held afterwards (0: clean; -1: the exchange could not be asked)."""
        self._stopped = True
        runtime = self.runtime
        if runtime is None:
            return 0
        runtime.service.controls.kill("deployment stopping")
        return await runtime.stop()

    def fail(self, reason: str) -> None:
        """The instrument cannot quote: ``error`` with the reason (e.g. no credentials on its node)."""
        self._state = InstrumentState.ERROR
        self._error = reason

    # -- operator commands ------------------------------------------------------------------------------------

    # A command that arrives while the runtime is being built is kept in ``carried``, which the build applies.

    def pause(self, reason: str = "operator") -> None:
        self.carried = self.carried.pause(reason)
        self._command(lambda runtime: runtime.service.controls.pause(reason))

    def resume(self) -> None:
        if self._awaiting:
            self._resumed_while_awaiting = True
        self.carried = self.carried.resume()
        self._command(lambda runtime: runtime.service.controls.resume())

    def kill(self, reason: str = "operator") -> None:
        self.carried = self.carried.kill(reason)
        self._command(lambda runtime: runtime.service.controls.kill(reason))

    def set_implied_vol(self, snap: VolSnapshot) -> None:
        """The underlying's vol snapshot (from the deployment's options follower) into the regime analyzer."""
        if self.runtime is not None:
            publish_implied_vol(snap, self.runtime.service.core.analyzer)

    def update_strategy(self, settings: StrategySettings) -> None:
        """Quote with new strategy parameters from the next tick on (validated by the config model already); while
        the runtime is being built, from its first quote."""
        if self._awaiting:
            self._strategy_set_while_awaiting = True
        self.config = self.config.model_copy(update={"strategy": settings})
        self.carried = self.carried.with_strategy(settings.model_dump(mode="json"))
        self._command(self._replace_strategy)

    def _replace_strategy(self, runtime: InstrumentRuntime) -> None:
        params = service_parts(self.config)[0]
        runtime.service.replace_strategy(build_strategy(params, runtime.instrument), params.amend_tolerance_ticks,
                                         params.amend_tolerance_bps, params.amount_tolerance)

    # -- what the deployment reads ---------------------------------------------------------------------------

    @property
    def state(self) -> InstrumentState:
        return self._current_state()[0]

    def _current_state(self) -> tuple[InstrumentState, str | None]:
        if self._state is InstrumentState.ERROR:
            return InstrumentState.ERROR, self._error
        runtime = self.runtime
        if self._stopped:
            return InstrumentState.STOPPED, None
        if runtime is None:
            return InstrumentState.SYNCING, "starting"
        failure = runtime.session.failure
        if failure is not None:
            self.fail(f"session ended: {failure}")
            return InstrumentState.ERROR, self._error
        service = runtime.service
        if service.quoting:
            return InstrumentState.QUOTING, None
        held = service.controls.held_reason
        if held is not None:
            return InstrumentState.PAUSED, held
        if not runtime.gateway.ready or service.resyncs.resyncing:
            return InstrumentState.SYNCING, "resyncing with the exchange"
        now = time.time_ns()
        return InstrumentState.PAUSED, service.pull_reason(now) or "waiting for market data"

    def snapshot(self) -> InstrumentSnapshot:
        """The instrument's state now."""
        state, reason = self._current_state()
        now = time.time_ns()
        realised_usd, fees_usd = self._realised_and_fees_usd()
        base = InstrumentSnapshot(
            instrument=self.name, mode=self.config.mode.value, state=state, reason=reason, ts_ns=now,
            started_ns=self._started_ns, incarnation=self._incarnation, node_id=self._node_id,
            realised_pnl_usd=realised_usd, fees_usd=fees_usd, carried_adopted=self._adopted,
        )
        runtime = self.runtime
        if runtime is None:
            return base
        service = runtime.service
        core = service.core
        stats = service.stats
        position = core.tracker.position(self.name)
        ticker = core.last_ticker
        regime = core.regime()
        bids, asks = self._quotes()
        p50, p99 = stats.tick_to_quote.percentiles_ms(0.5, 0.99)
        return msgspec.structs.replace(
            base,
            position=position.position, average_price=position.average_price,
            unrealised_pnl_usd=position.unrealised_pnl(ticker.mark_price) if ticker is not None else 0.0,
            mark_price=None if ticker is None else ticker.mark_price,
            index_price=None if ticker is None else ticker.index,
            best_bid_price=None if ticker is None else ticker.best_bid_price,
            best_bid_amount=None if ticker is None else ticker.best_bid_amount,
            best_ask_price=None if ticker is None else ticker.best_ask_price,
            best_ask_amount=None if ticker is None else ticker.best_ask_amount,
            bids=bids, asks=asks, fills=stats.fills, requests_sent=stats.requests_sent,
            amends_sent=stats.amends_sent, cancels_sent=stats.cancels_sent, mass_quotes_sent=stats.mass_quotes_sent,
            rejections=stats.rejections, denials=stats.denials, resyncs=stats.resyncs, tickers=stats.tickers,
            last_tick_age_ms=None if ticker is None else (now - ticker.ts_local_ns) / 1e6,
            tick_to_quote_p50_ms=None if p50 != p50 else p50, tick_to_quote_p99_ms=None if p99 != p99 else p99,
            regime=str(regime.label), risk_multiplier=regime.risk_multiplier,
            sigma_fast_annual=regime.sigma_fast_annual, sigma_slow_annual=regime.sigma_slow_annual,
            atm_iv_annual=regime.atm_iv_annual, kill_reason=stats.kill_reason,
            limits_used=service.controls.limits_used(),
        )

    def collect_events(self, equity_every_ns: int = 1_000_000_000) -> list[Event]:
        """The events since the last call: fills, a change of our quotes, of the regime, and an equity point at
        most every ``equity_every_ns``."""
        events = self._tee.drain()
        runtime = self.runtime
        if runtime is None:
            return events
        now = time.time_ns()
        core = runtime.service.core
        ticker = core.last_ticker
        quotes = self._quotes()
        if quotes != self._last_quotes:
            self._last_quotes = quotes
            events.append(QuoteEvent(
                self.name, now, quotes[0], quotes[1], None if ticker is None else ticker.mark_price,
                None if ticker is None else ticker.best_bid_price, None if ticker is None else ticker.best_ask_price,
            ))
        regime = core.regime()
        key = (str(regime.label), round(regime.risk_multiplier, 6))
        if key != self._last_regime:
            self._last_regime = key
            events.append(RegimeEvent(
                self.name, now, key[0], regime.risk_multiplier, regime.sigma_fast_annual, regime.sigma_slow_annual,
                regime.atm_iv_annual,
            ))
        if now - self._last_equity_ns >= equity_every_ns:
            self._last_equity_ns = now
            position = core.tracker.position(self.name)
            realised_usd, fees_usd = self._realised_and_fees_usd()
            events.append(EquityEvent(
                self.name, now, position.position, realised_usd,
                position.unrealised_pnl(ticker.mark_price) if ticker is not None else 0.0, fees_usd,
            ))
        return events

    def _quotes(self) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        runtime = self.runtime
        if runtime is None:
            return (), ()
        orders = runtime.service.core.tracker.open_orders(self.name)
        bids = sorted(((o.price, o.remaining_amount) for o in orders if o.side is Side.BUY), reverse=True)
        asks = sorted((o.price, o.remaining_amount) for o in orders if o.side is Side.SELL)
        return tuple(bids), tuple(asks)

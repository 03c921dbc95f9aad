"""InstrumentRuntime: one instrument's QuotingService wired for shadow or live mode (``platform run``; the Ray
instrument actor reuses it).

Only :func:`build_live` constructs a live order gateway, and only it reads credentials (LESSONS 1). Shadow mode
opens a public-only session (no login: the exchange would refuse every order on it anyway) and sends its orders to
a SimGateway; nothing in its wiring can reach Thalex's order entry.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from thalex_modular.deployment.carried_state import CarriedState
from thalex_modular.deployment.config import CredentialSettings, Network, RunConfig, RunMode
from thalex_modular.deployment.core_settings import core_parameters, sim_match_config
from thalex_modular.deployment.options_vol_feed import OptionsVolFeed, start_options_vol
from thalex_modular.deployment.order_sizes import fit_order_sizes
from thalex_modular.platform.adapters.exchanges.thalex.auth import ThalexCredentials
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_instrument
from thalex_modular.platform.adapters.exchanges.thalex.config import (
    Network as ThalexNetwork,
    RateLimitConfig,
    ReconnectConfig,
    ThalexConfig,
)
from thalex_modular.platform.adapters.exchanges.thalex.errors import ThalexError
from thalex_modular.platform.adapters.exchanges.thalex.gateway import MassQuote, ResyncSnapshot, ThalexGateway
from thalex_modular.platform.adapters.exchanges.thalex.market_feed import ThalexMarketFeed
from thalex_modular.platform.adapters.exchanges.thalex.session import ThalexSession
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import TokenSource
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.sim_gateway import SimGateway
from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind
from thalex_modular.platform.domain.kill_switch import KillSwitchConfig
from thalex_modular.platform.domain.market.toxic_flow import ToxicFlowConfig, ToxicFlowDetector
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.domain.tracking.account_exposure import OrderOwnership
from thalex_modular.platform.use_cases.mass_quoting import Level, MassQuoteSettings
from thalex_modular.platform.use_cases.ports import SessionJournal
from thalex_modular.platform.use_cases.quoting_service import QuotingService
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig
from thalex_modular.platform.use_cases.recording_sink import MarketRecorder, recording
from thalex_modular.platform.use_cases.resync import ExchangeState
from thalex_modular.platform.use_cases.sim_session import CoreParameters, build_core

__all__ = [
    "CredentialsMissing", "InstrumentRuntime", "RuntimeStatus", "build_live", "build_runtime", "build_shadow",
    "compile_tick_path",
]

log = logging.getLogger(__name__)
_MS: Final = 1_000_000
_START_TIMEOUT_S: Final = 30.0
#: Only the kernels' argument types matter for compiling them: any instrument compiles the same code.
_COMPILE_INSTRUMENT: Final = Instrument("COMPILE-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001)


class CredentialsMissing(ValueError):
    """Live mode without a key; the message names the environment variables to set."""


class _ThalexMassQuoter:
    """The service's MassQuoter port over ThalexGateway.mass_quote (one instrument per call)."""

    def __init__(self, gateway: ThalexGateway, label: str) -> None:
        self._gateway = gateway
        self._label = label

    async def set_mm_protection(self, product: str, trade_amount: float, quote_amount: float) -> None:
        await self._gateway.set_mm_protection(product, trade_amount, quote_amount)

    async def mass_quote(
        self, instrument_name: str, bids: Sequence[Level], asks: Sequence[Level], *, post_only: bool = True
    ) -> int:
        result = await self._gateway.mass_quote(
            [MassQuote(instrument_name, bids, asks)], label=self._label, post_only=post_only
        )
        if result.n_fail:
            log.warning("%s: mass quote sides failed: %s", instrument_name, result.errors)
        return int(result.n_fail)


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """One status line: position (underlying), PnL (USD, realised net of fees), open quotes, regime."""

    mode: str
    instrument: str
    position: float
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    open_quotes: int
    regime: str
    quoting: bool
    fills: int
    requests_sent: int
    fees_usd: float
    held: str | None = None  # why quoting is held (an operator's pause, the kill switch), None when it is not
    atm_iv_annual: float | None = None  # the regime's constant-maturity implied vol, when options feed it
    iv_rv_ratio: float | None = None

    def line(self) -> str:
        held = "" if self.held is None else f" held=({self.held})"
        vol = "" if self.atm_iv_annual is None else f" iv={self.atm_iv_annual:.1%}"
        if self.iv_rv_ratio is not None:
            vol += f" iv/rv={self.iv_rv_ratio:.2f}"
        return (
            f"[{self.mode}] {self.instrument} position={self.position:+.4f} "
            f"pnl_usd={self.realised_pnl_usd + self.unrealised_pnl_usd:+.2f} open_quotes={self.open_quotes} "
            f"regime={self.regime}{vol} quoting={'yes' if self.quoting else 'no'} fills={self.fills} "
            f"requests={self.requests_sent} fees_usd={self.fees_usd:.2f}{held}"
        )


class InstrumentRuntime:
    """A started session + feed + gateway + service. Build with :func:`build_runtime`."""

    def __init__(
        self,
        mode: RunMode,
        session: ThalexSession,
        service: QuotingService,
        instrument: Instrument,
        gateway: ThalexGateway | SimGateway,
        options_vol: OptionsVolFeed | None = None,
    ) -> None:
        self.mode = mode
        self.session = session
        self.service = service
        self.instrument = instrument
        self.gateway = gateway
        self.options_vol = options_vol

    def status(self) -> RuntimeStatus:
        core = self.service.core
        name = self.instrument.instrument_name
        position = core.tracker.position(name)
        ticker = core.last_ticker
        regime = core.regime()
        return RuntimeStatus(
            self.mode.value, name, position.position, position.realised_pnl,
            position.unrealised_pnl(ticker.mark_price) if ticker is not None else 0.0,
            len(core.tracker.open_orders(name)), str(regime.label), self.service.quoting,
            self.service.stats.fills, self.service.stats.requests_sent, core.tracker.fees_usd(name),
            self.service.controls.held_reason, regime.atm_iv_annual, regime.iv_rv_ratio,
        )

    async def stop(self) -> int:
        """Clean stop: quoting off, every order of ours pulled (live: each by order_id, our orders adopted from an
        earlier session included, then ``cancel_session`` for anything still in flight; shadow: the simulated
        exchange's), connections closed. Orders of the account that are not ours are left alone.

        Returns how many of our orders the exchange still held after the cancels (0: a clean stop; -1: unknown, the
        exchange could not be asked; cancel-on-disconnect then pulls this session's orders)."""
        if self.options_vol is not None:
            await self.options_vol.stop()
        remaining = -1
        try:
            await self.service.stop(cancel_orders=True)
            if isinstance(self.gateway, SimGateway):
                await self.gateway.flush()
                remaining = self.gateway.engine.open_order_count()
            else:
                remaining = len(await self.gateway.open_orders())
        except ThalexError as exc:  # not connected: cancel-on-disconnect pulls this session's orders
            log.warning("%s: cancelling our orders on stop failed (%s)", self.instrument.instrument_name, exc)
        if isinstance(self.gateway, SimGateway):
            await self.gateway.close()
        await self.session.stop(cancel_session=True)
        return remaining


# -- wiring ------------------------------------------------------------------------------------------------------


def thalex_config(config: RunConfig) -> ThalexConfig:
    """The adapter's connection config from the run config."""
    conn = config.connection
    network = ThalexNetwork(config.network.value)
    return ThalexConfig(
        network=network,
        local_url=conn.emulator_url if config.network is Network.LOCAL else None,
        cod_timeout_s=conn.cancel_on_disconnect_timeout_s,
        ping_interval_s=min(2.0, conn.cancel_on_disconnect_timeout_s / 2),
        ticker_delay=conn.ticker_delay,
        rate_limits=RateLimitConfig(safety_factor=conn.rate_limit_share),
        reconnect=ReconnectConfig(
            initial_s=conn.reconnect_initial_backoff_ms / 1e3, max_s=conn.reconnect_max_backoff_ms / 1e3
        ),
    )


def load_credentials(settings: CredentialSettings) -> ThalexCredentials:
    """Live credentials from the config (file or ``THALEX_*`` env).

    Raises:
        CredentialsMissing: key id or key path missing (names the variables); CredentialsError: unusable key file.
    """
    if settings.key_id is None or settings.private_key_path is None:
        missing = [name for name, value in (("THALEX_KEY_ID", settings.key_id),
                                            ("THALEX_PRIVATE_KEY_PATH", settings.private_key_path)) if value is None]
        raise CredentialsMissing(
            f"live mode needs credentials: set {' and '.join(missing)} (or [credentials] key_id / private_key_path "
            "in the config file)"
        )
    return ThalexCredentials.from_pem_file(settings.key_id.get_secret_value(), settings.private_key_path,
                                           settings.account)


def service_parts(config: RunConfig) -> tuple[
    CoreParameters, QuotingServiceConfig, ToxicFlowDetector | None, KillSwitchConfig | None
]:
    g, t, k = config.guard, config.toxic_flow, config.kill_switch
    params = core_parameters(config)
    service_config = QuotingServiceConfig(
        max_feed_silence_ns=g.max_feed_silence_ms * _MS, max_data_age_ns=g.max_data_age_ms * _MS,
        check_interval_ns=g.check_interval_ms * _MS, throttle_backoff_ns=g.throttle_backoff_ms * _MS,
        resync_settle_ns=g.resync_settle_ms * _MS,
        position_hold_ns=max(g.fill_report_grace_ms, g.resync_settle_ms) * _MS,
    )
    toxic = (
        ToxicFlowDetector(ToxicFlowConfig(t.window_ms * _MS, t.threshold_underlying, t.cooldown_ms * _MS,
                                          t.min_one_sided_share, t.pull_both_sides))
        if t.enabled else None
    )
    kill_switch = (
        KillSwitchConfig(
            k.max_daily_loss_usd, k.max_drawdown_usd, k.trip_on_position_breach, k.max_rejects,
            k.reject_window_ms * _MS, k.max_resyncs, k.resync_window_ms * _MS,
        )
        if k.enabled else None
    )
    return params, service_config, toxic, kill_switch


def compile_tick_path(clock: LiveClock | None = None) -> None:
    """Compile (or load from the kernel cache) the tick path's kernels now (``platform deploy`` does it once before
    its actors start, so they load it instead of compiling in parallel)."""
    _compile_tick_path(clock or LiveClock())


def _compile_tick_path(clock: LiveClock) -> None:
    """Compile (or load from numba's on-disk cache) the tick path's kernels BEFORE any connection is open: the
    first compile after an install blocks the event loop for seconds, longer than a cancel-on-disconnect heartbeat
    (the exchange would drop the session and pull its orders). The service's own warm-up is then instant."""
    started_ns = clock.now_ns()
    build_core(_COMPILE_INSTRUMENT).warm_up()
    log.info("tick path compiled in %.1f s", (clock.now_ns() - started_ns) / 1e9)


def _freeze_startup_heap() -> None:
    """Collect once, then move every object alive after start-up (modules, compiled kernels, config, the
    instrument's state) out of the collector's reach: a full collection over them takes tens of ms and would land in
    some tick of a long run. Later garbage is collected as usual; frozen objects are still freed by refcount."""
    gc.collect()
    gc.freeze()


def hold_before_start(service: QuotingService, carried: CarriedState) -> None:
    """Hold ``service`` as ``carried`` says before it starts: nothing is quoted until an operator resumes; the loss
    limits count what the instrument's earlier sessions used."""
    if carried.limits_used is not None:
        service.controls.carry(carried.limits_used)
    if carried.kill_reason is not None:
        service.controls.kill(carried.kill_reason)
    if carried.paused is not None:
        service.controls.pause(carried.paused)


async def _start_with_options_vol(
    config: RunConfig, session: ThalexSession, instrument: Instrument, service: QuotingService, clock: LiveClock,
    snapshot: ExchangeState | None = None,
) -> OptionsVolFeed | None:
    """Start the options volatility feed of the instrument's underlying (None without options), then the service
    (from ``snapshot`` when the gateway took one at connect); the feed stops again if the service does not start."""
    options_vol = await start_options_vol(config.options_vol, thalex_config(config), session, instrument,
                                          service.core.analyzer, clock)
    try:
        await service.start(snapshot)
    except BaseException:
        if options_vol is not None:
            await options_vol.stop()
        raise
    return options_vol


async def _fetch_instrument(session: ThalexSession, name: str) -> Instrument:
    return decode_instrument(await session.call("public/instrument", {"instrument_name": name}))


async def build_shadow(config: RunConfig, clock: LiveClock | None = None, *, record_prices: bool = False,
                       journal: SessionJournal | None = None, market: MarketRecorder | None = None,
                       carried: CarriedState | None = None) -> InstrumentRuntime:
    """Shadow mode: a public-only session (never logs in, credentials are not read) and a SimGateway. ``journal``
    records our orders and trades (persistence), ``market`` the tickers and public trades the session sees; ``carried``
    an operator's pause or kill switch to hold from the start (a restarted deployment actor)."""
    if config.mode is not RunMode.SHADOW:
        raise ValueError(f"build_shadow needs mode 'shadow', was {config.mode.value!r}")
    clock = clock or LiveClock()
    _compile_tick_path(clock)
    session = ThalexSession(thalex_config(config), clock, None)
    feed = ThalexMarketFeed(session, config.instrument, None, delay=config.connection.ticker_delay)
    await session.start(_START_TIMEOUT_S)
    try:
        instrument = await _fetch_instrument(session, config.instrument)
        config = fit_order_sizes(config, instrument)
        sim = sim_match_config(config.shadow)
        gateway = SimGateway(SimMatchEngine(instrument, clock, sim), clock)
        params, service_config, toxic, kill_switch = service_parts(config)
        service = QuotingService(build_core(instrument, params), gateway, clock, service_config, toxic=toxic,
                                 kill_switch=kill_switch, journal=journal, record_prices=record_prices)
        gateway.set_fill_sink(service.on_own_trade)
        if carried is not None:
            hold_before_start(service, carried)
        options_vol = await _start_with_options_vol(config, session, instrument, service, clock)
    except BaseException:
        await session.stop(cancel_session=False)
        raise
    feed.sink = recording(gateway.market_sink(service), market)
    session.add_drain_hook(service.run_pending)
    service.drained_by_reader()
    _freeze_startup_heap()
    return InstrumentRuntime(RunMode.SHADOW, session, service, instrument, gateway, options_vol)


async def build_live(config: RunConfig, clock: LiveClock | None = None, *, record_prices: bool = False,
                     credentials: ThalexCredentials | None = None, thalex: ThalexConfig | None = None,
                     tokens: TokenSource | None = None, journal: SessionJournal | None = None,
                     market: MarketRecorder | None = None, carried: CarriedState | None = None) -> InstrumentRuntime:
    """Live mode: a logged-in session with cancel-on-disconnect, the ThalexGateway, insert/amend or mass quotes.

    ``thalex`` replaces the connection config derived from ``config`` (benchmarks: client-side rate limits);
    ``tokens`` the session's own rate limiter (a Ray deployment leases from the account-wide one); ``journal`` records
    our orders and trades (persistence), ``market`` the tickers and public trades the session sees; ``carried`` an
    operator's pause or kill switch to hold from the start (a restarted deployment actor).

    Raises:
        CredentialsMissing: no key configured; ThalexRpcError: login refused.
    """
    if config.mode is not RunMode.LIVE:
        raise ValueError(f"build_live needs mode 'live', was {config.mode.value!r}")
    creds = credentials or load_credentials(config.credentials)
    clock = clock or LiveClock()
    _compile_tick_path(clock)
    session = ThalexSession(thalex or thalex_config(config), clock, creds, tokens=tokens)
    holder: list[QuotingService] = []

    def on_resync(snapshot: ResyncSnapshot) -> None:
        if holder:
            holder[0].resyncs.on_exchange_snapshot(snapshot.open_orders, snapshot.portfolio, snapshot.connects > 1)

    gateway = ThalexGateway(
        session, clock, ownership=OrderOwnership(config.strategy.label), instrument_names=[config.instrument],
        on_resync=on_resync, trade_history=True, mm_protection=config.mass_quote.enabled,
    )
    feed = ThalexMarketFeed(session, config.instrument, None, delay=config.connection.ticker_delay)
    await session.start(_START_TIMEOUT_S)
    try:
        instrument = await _fetch_instrument(session, config.instrument)
        config = fit_order_sizes(config, instrument)
        params, service_config, toxic, kill_switch = service_parts(config)
        mq = config.mass_quote
        service = QuotingService(
            build_core(instrument, params, exposure=gateway.exposure), gateway, clock, service_config, toxic=toxic,
            mass_quoter=_ThalexMassQuoter(gateway, config.strategy.label) if mq.enabled else None,
            mass_quote=MassQuoteSettings(
                mq.trade_amount_underlying, mq.quote_amount_underlying,
                trip_cooldown_ns=round(mq.trip_cooldown_ms * 1_000_000),
            ) if mq.enabled else None,
            kill_switch=kill_switch, journal=journal, record_prices=record_prices,
        )
        gateway.set_protection_sink(service.on_mm_protection)
        gateway.set_fill_sink(service.on_own_trade)
        gateway.set_portfolio_sink(service.on_portfolio)
        gateway.set_down_sink(service.resyncs.on_connection_lost)
        gateway.set_desync_sink(service.resyncs.request)
        holder.append(service)
        if carried is not None:
            hold_before_start(service, carried)
        snapshot = gateway.last_snapshot  # taken at connect: the start needs no second one (one resync, paced)
        options_vol = await _start_with_options_vol(
            config, session, instrument, service, clock,
            None if snapshot is None else (snapshot.open_orders, snapshot.portfolio),
        )
    except BaseException:
        await session.stop(cancel_session=True)
        raise
    feed.sink = recording(service, market)
    session.add_drain_hook(service.run_pending)
    service.drained_by_reader()
    _freeze_startup_heap()
    return InstrumentRuntime(RunMode.LIVE, session, service, instrument, gateway, options_vol)


async def build_runtime(config: RunConfig, *, record_prices: bool = False, tokens: TokenSource | None = None,
                        credentials: ThalexCredentials | None = None, journal: SessionJournal | None = None,
                        market: MarketRecorder | None = None, carried: CarriedState | None = None
                        ) -> InstrumentRuntime:
    """Shadow or live by ``config.mode`` (the one switch; shadow never touches credentials or order tokens)."""
    if config.mode is RunMode.LIVE:
        return await build_live(config, record_prices=record_prices, tokens=tokens, credentials=credentials,
                                journal=journal, market=market, carried=carried)
    return await build_shadow(config, record_prices=record_prices, journal=journal, market=market, carried=carried)

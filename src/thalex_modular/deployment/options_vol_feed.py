"""The edges of the :class:`~thalex_modular.platform.services.options_vol.OptionsVolatilityService` in ``platform run``.

When the quoted instrument's underlying has options listed, a public-only session (no login: market data only)
follows their tickers, the index's 1m history over the constant-maturity horizon starts the RV, and every
``publish_interval_s`` the service's snapshot goes to the instrument's regime analyzer: the constant-maturity ATM IV
with the RV of the same horizon (``set_implied_vol``). The session is separate from the trading one so its ~50
tickers a second never queue in front of the order path's frames on that socket; both share the process's event
loop (decoding them and one snapshot take about 1 ms a second, the snapshot at most 0.2-0.3 ms at a time). The Ray
deployment hosts the same service in a singleton actor instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import msgspec

from thalex_modular.deployment.config import OptionsVolSettings
from thalex_modular.deployment.data_backfill import chunk_ranges, thalex_fetch, thalex_venue_now_s
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_instruments, decode_ticker
from thalex_modular.platform.adapters.exchanges.thalex.config import ThalexConfig
from thalex_modular.platform.adapters.exchanges.thalex.errors import ThalexError
from thalex_modular.platform.adapters.exchanges.thalex.rpc import NotificationHandler
from thalex_modular.platform.adapters.exchanges.thalex.session import ThalexSession
from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.market.regime_analyzer import MultiWindowRegimeAnalyzer
from thalex_modular.platform.services.options_vol import OptionsVolatilityService, OptionsVolConfig, VolSnapshot

__all__ = ["OptionsFollower", "OptionsVolFeed", "follow_options", "publish_implied_vol", "start_options_vol"]

log = logging.getLogger(__name__)
_START_TIMEOUT_S: Final = 30.0
_HISTORY_CHUNK_S: Final = 86_400  # one day of 1m candles per request


class OptionsFollower:
    """A public session following the option chain of one underlying into an :class:`OptionsVolatilityService`."""

    def __init__(self, session: ThalexSession, service: OptionsVolatilityService) -> None:
        self.session = session
        self.service = service

    async def stop(self) -> None:
        await self.session.stop(cancel_session=False)


class OptionsVolFeed:
    """An :class:`OptionsFollower` whose snapshots a task publishes to ``analyzer`` every ``publish_interval_s``."""

    def __init__(self, follower: OptionsFollower, analyzer: MultiWindowRegimeAnalyzer,
                 publish_interval_s: float) -> None:
        self.follower = follower
        self.session = follower.session
        self.service = follower.service
        self.analyzer = analyzer
        self.publish_interval_s = publish_interval_s
        self.last: VolSnapshot | None = None  # the last snapshot published
        self._task: asyncio.Task[None] | None = None

    def publish(self) -> VolSnapshot:
        """Hand the service's snapshot to the analyzer (when it has a constant-maturity IV); return it."""
        snap = self.service.snapshot()
        if publish_implied_vol(snap, self.analyzer):
            self.last = snap
        return snap

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"options-vol-{self.service.underlying}")

    async def _run(self) -> None:
        while True:
            self.publish()
            await asyncio.sleep(self.publish_interval_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.follower.stop()


def publish_implied_vol(snap: VolSnapshot, analyzer: MultiWindowRegimeAnalyzer) -> bool:
    """Give ``analyzer`` the snapshot's constant-maturity IV with the RV of the same horizon; False without one."""
    if snap.cm_iv_annual is None:
        return False
    analyzer.set_implied_vol(snap.cm_iv_annual, snap.ts_ns, snap.rv_annual)
    return True


async def start_options_vol(
    settings: OptionsVolSettings, thalex: ThalexConfig, listing: ThalexSession, instrument: Instrument,
    analyzer: MultiWindowRegimeAnalyzer, clock: Clock,
) -> OptionsVolFeed | None:
    """Follow the options of ``instrument``'s underlying (listed through the ``listing`` session) into ``analyzer``;
    None when they are disabled, the underlying has none, or their session cannot start (logged: the regime then
    runs without implied vol, as without options; nothing is made up).

    Raises:
        ThalexError: the ``listing`` session could not list the instruments.
    """
    if not settings.enabled:
        return None
    follower = await follow_options(settings, thalex, listing, instrument.underlying, clock)
    if follower is None:
        return None
    feed = OptionsVolFeed(follower, analyzer, settings.publish_interval_s)
    feed.start()
    return feed


async def follow_options(
    settings: OptionsVolSettings, thalex: ThalexConfig, listing: ThalexSession, underlying: str, clock: Clock,
) -> OptionsFollower | None:
    """Start following the option chain of ``underlying`` (its own public session, the index history loaded); None
    when it has no options listed or the session cannot start (logged).

    Raises:
        ThalexError: the ``listing`` session could not list the instruments.
    """
    listed = decode_instruments(await listing.call("public/instruments"))
    service = OptionsVolatilityService(
        underlying, OptionsVolConfig(constant_maturity_s=settings.constant_maturity_days * 86_400.0)
    )
    names = service.set_instruments(listed)
    if not names:
        log.info("options vol: no options of %s listed; the regime runs without implied vol", underlying)
        return None
    session = ThalexSession(thalex, clock, None)
    for name in names:
        session.add_channels([f"ticker.{name}.{settings.ticker_delay}"], _ticker_handler(service, name))
    try:
        await session.start(_START_TIMEOUT_S)
    except (ThalexError, TimeoutError, OSError) as exc:
        log.warning("options vol: the options session of %s did not start (%s); no implied vol", underlying, exc)
        await session.stop(cancel_session=False)
        return None
    try:
        await _load_history(session, service)
    except (ThalexError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.warning("options vol: index history of %s unavailable (%s): no RV until it accumulates", underlying, exc)
    log.info("options vol: following %d options of %s", len(names), underlying)
    return OptionsFollower(session, service)


def _ticker_handler(service: OptionsVolatilityService, name: str) -> NotificationHandler:
    def on_ticker(payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        service.on_ticker(decode_ticker(payload, name, ts_local_ns))

    return on_ticker


async def _load_history(session: ThalexSession, service: OptionsVolatilityService) -> None:
    """The index's 1m closes over the constant-maturity horizon, up to the venue's now."""
    underlying = service.underlying
    now_s = await thalex_venue_now_s(session, "index", underlying)
    if now_s is None:
        raise ThalexError(f"public/index of {underlying} gave no time")
    to_s = int(now_s)
    from_s = to_s - int(service.config.constant_maturity_s)
    fetch = thalex_fetch(session, "index", underlying)
    closes: list[tuple[int, float]] = []
    for lo, hi in chunk_ranges(from_s, to_s, _HISTORY_CHUNK_S):
        closes.extend((c.ts_ns, c.close) for c in await fetch(lo, hi))
    service.load_index_history(sorted(closes))
    log.info("options vol: %d minutes of %s index history", len(closes), underlying)

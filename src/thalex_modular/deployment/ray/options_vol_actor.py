"""OptionsVolActor: the deployment's one follower of each underlying's option chain (named singleton).

N instruments of one underlying share one chain subscription: each instrument actor asks it to follow its underlying
and then pulls the latest :class:`VolSnapshot` (ATM IV per expiry, the constant-maturity IV, expected move, the RV of
the same horizon, IV - RV) every ``options_vol.publish_interval_s`` into its regime analyzer, from its background
loop (never on the tick path). The service and its session are those of ``platform run`` (:mod:`options_vol_feed`).
"""

from __future__ import annotations

import asyncio
import logging

from thalex_modular.deployment.config import RunConfig
from thalex_modular.deployment.instrument_runtime import thalex_config
from thalex_modular.deployment.options_vol_feed import OptionsFollower, follow_options
from thalex_modular.platform.adapters.exchanges.thalex.session import ThalexSession
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.services.options_vol import VolSnapshot

__all__ = ["OptionsVolActor"]

log = logging.getLogger(__name__)
_START_TIMEOUT_S = 30.0


class OptionsVolActor:
    """Follows option chains on the deployment's network (public data only).

    Args:
        config: the deployment's run config (network, connection, ``options_vol`` settings).
    """

    def __init__(self, config: RunConfig) -> None:
        self._config = config
        self._clock = LiveClock()
        self._followers: dict[str, OptionsFollower | None] = {}  # None: no options listed, or they cannot be followed
        self._starting: dict[str, asyncio.Task[OptionsFollower | None]] = {}

    async def follow(self, underlying: str) -> bool:
        """Follow ``underlying``'s chain (idempotent; concurrent requests share one start); False when it has no
        options listed or their session cannot start."""
        if underlying in self._followers:
            return self._followers[underlying] is not None
        task = self._starting.get(underlying)
        if task is None:
            task = self._starting[underlying] = asyncio.get_running_loop().create_task(self._start(underlying))
        follower = await task
        self._followers[underlying] = follower
        self._starting.pop(underlying, None)
        return follower is not None

    async def _start(self, underlying: str) -> OptionsFollower | None:
        thalex = thalex_config(self._config)
        listing = ThalexSession(thalex, self._clock, None)
        try:
            await listing.start(_START_TIMEOUT_S)
            return await follow_options(self._config.options_vol, thalex, listing, underlying, self._clock)
        except Exception as exc:  # logged and answered as "not followed": the regime runs without implied vol
            log.warning("options vol: cannot follow %s (%s)", underlying, exc)
            return None
        finally:
            await listing.stop(cancel_session=False)

    async def snapshot(self, underlying: str) -> VolSnapshot | None:
        """The latest vol snapshot of ``underlying``, None when it is not followed."""
        follower = self._followers.get(underlying)
        return None if follower is None else follower.service.snapshot()

    async def followed(self) -> list[str]:
        return sorted(u for u, f in self._followers.items() if f is not None)

    async def stop(self) -> None:
        for follower in self._followers.values():
            if follower is not None:
                await follower.stop()
        self._followers.clear()

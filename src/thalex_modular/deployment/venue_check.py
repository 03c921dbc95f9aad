"""Before anything is started: is the venue reachable, and does it list the instruments asked for?

``platform deploy`` asks this first so that a typo in an instrument or an unreachable URL is a clear error with
nothing left half-started. A public session only (no login, no order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from thalex_modular.deployment.config import RunConfig
from thalex_modular.deployment.endpoints import EndpointUnreachable, probe
from thalex_modular.deployment.instrument_runtime import thalex_config
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_instruments
from thalex_modular.platform.adapters.exchanges.thalex.session import ThalexSession
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.domain.entities import Instrument

__all__ = ["VenueError", "listed_instruments"]


class VenueError(ValueError):
    """The venue cannot be reached, or does not list an instrument; the message says which and why."""


async def listed_instruments(config: RunConfig, names: Sequence[str], timeout_s: float = 10.0) -> list[Instrument]:
    """The venue's instruments named in ``names``, in that order.

    Raises:
        VenueError: the venue does not answer within ``timeout_s`` (URL and cause named), or an instrument is not
            listed (the names listed of the same kind are suggested).
    """
    await _reachable(config.url, min(timeout_s, 5.0))
    session = ThalexSession(thalex_config(config), LiveClock(), None)
    try:
        await asyncio.wait_for(session.start(), timeout_s)
        listed = {i.instrument_name: i for i in decode_instruments(await session.call("public/instruments"))}
    except (TimeoutError, OSError) as exc:
        cause = "no answer" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise VenueError(f"the venue at {config.url} is not reachable within {timeout_s:g} s ({cause})") from None
    finally:
        await session.stop(cancel_session=False)
    missing = [name for name in names if name not in listed]
    if missing:
        perpetuals = sorted(n for n, i in listed.items() if i.kind.value == "perpetual")
        raise VenueError(
            f"not listed on {config.url}: {', '.join(missing)} (perpetuals listed: {', '.join(perpetuals)})"
        )
    return [listed[name] for name in names]


async def _reachable(url: str, timeout_s: float) -> None:
    """A TCP (and for wss:// TLS) connection to the URL's host and port opens within ``timeout_s``."""
    try:
        await probe(url, timeout_s)
    except EndpointUnreachable as exc:
        raise VenueError(f"the venue at {url} is not reachable: {exc.cause}") from None

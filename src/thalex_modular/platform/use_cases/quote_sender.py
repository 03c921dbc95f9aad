"""How a QuotingService run reaches the exchange: the one interface of its two send modes.

:class:`~.order_sender.OrderSender` (insert / amend / cancel by diff, queue priority kept) and
:class:`~.mass_quote_sender.MassQuoteSender` (``private/mass_quote`` under market-maker protection). The service
decides *whether* and *what for* a run happens (:class:`Run`: data fresh or quotes to pull, the newest ticker, the
throttle state, the request budget); the sender plans and sends it.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple, Protocol

from thalex_modular.platform.domain.entities import Ticker

__all__ = ["QuoteSender", "Run"]


class Run(NamedTuple):
    """One reconciliation as the service decided it.

    Args:
        now_ns: the run's time (int ns, the service's Clock).
        pull: every quote must come down (stale or silent data, paused, kill switch).
        ticker: the newest ticker not seen by the core yet (None: requote against the latest one); a pull takes it
            in too, so the mark (equity, risk) stays current while quotes are down.
        throttled: the exchange throttled us lately: only cancels may go.
        budget: how many amends and inserts the rate limiter allows now.
    """

    now_ns: int
    pull: bool
    ticker: Ticker | None
    throttled: bool
    budget: int


class QuoteSender(Protocol):
    """A send mode of the QuotingService. Required methods:

    =========================  ==============================================================================
    ``send_now(run)``          start ``run`` in the caller (the reader's drain hook; the service's lock is free);
                               returns the task that finishes it when it must wait, else None
    ``send(run)``              the whole run, awaited, with the service's lock held
    ``reset()``                what was sent is gone from the exchange (reconnect, protection reset): send afresh
    ``quotes_without_ids``     the exchange reports our quotes without client_order_ids (mass quotes): an update
                               for an order we do not know is expected, not a desync
    ``wants_run(now_ns)``      the sender held quotes back (the request budget ran out, a protection cool-down
                               ended): the service's guard runs again
    =========================  ==============================================================================
    """

    quotes_without_ids: bool

    def wants_run(self, now_ns: int) -> bool: ...

    def send_now(self, run: Run) -> asyncio.Task[None] | None: ...

    async def send(self, run: Run) -> None: ...

    def reset(self) -> None: ...

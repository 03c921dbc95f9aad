"""Resync: rebuild one instrument's orders and position from the exchange with quoting stopped.

The exchange's open orders (ours only: the gateway filters the account's) replace what the tracker holds, and its
portfolio gives the position. A portfolio position that differs from the tracker's may be a fill racing the snapshot
(its notification still on the way: adopting would count it twice; or the portfolio not updated yet: adopting would
drop it), so on the same connection the difference is adopted only when it held over ``resync_settle_ns`` with no
fill received meanwhile (at most ``resync_settle_rounds`` waits, then the latest portfolio is adopted). After a
reconnect nothing of the old session can still arrive and the snapshot is adopted at once; requests of the lost
session that the snapshot does not show were never placed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, PortfolioEntry
from thalex_modular.platform.domain.enums import OrderStatus
from thalex_modular.platform.use_cases.ports import OrderGateway
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig, ServiceStats

__all__ = ["ExchangeState", "Resync"]

log = logging.getLogger(__name__)

ExchangeState = tuple[Sequence[OrderUpdate], Sequence[PortfolioEntry]]
"""The exchange's open orders (ours) and portfolio, as a gateway fetched them."""


class Resync:
    """The resync procedure of one instrument (its :class:`~.resync_runner.ResyncRunner` holds the run lock and stops
    quoting around it).

    Args:
        core: the instrument's QuotingCore (its tracker is rebuilt).
        gateway: where the snapshot comes from.
        clock: the time source.
        config: the settle timings.
        stats: the service's counters (``fills`` tells whether fills arrived while waiting; ``resyncs`` counts).
    """

    def __init__(
        self,
        core: QuotingCore,
        gateway: OrderGateway,
        clock: Clock,
        config: QuotingServiceConfig,
        stats: ServiceStats,
    ) -> None:
        self._core = core
        self._gateway = gateway
        self._clock = clock
        self._config = config
        self._stats = stats
        self._name = core.instrument.instrument_name

    async def run(
        self, reason: str, connection_lost: bool, state: ExchangeState | None = None, *, settle: bool = True
    ) -> None:
        """Fetch (or take ``state``) and apply the exchange's state.

        Raises:
            Exception: whatever the gateway raises fetching the snapshot (nothing is changed then).
        """
        log.info("%s: resync (%s)", self._name, reason)
        if state is None:
            orders = await self._gateway.open_orders()
            portfolio = await self._gateway.portfolio()
        else:
            orders, portfolio = state
        core = self._core
        tracker = core.tracker
        now = self._clock.now_ns()
        for event in tracker.on_open_orders_snapshot(
            [o for o in orders if o.instrument_name == self._name], now, (self._name,)
        ):
            if isinstance(event, Fill):
                self._stats.fills += 1
        if settle and not connection_lost:  # after a reconnect no late notification of the old session comes
            portfolio = await self._settled_portfolio(portfolio)
        tracker.on_portfolio(portfolio, self._clock.now_ns(), complete=True)
        if connection_lost:
            # answers to requests of the lost session never come: inserts the snapshot did not show were never
            # placed (or were deleted by cancel-on-disconnect), amends/cancels are not pending anymore
            for order in tracker.open_orders(self._name):
                if order.request_in_flight is not None or order.status is OrderStatus.PENDING:
                    core.on_request_failed(order.client_order_id, now, "connection lost")
        self._stats.resyncs += 1

    async def _settled_portfolio(self, portfolio: Sequence[PortfolioEntry]) -> Sequence[PortfolioEntry]:
        """The portfolio to adopt our position from (module docstring): quoting is stopped (the lock is held) while
        notifications keep arriving."""
        tolerance = 0.5 * self._core.instrument.volume_tick_size
        tracker = self._core.tracker
        for _ in range(self._config.resync_settle_rounds):
            difference = position_in(portfolio, self._name) - tracker.position_amount(self._name)
            if abs(difference) <= tolerance:
                return portfolio
            fills = self._stats.fills
            await asyncio.sleep(self._config.resync_settle_ns / 1e9)
            fresh = await self._gateway.portfolio()
            held = position_in(fresh, self._name) - tracker.position_amount(self._name)
            if self._stats.fills == fills and abs(held - difference) <= tolerance:
                return fresh
            portfolio = fresh
        return portfolio


def position_in(portfolio: Sequence[PortfolioEntry], name: str) -> float:
    """Our position in ``name`` per a complete portfolio (absent = flat), underlying."""
    return next((entry.position for entry in portfolio if entry.instrument_name == name), 0.0)

"""Perpetual funding in the accounts: continuous accrual, realisation on reduce, daily settlement at 08:00 UTC.

Convention (api.yaml Ticker ``funding_rate``: "rate at which long position pays and short position earns"; the
emulator's MARKET quotes it per 24 h as a fraction of the index, see ``market/perpetual.py``):

* Over ``dt`` ns a one-unit long (one BTC of ``BTC-PERPETUAL``) pays ``funding_rate × index × dt / 86_400 s`` USD
  and a one-unit short receives it. The listing's ``funding_value`` (the funding PnL of a one-unit long since the
  last settlement, USD) goes down by that amount. A position of ``amount`` units thus accrues
  ``-amount × funding_rate × index × dt / 1 day``: a long loses and a short gains when the rate is positive.
* The rate and index of an interval are those given at its start (the previous ``accrue_funding`` call): the
  step never uses a rate before it was published. The first call only records them.
* Funding is a transfer: every trade has two sides, so positions, entry values and accrued funding sum to zero
  over all accounts (internal flow-agent accounts included).
* Daily settlement at 08:00 UTC (``funding_mark`` resets there in ``market/perpetual.py``; api.yaml: funding "is
  realized as P&L and settled ... at the end of each session"): every perpetual position's unrealised funding is
  realised into cash and realised PnL, then ``funding_value`` and all entry values restart at 0. Positional PnL
  is not settled (the emulator keeps ``start_price = average_price``), and session realised PnL is not reset.
* ``account.portfolio`` re-sends a line when its unrealised funding moved more than ``PORTFOLIO_FUNDING_MOVE``
  (1 bp) of the position's notional at mark since the line was last sent, and after every settlement.
"""

from __future__ import annotations

import math
from typing import Final

from .accounts import is_perpetual, settle_funding, unrealised_funding
from .exchange import Exchange
from .listing import Listing
from .order import NS_PER_S
from .outbox import Outbox
from .types import Notification

DAY_NS: Final = 86_400 * NS_PER_S
#: Daily funding settlement, ns after 00:00 UTC.
SETTLEMENT_OFFSET_NS: Final = 8 * 3_600 * NS_PER_S
#: Re-send a portfolio line when its unrealised funding moved more than this fraction of its notional at mark.
PORTFOLIO_FUNDING_MOVE: Final = 1e-4


def next_settlement_ns(after_ns: int) -> int:
    """The first 08:00 UTC strictly after ``after_ns`` (int ns since the epoch)."""
    return ((after_ns - SETTLEMENT_OFFSET_NS) // DAY_NS + 1) * DAY_NS + SETTLEMENT_OFFSET_NS


class FundingMixin:
    """Funding methods of :class:`~thalex_modular.emulator.engine.core.ExchangeCore`."""

    ex: Exchange

    def accrue_funding(
        self, instrument_name: str, funding_rate: float, index: float, now_ns: int
    ) -> list[Notification]:
        """Accrue a perpetual's funding from the previous call up to ``now_ns`` (int ns), settling at every
        08:00 UTC passed, then hold ``funding_rate`` (per 24 h, positive: longs pay) and ``index`` (USD) for the
        next interval. Returns ``account.portfolio`` re-sends (settled lines, or funding moved > 1 bp of notional).
        A ``now_ns`` at or before the previous call accrues nothing. Raises ValueError for a non-perpetual, a
        non-finite rate or an index <= 0."""
        ex = self.ex
        listing = ex.listing(instrument_name)
        if not is_perpetual(listing):
            raise ValueError(f"accrue_funding: `instrument_name` must be a perpetual, was {instrument_name!r}")
        if not math.isfinite(funding_rate):
            raise ValueError(f"accrue_funding: `funding_rate` must be finite, was {funding_rate!r}")
        if not (math.isfinite(index) and index > 0.0):
            raise ValueError(f"accrue_funding: `index` must be > 0 USD, was {index!r}")
        out = Outbox()
        settled = False
        last = listing.funding_ns
        if last is not None and now_ns <= last:
            return []
        if last is not None and listing.funding_rate is not None and listing.funding_index is not None:
            per_ns = listing.funding_rate * listing.funding_index / DAY_NS  # USD per unit per ns, paid by a long
            start = last
            while True:
                boundary = next_settlement_ns(start)
                end = min(boundary, now_ns)
                listing.funding_value -= per_ns * (end - start)
                if boundary > now_ns:
                    break
                self._settle(listing, out)
                settled = True
                start = boundary
        listing.funding_ns = now_ns
        listing.funding_rate = funding_rate
        listing.funding_index = index
        if not settled:
            self._resend_moved(listing, out)
        return ex.finish(out)

    def _settle(self, listing: Listing, out: Outbox) -> None:
        """Realise every account's unrealised funding on ``listing`` into cash and realised PnL; restart at 0."""
        for account in self.ex.accounts.values():
            pos = account.positions.get(listing.name)
            if pos is None or (pos.lots == 0 and pos.funding_entry == 0.0):
                continue
            realised = settle_funding(pos, listing)
            account.balance += realised
            account.realised += realised
            pos.funding_entry = 0.0
            if pos.lots:
                out.position_changed(account, listing)
        listing.funding_value = 0.0

    def _resend_moved(self, listing: Listing, out: Outbox) -> None:
        mark = listing.reference_price(listing.funding_index or 0.0)
        for account in self.ex.accounts.values():
            if account.internal:
                continue
            pos = account.positions.get(listing.name)
            if pos is None or pos.lots == 0:
                continue
            notional = abs(mark * listing.amount(pos.lots))
            if abs(unrealised_funding(pos, listing) - pos.last_sent_funding) > PORTFOLIO_FUNDING_MOVE * notional:
                out.position_changed(account, listing)


__all__ = ["DAY_NS", "PORTFOLIO_FUNDING_MOVE", "SETTLEMENT_OFFSET_NS", "FundingMixin", "next_settlement_ns"]

"""Mass quoting (Thalex's market-maker path): the strategy's quotes sent as one ``private/mass_quote`` per change,
guarded by ``set_mm_protection``.

A mass quote replaces each side atomically, so the risk check sees the book as it will be: the new levels plus
whatever stays (position + every other bid + all new bids <= limit, and the same for asks, LESSONS 10), through the
instrument's one RiskCheck. Identical levels re-sent keep their queue priority on Thalex; the sender sends nothing
when the levels did not change.

Units: prices in USD, amounts in the underlying; ``Level`` = ``(price_usd, amount_underlying)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from thalex_modular.platform.domain.entities import Instrument, Quote
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.events import OrderDenied
from thalex_modular.platform.domain.risk import OpenBook, RiskCheck, RiskContext

__all__ = ["Level", "MassQuotePlan", "MassQuoteSettings", "MassQuoter", "plan_mass_quote"]

Level = tuple[float, float]
"""One quote level: (price USD on the tick grid, amount in the underlying on the volume grid)."""


class MassQuoter(Protocol):
    """What a gateway offers for mass quoting (the ThalexGateway). Required methods:

    ==========================================  ===================================================================
    ``set_mm_protection(product, trade, quote)`` arm (or refill) the session's protection group of ``product``;
                                                ``trade`` executed amount before the quotes are pulled, ``quote``
                                                the largest single quote (underlying)
    ``mass_quote(instrument, bids, asks)``       replace our quotes on ``instrument`` (``[]`` clears a side);
                                                returns the number of sides that failed
    ==========================================  ===================================================================
    """

    async def set_mm_protection(self, product: str, trade_amount: float, quote_amount: float) -> None: ...

    async def mass_quote(
        self, instrument_name: str, bids: Sequence[Level], asks: Sequence[Level], *, post_only: bool = True
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class MassQuoteSettings:
    """Protection group of the quoted product. Amounts in the underlying; ``trade_amount <= quote_amount``.
    ``trip_cooldown_ns``: after a protection trip, how long quoting pauses before the group is refilled."""

    trade_amount: float
    quote_amount: float
    post_only: bool = True
    trip_cooldown_ns: int = 2_000_000_000


class MassQuotePlan(NamedTuple):
    """The levels to send per side (best first) and what risk refused."""

    bids: list[Level]
    asks: list[Level]
    denials: list[OrderDenied]


def plan_mass_quote(
    instrument: Instrument,
    desired: Sequence[Quote],
    risk: RiskCheck,
    ctx: RiskContext,
    book: OpenBook,
    quote_amount: float,
) -> MassQuotePlan:
    """Levels for ``desired`` quotes, each risk-checked (by the instrument's one RiskCheck) against ``book`` (every
    exposure that stays when the mass quote replaces our levels: the account's other orders, fills not received yet,
    our resting orders that are not mass quotes) plus the levels before it, best first per side.

    Quotes above ``quote_amount`` (the protection group's maximum) are cut to it; one level per price tick and side
    (Thalex refuses duplicates). While the kill switch is engaged every quote is denied, so both sides are sent
    empty (cleared).
    """
    name = instrument.instrument_name
    bids: list[Level] = []
    asks: list[Level] = []
    denials: list[OrderDenied] = []
    bid_total = book.bid_amount
    ask_total = book.ask_amount
    count = book.order_count
    seen: set[tuple[bool, int]] = set()
    max_lots = instrument.lots_floor(quote_amount)
    ordered = sorted(desired, key=lambda q: (q.side is Side.SELL, q.level, -q.price_ticks if q.side is Side.BUY
                                             else q.price_ticks))
    for quote in ordered:
        lots = min(quote.amount_lots, max_lots)
        is_buy = quote.side is Side.BUY
        if lots < instrument.min_order_lots or (is_buy, quote.price_ticks) in seen:
            continue
        price = instrument.price(quote.price_ticks)
        amount = instrument.amount(lots)
        denial = risk.check_insert(instrument, quote.side, price, amount, ctx, OpenBook(bid_total, ask_total, count))
        if denial is not None:
            denials.append(OrderDenied(name, denial.limit, denial.reason, ctx.now_ns))
            continue
        seen.add((is_buy, quote.price_ticks))
        count += 1
        if is_buy:
            bids.append((price, amount))
            bid_total += amount
        else:
            asks.append((price, amount))
            ask_total += amount
    return MassQuotePlan(bids, asks, denials)

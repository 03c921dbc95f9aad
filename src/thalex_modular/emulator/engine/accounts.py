"""Accounts: positions, cash, fees, realised/unrealised PnL, margin (api.yaml PortfolioEntry / AccountSummary).

Positions are integer lots per instrument; prices USD. PnL uses Thalex's average-price convention: ``start_price``
is the average entry price of the open position (no daily settlement is modelled, so it equals
``average_price``), realised PnL is ``(trade price - start_price) × closed amount × sign(position)``, and
``unrealised_pnl = (mark - start_price) × position``. Cash (``balance``) moves by realised PnL minus fees.

Perpetual funding (api.yaml PortfolioEntry): each perpetual listing carries ``funding_value`` V, the funding PnL
(USD) of a one-unit long position since the last daily settlement (V = -ticker ``funding_mark``, which is what a
long *paid*). A position of ``amount`` units has ``perpetual_funding_entry_value`` E (USD, V at entry × amount,
summed over entries) and ``unrealised_perpetual_funding = V × amount - E`` (USD, positive = received), as api.yaml
defines it. Reducing a position realises the closed fraction of that into cash and realised PnL; settlement
(``funding.FundingMixin``) realises all of it.
"""

from __future__ import annotations

from collections import deque

from .listing import Listing
from .order import EngineOrder
from .types import EngineConfig


class Position:
    """One instrument's position of one account. ``lots`` signed (short < 0); prices USD; PnL USD."""

    __slots__ = (
        "avg_price",
        "fees",
        "funding_entry",
        "funding_realised",
        "last_sent_funding",
        "last_sent_mark",
        "lots",
        "realised",
    )

    def __init__(self) -> None:
        self.lots = 0
        self.avg_price = 0.0
        self.realised = 0.0  # positional + perpetual funding PnL realised (USD)
        self.fees = 0.0
        self.funding_entry = 0.0  # perpetual_funding_entry_value (USD)
        self.funding_realised = 0.0  # perpetual funding realised so far (USD, part of ``realised``)
        self.last_sent_mark: float | None = None
        self.last_sent_funding = 0.0  # unrealised funding (USD) in the last portfolio line sent

    def apply(self, signed_lots: int, price: float, lot_size: float) -> float:
        """Apply a trade of ``signed_lots`` (buy > 0) at ``price`` (USD); returns the realised PnL (USD)."""
        old = self.lots
        new = old + signed_lots
        realised = 0.0
        if old == 0 or (old > 0) == (signed_lots > 0):
            total = abs(new)
            self.avg_price = (self.avg_price * abs(old) + price * abs(signed_lots)) / total
        else:
            closed = min(abs(old), abs(signed_lots))
            direction = 1.0 if old > 0 else -1.0
            realised = (price - self.avg_price) * closed * lot_size * direction
            if new == 0:
                self.avg_price = 0.0
            elif (new > 0) != (old > 0):
                self.avg_price = price
        self.lots = new
        self.realised += realised
        return realised


class Account:
    """An exchange account (``A...`` number) or an internal flow-agent account (``internal=True``).

    Internal accounts have no margin check, no history and no notifications, but their positions are real
    (every trade has two sides, so positions over all accounts sum to zero).
    """

    __slots__ = (
        "balance",
        "fees_paid",
        "initial_balance",
        "internal",
        "number",
        "open_margin",
        "open_orders",
        "order_history",
        "positions",
        "realised",
        "trade_history",
    )

    def __init__(self, number: str, config: EngineConfig, internal: bool = False) -> None:
        self.number = number
        self.internal = internal
        self.initial_balance = config.initial_balance_usd
        self.balance = config.initial_balance_usd
        self.fees_paid = 0.0
        self.realised = 0.0
        self.open_margin = 0.0
        self.positions: dict[str, Position] = {}
        self.open_orders: dict[str, EngineOrder] = {}
        self.order_history: deque[EngineOrder] = deque(maxlen=config.history_limit)
        self.trade_history: deque[dict[str, object]] = deque(maxlen=config.history_limit)

    def position(self, name: str) -> Position:
        pos = self.positions.get(name)
        if pos is None:
            pos = Position()
            self.positions[name] = pos
        return pos

    def position_lots(self, name: str) -> int:
        pos = self.positions.get(name)
        return pos.lots if pos is not None else 0


def is_perpetual(listing: Listing) -> bool:
    return listing.spec.type == "perpetual"


def unrealised_funding(pos: Position, listing: Listing) -> float:
    """``unrealised_perpetual_funding = funding_value × position - perpetual_funding_entry_value`` (USD,
    positive = the position has received funding); 0 for other instruments."""
    if not is_perpetual(listing):
        return 0.0
    return listing.funding_value * listing.amount(pos.lots) - pos.funding_entry


def trade_funding(pos: Position, signed_lots: int, listing: Listing) -> float | None:
    """Funding bookkeeping of a perpetual trade of ``signed_lots`` (buy > 0), called before ``Position.apply``.

    Adding to a position adds ``funding_value × traded amount`` to the entry value. Reducing realises the closed
    fraction ``f`` of the unrealised funding (returned, USD) and keeps ``(1 - f)`` of the entry value; the part of
    a flip beyond flat enters at the current funding value. The realised funding is added to ``pos.realised`` and
    ``pos.funding_realised``; the caller moves it into cash. Returns None when the trade closed nothing or the
    instrument is not a perpetual.
    """
    if not is_perpetual(listing):
        return None
    old = pos.lots
    new = old + signed_lots
    value = listing.funding_value
    if old == 0 or (old > 0) == (signed_lots > 0):
        pos.funding_entry += value * listing.amount(signed_lots)
        return None
    closed = min(abs(old), abs(signed_lots))
    fraction = closed / abs(old)
    realised = (value * listing.amount(old) - pos.funding_entry) * fraction
    if new == 0 or (new > 0) != (old > 0):
        pos.funding_entry = value * listing.amount(new)
    else:
        pos.funding_entry -= pos.funding_entry * fraction
    pos.funding_realised += realised
    pos.realised += realised
    return realised


def settle_funding(pos: Position, listing: Listing) -> float:
    """Daily settlement of one perpetual position: realise its unrealised funding (returned, USD) into
    ``pos.realised`` and re-base its entry value at the current funding value (the caller resets that to 0)."""
    realised = unrealised_funding(pos, listing)
    pos.funding_entry = listing.funding_value * listing.amount(pos.lots)
    pos.funding_realised += realised
    pos.realised += realised
    return realised


def mark_sent(pos: Position, listing: Listing) -> None:
    """Remember the mark and unrealised funding of the portfolio line just sent (the re-send rules compare)."""
    pos.last_sent_mark = listing.mark_price
    pos.last_sent_funding = unrealised_funding(pos, listing)


def unrealised(pos: Position, listing: Listing) -> float:
    """``(mark - start_price) × position`` in USD; 0 without a mark or a position."""
    if pos.lots == 0:
        return 0.0
    mark = listing.reference_price(pos.avg_price)
    return (mark - pos.avg_price) * listing.amount(pos.lots)


def margin_notional(listing: Listing, amount: float, price: float) -> float:
    """USD notional margin is charged on: price × amount, or index × amount for options."""
    if listing.is_option and listing.index_price is not None:
        return listing.index_price * amount
    return price * amount


def margin_rate(listing: Listing, config: EngineConfig) -> float:
    return config.margin_rate_options if listing.is_option else config.margin_rate_futures


def portfolio_entry(pos: Position, listing: Listing) -> dict[str, object]:
    """api.yaml ``PortfolioEntry``. Perpetuals carry ``unrealised_perpetual_funding`` and, when not 0,
    ``perpetual_funding_entry_value`` (USD); ``unrealised_pnl`` is positional only, as api.yaml defines it."""
    amount = listing.amount(pos.lots)
    mark = listing.reference_price(pos.avg_price)
    out: dict[str, object] = {
        "instrument_name": listing.name,
        "position": amount,
        "mark_price": mark,
    }
    if listing.iv is not None:
        out["iv"] = listing.iv
    if listing.index_price is not None:
        out["index"] = listing.index_price
    out["start_price"] = pos.avg_price
    out["average_price"] = pos.avg_price
    out["unrealised_pnl"] = (mark - pos.avg_price) * amount if pos.lots else 0.0
    out["realised_pnl"] = pos.realised
    out["entry_value"] = pos.avg_price * amount
    if is_perpetual(listing):
        if pos.funding_entry != 0.0:
            out["perpetual_funding_entry_value"] = pos.funding_entry
        out["unrealised_perpetual_funding"] = unrealised_funding(pos, listing)
    return out


def required_margin(account: Account, listings: dict[str, Listing], config: EngineConfig) -> float:
    """Initial margin of positions (at mark) plus that of open orders (USD)."""
    total = account.open_margin
    for name, pos in account.positions.items():
        if pos.lots:
            listing = listings[name]
            amount = abs(listing.amount(pos.lots))
            total += margin_notional(listing, amount, listing.reference_price(pos.avg_price)) * margin_rate(
                listing, config
            )
    return total


def total_unrealised(account: Account, listings: dict[str, Listing]) -> float:
    """Unrealised PnL of the account (USD): positional plus unrealised perpetual funding."""
    return sum(
        unrealised(pos, listings[name]) + unrealised_funding(pos, listings[name])
        for name, pos in account.positions.items()
    )


def account_summary(account: Account, listings: dict[str, Listing], config: EngineConfig) -> dict[str, object]:
    """api.yaml ``AccountSummary``: one USD cash line; margin = cash + unrealised PnL (funding included)."""
    upnl = total_unrealised(account, listings)
    required = required_margin(account, listings, config)
    margin = account.balance + upnl
    return {
        "cash": [
            {
                "currency": "USD",
                "balance": account.balance,
                "collateral_factor": 1.0,
                "collateral_index_price": 1.0,  # api.yaml types it number (its example shows null)
                "transactable": True,
            }
        ],
        "unrealised_pnl": upnl,
        "session_realised_pnl": account.realised,
        "cash_collateral": account.balance,
        "margin": margin,
        "required_margin": required,
        "remaining_margin": margin - required,
    }

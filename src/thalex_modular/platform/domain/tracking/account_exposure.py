"""What the account holds beyond our own orders: orders that are not ours, and the exchange's positions and marks.

A Thalex account may be shared with a manual session or another bot. Our orders are told from the others by
:class:`OrderOwnership` (our ``label`` on a non-persistent order: our sessions set cancel-on-disconnect); we never
amend or cancel another's order, but risk counts what it may add to the position. :class:`AccountExposure` is fed by
the live adapter (``account.orders``, ``private/open_orders``, ``account.portfolio``, ``private/portfolio``) and read
by the tick path in O(1): per instrument the open amounts of the orders it holds, the exchange's last position, and
the worst-case notional of every other instrument (USD).

Units: amounts in the underlying, prices and notional in USD. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..entities import OrderUpdate, PortfolioEntry
from ..enums import Side

__all__ = ["AccountExposure", "OrderOwnership"]


@dataclass(frozen=True, slots=True)
class OrderOwnership:
    """Which orders of the account are ours: non-persistent (inserted after ``set_cancel_on_disconnect``, as every
    session of ours does) and carrying our ``label``. Two deployments on one account and instrument need two labels.
    """

    label: str

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("invalid OrderOwnership.label: must not be empty (our orders are told apart by it)")

    def owns(self, label: str | None, persistent: bool) -> bool:
        return not persistent and label == self.label


@dataclass(slots=True)
class _Held:
    """One open order held: instrument, side, remaining amount (underlying), limit price (USD; 0 when unknown)."""

    instrument_name: str
    is_buy: bool
    remaining: float
    price: float


@dataclass(slots=True)
class _Line:
    """One instrument's exposure: open bids and asks held (underlying), the exchange's position and mark."""

    bids: float = 0.0
    asks: float = 0.0
    position: float | None = None
    mark: float | None = None
    limit_value: float = 0.0  # sum of price x remaining of the held orders, USD (valuation without a mark)

    def notional_usd(self) -> float:
        """The worst case of this line's position with every held order filled, valued at the mark (or at the
        orders' own prices when no mark is known), USD."""
        position = self.position or 0.0
        worst = max(position + self.bids, -(position - self.asks), 0.0)
        if self.mark is not None:
            return worst * self.mark
        held = self.bids + self.asks
        return self.limit_value * worst / held if held > 0.0 else 0.0


class AccountExposure:
    """The account's orders that the tracker does not hold, and its positions and marks per the exchange.

    Feed it with :meth:`replace_orders` (a complete list of the orders to hold), :meth:`on_order` (one changed order),
    :meth:`on_portfolio`; read it with :meth:`open_amount`, :meth:`exchange_position`, :meth:`other_notional_usd`.
    Which orders to hold is the feeder's choice: every order of the account except our own on the instruments we
    quote.
    """

    __slots__ = ("_lines", "_notional_of", "_orders", "_total_notional")

    def __init__(self) -> None:
        self._orders: dict[str, _Held] = {}
        self._lines: dict[str, _Line] = {}
        self._total_notional: float | None = 0.0  # of every line; None: to be summed again
        self._notional_of: dict[str, float] = {}

    # -- feeding --------------------------------------------------------------------------------------------

    def replace_orders(self, updates: Iterable[OrderUpdate]) -> None:
        """Hold exactly the open ones of ``updates`` (a snapshot of the orders to hold)."""
        self._orders.clear()
        for line in self._lines.values():
            line.bids = line.asks = line.limit_value = 0.0
        for update in updates:
            self.on_order(update)
        self._total_notional = None

    def on_order(self, update: OrderUpdate) -> None:
        """One order's new state: held while open, dropped once closed."""
        old = self._orders.pop(update.order_id, None)
        if old is not None:
            self._add(old, -1.0)
        if update.status.is_open and update.remaining_amount > 0.0:
            held = _Held(update.instrument_name, update.side is Side.BUY, update.remaining_amount, update.price or 0.0)
            self._orders[update.order_id] = held
            self._add(held, 1.0)

    def on_portfolio(self, entries: Sequence[PortfolioEntry], complete: bool) -> None:
        """Positions and marks per the exchange; ``complete`` (a snapshot) means an instrument absent is flat."""
        if complete:
            for line in self._lines.values():
                line.position = 0.0
        for entry in entries:
            line = self._line(entry.instrument_name)
            line.position = entry.position
            if entry.mark_price is not None and entry.mark_price > 0.0:
                line.mark = entry.mark_price
        self._total_notional = None

    # -- reading ---------------------------------------------------------------------------------------------

    def open_amount(self, instrument_name: str, side: Side) -> float:
        """Remaining amount of the held orders of one instrument and side (underlying)."""
        line = self._lines.get(instrument_name)
        if line is None:
            return 0.0
        return line.bids if side is Side.BUY else line.asks

    def exchange_position(self, instrument_name: str) -> float | None:
        """The exchange's last reported position (underlying), None before any portfolio."""
        line = self._lines.get(instrument_name)
        return None if line is None else line.position

    def other_notional_usd(self, instrument_name: str) -> float:
        """The worst-case notional of every instrument but ``instrument_name`` (USD): each one's exchange position
        with every held order of it filled, valued at its mark."""
        total = self._total_notional
        if total is None:
            self._notional_of = {name: line.notional_usd() for name, line in self._lines.items()}
            total = self._total_notional = sum(self._notional_of.values())
        own = self._notional_of.get(instrument_name, 0.0)
        return max(0.0, total - own)

    # -- internals -------------------------------------------------------------------------------------------

    def _line(self, name: str) -> _Line:
        line = self._lines.get(name)
        if line is None:
            line = self._lines[name] = _Line()
        return line

    def _add(self, held: _Held, sign: float) -> None:
        line = self._line(held.instrument_name)
        if held.is_buy:
            line.bids = max(0.0, line.bids + sign * held.remaining)
        else:
            line.asks = max(0.0, line.asks + sign * held.remaining)
        line.limit_value = max(0.0, line.limit_value + sign * held.remaining * held.price)
        self._total_notional = None

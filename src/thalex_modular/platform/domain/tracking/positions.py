"""Positions derived from fills: FIFO lots for the average entry price and realised PnL (LESSONS 20).

Amounts are signed, in the underlying (positive = long); prices and PnL in USD. Plain floats, no Decimal:
this runs on every fill in the hot path. Float residue below :data:`AMOUNT_EPSILON` counts as zero.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence

from ..entities import Fill, Instrument, PortfolioEntry, Position
from ..events import ResyncRequest
from ..validation import finite, non_negative

#: Absolute amount (underlying) below which a lot or the position counts as closed: the residue of float
#: subtraction of on-grid amounts (~1e-17 for 0.001-BTC ticks), far below any volume tick.
AMOUNT_EPSILON = 1e-12


class FifoPosition:
    """The position in one instrument, as a queue of open lots matched first-in first-out.

    Each lot is ``[signed amount in the underlying, entry price USD]``; all open lots have the same sign.
    A fill against the position closes the oldest lots first and realises
    ``(exit price - entry price) * matched amount`` (sign flipped for shorts); the fill's ``fee`` (USD,
    positive = paid) is subtracted from realised PnL.
    """

    __slots__ = ("_average", "_compensation", "_lots", "_position", "_realised_pnl", "instrument_name")

    def __init__(self, instrument_name: str) -> None:
        self.instrument_name = instrument_name
        self._lots: deque[list[float]] = deque()
        self._position = 0.0
        self._compensation = 0.0
        self._realised_pnl = 0.0
        self._average: float | None = 0.0  # cached average entry price; None = recompute

    @property
    def position(self) -> float:
        """Signed position in the underlying."""
        return self._position + self._compensation

    @property
    def realised_pnl(self) -> float:
        """Realised PnL in USD, net of fees."""
        return self._realised_pnl

    @property
    def lot_count(self) -> int:
        return len(self._lots)

    def average_price(self) -> float:
        """Amount-weighted entry price of the open lots (USD); 0.0 when flat. Cached between fills."""
        if self._average is None:
            self._average = self._compute_average()
        return self._average

    def _compute_average(self) -> float:
        lots = self._lots
        if not lots:
            return 0.0
        total = 0.0
        cost = 0.0
        low = high = lots[0][1]
        for amount, price in lots:
            total += abs(amount)
            cost += abs(amount) * price
            low = min(low, price)
            high = max(high, price)
        # A weighted mean lies between the extremes; clamp the float rounding (9 lots at 90000 -> 89999.99...).
        return min(high, max(low, cost / total))

    def apply(self, fill: Fill) -> float:
        """Book one fill; returns the PnL it realised (USD, net of its fee)."""
        remaining = fill.signed_amount
        price = fill.price
        realised = -fill.fee
        lots = self._lots
        while lots and abs(remaining) > AMOUNT_EPSILON and (lots[0][0] > 0.0) != (remaining > 0.0):
            lot = lots[0]
            matched = min(abs(remaining), abs(lot[0]))
            if lot[0] > 0.0:  # closing a long with a sell
                realised += (price - lot[1]) * matched
                lot[0] -= matched
                remaining += matched
            else:  # closing a short with a buy
                realised += (lot[1] - price) * matched
                lot[0] += matched
                remaining -= matched
            if abs(lot[0]) <= AMOUNT_EPSILON:
                lots.popleft()
        if abs(remaining) > AMOUNT_EPSILON:
            lots.append([remaining, price])
        # O(1) per fill: exact zero when flat, the lot itself when one lot is left, else a compensated
        # (Neumaier) running sum so thousands of 0.001 fills do not drift.
        if len(lots) <= 1:
            self._position = lots[0][0] if lots else 0.0
            self._compensation = 0.0
        else:
            self._add_to_position(fill.signed_amount)
        self._average = None
        self._realised_pnl += realised
        return realised

    def charge_fee(self, fee_usd: float) -> None:
        """Book a fee (USD, positive = paid) learnt after its fill was booked: realised PnL drops by it."""
        self._realised_pnl -= fee_usd

    def _add_to_position(self, value: float) -> None:
        total = self._position + value
        if abs(self._position) >= abs(value):
            self._compensation += (self._position - total) + value
        else:
            self._compensation += (value - total) + self._position
        self._position = total

    def adopt(self, position: float, entry_price: float) -> None:
        """Replace the open lots by one lot of ``position`` (signed, underlying) at ``entry_price`` (USD).

        Used when the exchange's position is the truth; realised PnL is kept.

        Raises:
            InvalidValue: ``position`` is not finite or ``entry_price`` is negative or not finite.
        """
        finite(f"FifoPosition({self.instrument_name}).adopt position", position)
        non_negative(f"FifoPosition({self.instrument_name}).adopt entry_price", entry_price)
        self._lots.clear()
        self._average = None
        self._compensation = 0.0
        if abs(position) > AMOUNT_EPSILON:
            self._lots.append([position, entry_price])
            self._position = position
        else:
            self._position = 0.0

    def snapshot(self) -> Position:
        """The position as an immutable :class:`Position`."""
        return Position(self.instrument_name, self.position, self.average_price(), self._realised_pnl)


class PositionBook:
    """Positions of several instruments, and their reconciliation with the exchange's portfolio.

    Args:
        instruments: ``instrument_name -> Instrument`` for the instruments compared with the exchange
            (the tolerance is half a volume tick; others are not compared).
    """

    __slots__ = ("_books", "_instruments")

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = dict(instruments)
        self._books: dict[str, FifoPosition] = {}

    def __iter__(self) -> Iterator[FifoPosition]:
        return iter(self._books.values())

    def book(self, instrument_name: str) -> FifoPosition:
        """The FIFO book of one instrument, created flat on first use."""
        book = self._books.get(instrument_name)
        if book is None:
            book = self._books[instrument_name] = FifoPosition(instrument_name)
        return book

    def apply(self, fill: Fill) -> float:
        """Book a fill; returns the PnL it realised (USD, net of fee)."""
        return self.book(fill.instrument_name).apply(fill)

    def position(self, instrument_name: str) -> Position:
        """Signed position (underlying), FIFO entry price and realised PnL (USD); flat if never traded."""
        book = self._books.get(instrument_name)
        return book.snapshot() if book is not None else Position(instrument_name, 0.0, 0.0, 0.0)

    def amount(self, instrument_name: str) -> float:
        """Signed position in the underlying only (the tick path's cheap query); 0.0 if never traded."""
        book = self._books.get(instrument_name)
        return book.position if book is not None else 0.0

    def reconcile(self, entries: Sequence[PortfolioEntry], ts_ns: int, complete: bool) -> list[ResyncRequest]:
        """Compare with the exchange's portfolio; where ours differs by more than half a volume tick, adopt
        the exchange's position (the truth) and return a ResyncRequest naming both numbers.
        ``complete`` means an instrument missing from ``entries`` is flat on the exchange.
        """
        out: list[ResyncRequest] = []
        reported = {entry.instrument_name: entry for entry in entries}
        names = list(reported)
        if complete:
            names.extend(name for name in self._books if name not in reported)
        for name in names:
            instrument = self._instruments.get(name)
            if instrument is None:
                continue
            entry = reported.get(name)
            exchange_position = entry.position if entry is not None else 0.0
            book = self.book(name)
            ours = book.position
            if abs(ours - exchange_position) <= 0.5 * instrument.volume_tick_size:
                continue
            book.adopt(exchange_position, _adopted_entry_price(book, entry, exchange_position))
            out.append(
                ResyncRequest(
                    f"{name}: position {ours!r} from fills differs from the exchange's {exchange_position!r} "
                    f"by more than half a volume tick ({instrument.volume_tick_size}); adopted the exchange's",
                    ts_ns,
                    name,
                )
            )
        return out


def _adopted_entry_price(book: FifoPosition, entry: PortfolioEntry | None, position: float) -> float:
    # Prefer the exchange's average price; else ours if on the same side; else the mark.
    if entry is not None and entry.average_price is not None and entry.average_price > 0.0:
        return entry.average_price
    if book.position * position > 0.0:
        return book.average_price()
    if entry is not None and entry.mark_price is not None:
        return entry.mark_price
    return 0.0

"""Domain entities. Field names follow Thalex's API (shared/thalex-api/DIGEST.md) where Thalex has one.

Units: prices in USD (the quote currency), amounts in the underlying (e.g. BTC), times in int nanoseconds
(``*_ns``). Values entering the domain are validated here: NaN, inf and negative sizes or prices raise
:class:`InvalidValue` naming the field.

Inside the domain prices are integer ticks and amounts integer lots (multiples of ``volume_tick_size``);
:class:`Instrument` owns the only conversions between the two (bids floor, asks ceil, amounts floor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import msgspec

from .enums import (
    ChangeReason,
    DeleteReason,
    InstrumentKind,
    MakerTaker,
    OptionType,
    OrderStatus,
    OrderType,
    PriceReference,
    Side,
    TimeInForce,
)
from .errors import InvalidValue
from .validation import (
    finite,
    non_negative,
    optional_finite,
    optional_non_negative,
    optional_positive,
    positive,
)

# A price within this fraction of a tick of a grid point counts as on it: float division of a price that is
# on the grid (0.3 / 0.1 = 2.9999999999999996) must not floor to the tick below.
_GRID_EPSILON = 1e-9
# ... plus this fraction of the tick count itself: the division's own error grows with it (2**-53 relative), so at
# tens of millions of ticks a fixed 1e-9 tick is too small (0.1-tick grid: 2348996.8 / 0.1 = 23489967.999999996).
_GRID_RELATIVE = 1e-12
_INF = math.inf


def _decimals(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _exact_divisor(step: float) -> int:
    """N when ``step`` is the double nearest 1/N for an N of the form 2**a * 5**b (0.1, 0.5, 0.001, 1.0, ...),
    else 0. For such steps ``k / N`` (one correctly rounded division) is the double nearest the decimal
    ``k * step``, the same value as ``round(k * step, decimals)`` at a fraction of its cost."""
    n = round(1.0 / step)
    if n < 1 or 1.0 / n != step:
        return 0
    m = n
    for prime in (2, 5):
        while m % prime == 0:
            m //= prime
    return n if m == 1 else 0


# -- Instrument ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument (Thalex ``Instrument``).

    Args:
        instrument_name: e.g. ``BTC-PERPETUAL``, ``BTC-27DEC24``, ``BTC-27DEC24-70000-C``.
        kind: Thalex ``type``.
        underlying: index name, e.g. ``BTCUSD``.
        tick_size: price step in USD.
        volume_tick_size: amount step in the underlying.
        min_order_amount: smallest amount an insert or amend may have, in the underlying.
        product: e.g. ``FBTCUSD`` (futures and perpetuals) or ``OBTCUSD`` (options); used by MM protection.
        expiry_ns: Thalex ``expiration_timestamp`` in ns; None for perpetuals.
        strike_price: options only, USD.
        option_type: options only.
    """

    instrument_name: str
    kind: InstrumentKind
    underlying: str
    tick_size: float
    volume_tick_size: float
    min_order_amount: float
    product: str = ""
    expiry_ns: int | None = None
    strike_price: float | None = None
    option_type: OptionType | None = None
    price_decimals: int = field(init=False, repr=False, compare=False)
    amount_decimals: int = field(init=False, repr=False, compare=False)
    min_order_lots: int = field(init=False, repr=False, compare=False)
    _price_divisor: int = field(init=False, repr=False, compare=False)
    _amount_divisor: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.instrument_name:
            raise InvalidValue("Instrument.instrument_name must not be empty")
        positive(f"Instrument({self.instrument_name}).tick_size", self.tick_size)
        positive(f"Instrument({self.instrument_name}).volume_tick_size", self.volume_tick_size)
        positive(f"Instrument({self.instrument_name}).min_order_amount", self.min_order_amount)
        if self.min_order_amount < self.volume_tick_size * (1 - _GRID_EPSILON):
            raise InvalidValue(
                f"Instrument({self.instrument_name}).min_order_amount must be >= volume_tick_size "
                f"{self.volume_tick_size}, was {self.min_order_amount}"
            )
        if self.kind is InstrumentKind.OPTION and (self.strike_price is None or self.option_type is None):
            raise InvalidValue(f"Instrument({self.instrument_name}): an option needs strike_price and option_type")
        optional_positive(f"Instrument({self.instrument_name}).strike_price", self.strike_price)
        object.__setattr__(self, "price_decimals", _decimals(self.tick_size))
        object.__setattr__(self, "amount_decimals", _decimals(self.volume_tick_size))
        object.__setattr__(self, "_price_divisor", _exact_divisor(self.tick_size))
        object.__setattr__(self, "_amount_divisor", _exact_divisor(self.volume_tick_size))
        object.__setattr__(
            self, "min_order_lots", math.ceil(self.min_order_amount / self.volume_tick_size - _GRID_EPSILON)
        )

    @property
    def price_divisor(self) -> int:
        """N when the tick is the double nearest 1/N (N = 2**a * 5**b): :meth:`price` is ``ticks / N``; else 0."""
        return self._price_divisor

    @property
    def amount_divisor(self) -> int:
        """As :attr:`price_divisor`, for the volume tick and :meth:`amount`."""
        return self._amount_divisor

    # -- price <-> ticks: the only place prices are rounded ------------------------------------------

    def bid_ticks(self, price: float) -> int:
        """Price → ticks for a bid: rounded *down* (never more aggressive than asked)."""
        ticks = price / self.tick_size
        return math.floor(ticks + _GRID_EPSILON + _GRID_RELATIVE * abs(ticks))

    def ask_ticks(self, price: float) -> int:
        """Price → ticks for an ask: rounded *up*."""
        ticks = price / self.tick_size
        return math.ceil(ticks - _GRID_EPSILON - _GRID_RELATIVE * abs(ticks))

    def ticks_of(self, price: float) -> int:
        """Ticks of a price already on the grid (exchange-reported prices). Off-grid prices are refused."""
        ticks = round(price / self.tick_size)
        if abs(ticks * self.tick_size - price) > self.tick_size * 1e-6:
            raise InvalidValue(
                f"{self.instrument_name}: price {price!r} is not on the tick grid (tick_size {self.tick_size})"
            )
        return ticks

    def price(self, ticks: int) -> float:
        """Ticks → the exact decimal price as a float (no 0.30000000000000004)."""
        if self._price_divisor:
            return ticks / self._price_divisor
        return round(ticks * self.tick_size, self.price_decimals)

    def is_on_tick(self, price: float) -> bool:
        ticks = round(price / self.tick_size)
        return abs(ticks * self.tick_size - price) <= self.tick_size * 1e-6

    # -- amount <-> lots (multiples of volume_tick_size) ----------------------------------------------

    def lots_floor(self, amount: float) -> int:
        """Amount in the underlying → whole volume ticks, rounded down (never more than asked)."""
        lots = amount / self.volume_tick_size
        return math.floor(lots + _GRID_EPSILON + _GRID_RELATIVE * abs(lots))

    def lots_of(self, amount: float) -> int:
        """Lots of an amount already on the volume grid (exchange-reported amounts)."""
        return round(amount / self.volume_tick_size)

    def amount(self, lots: int) -> float:
        """Lots → amount in the underlying, exact to the volume tick's decimals."""
        if self._amount_divisor:
            return lots / self._amount_divisor
        return round(lots * self.volume_tick_size, self.amount_decimals)

    def is_on_volume_tick(self, amount: float) -> bool:
        lots = round(amount / self.volume_tick_size)
        return abs(lots * self.volume_tick_size - amount) <= self.volume_tick_size * 1e-6


# -- Market data ----------------------------------------------------------------------------------------


class Ticker(msgspec.Struct, frozen=True, gc=False):
    """Thalex ``Ticker`` (``ticker.<instrument>.<delay>``). A full state each time, not a diff.

    ``ts_exchange_ns`` is Thalex ``mark_timestamp``; ``ts_local_ns`` when we received it.
    Best bid/ask fields are None when that side of the book is empty. A frozen msgspec Struct (STYLE 6) rather than
    a frozen dataclass: one is built per ticker on the order path, in a quarter of the time; it holds no
    references that could form a cycle (``gc=False``).
    """

    instrument_name: str
    mark_price: float
    ts_exchange_ns: int
    ts_local_ns: int
    best_bid_price: float | None = None
    best_bid_amount: float | None = None
    best_ask_price: float | None = None
    best_ask_amount: float | None = None
    index: float | None = None
    last_price: float | None = None
    iv: float | None = None
    delta: float | None = None
    forward: float | None = None
    collar_low: float | None = None
    collar_high: float | None = None
    funding_rate: float | None = None
    open_interest: float | None = None

    def __post_init__(self) -> None:
        # One chained comparison per field on the good path (NaN fails every comparison); the named check
        # only runs to explain a failure. Tickers arrive many times a second.
        try:
            ok = (
                0.0 < self.mark_price < _INF
                and (self.best_bid_price is None or 0.0 < self.best_bid_price < _INF)
                and (self.best_ask_price is None or 0.0 < self.best_ask_price < _INF)
                and (self.best_bid_amount is None or 0.0 <= self.best_bid_amount < _INF)
                and (self.best_ask_amount is None or 0.0 <= self.best_ask_amount < _INF)
                and (self.index is None or 0.0 < self.index < _INF)
                and (self.last_price is None or 0.0 < self.last_price < _INF)
                and (self.iv is None or 0.0 <= self.iv < _INF)
                and (self.delta is None or -_INF < self.delta < _INF)
                and (self.forward is None or 0.0 < self.forward < _INF)
                and (self.collar_low is None or -_INF < self.collar_low < _INF)
                and (self.collar_high is None or -_INF < self.collar_high < _INF)
                and (self.funding_rate is None or -_INF < self.funding_rate < _INF)
                and (self.open_interest is None or 0.0 <= self.open_interest < _INF)
            )
        except TypeError:
            ok = False
        if not ok:
            self._explain_invalid()

    def _explain_invalid(self) -> None:
        name = self.instrument_name
        positive(f"Ticker({name}).mark_price", self.mark_price)
        optional_positive(f"Ticker({name}).best_bid_price", self.best_bid_price)
        optional_positive(f"Ticker({name}).best_ask_price", self.best_ask_price)
        optional_non_negative(f"Ticker({name}).best_bid_amount", self.best_bid_amount)
        optional_non_negative(f"Ticker({name}).best_ask_amount", self.best_ask_amount)
        optional_positive(f"Ticker({name}).index", self.index)
        optional_positive(f"Ticker({name}).last_price", self.last_price)
        optional_non_negative(f"Ticker({name}).iv", self.iv)
        optional_finite(f"Ticker({name}).delta", self.delta)
        optional_positive(f"Ticker({name}).forward", self.forward)
        optional_finite(f"Ticker({name}).collar_low", self.collar_low)
        optional_finite(f"Ticker({name}).collar_high", self.collar_high)
        optional_finite(f"Ticker({name}).funding_rate", self.funding_rate)
        optional_non_negative(f"Ticker({name}).open_interest", self.open_interest)
        raise InvalidValue(f"Ticker({name}) has a field of the wrong type")
    @property
    def mid_price(self) -> float:
        """Mid of the best bid and ask; the mark price when a side is empty."""
        if self.best_bid_price is None or self.best_ask_price is None:
            return self.mark_price
        return 0.5 * (self.best_bid_price + self.best_ask_price)

    def reference_price(self, reference: PriceReference) -> float:
        """The price ``reference`` names: the mark, or the book mid (the mark when a side is empty)."""
        return self.mark_price if reference is PriceReference.MARK else self.mid_price


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade (``recent_trades.*`` row ``[price, size, side, time, instrument_name, implied_taker]``,
    or a Tardis trade). ``taker_side`` is the aggressor's direction. ``trade_id`` is absent on Thalex's feed.
    """

    instrument_name: str
    price: float
    amount: float
    taker_side: Side
    ts_exchange_ns: int
    ts_local_ns: int
    trade_id: str | None = None

    def __post_init__(self) -> None:
        positive(f"Trade({self.instrument_name}).price", self.price)
        positive(f"Trade({self.instrument_name}).amount", self.amount)


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level: Thalex ``[price, amount, outright_amount]``."""

    price: float
    amount: float
    outright_amount: float = 0.0

    def __post_init__(self) -> None:
        positive("BookLevel.price", self.price)
        non_negative("BookLevel.amount", self.amount)
        non_negative("BookLevel.outright_amount", self.outright_amount)


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask of a book; a None price means that side is empty."""

    instrument_name: str
    bid_price: float | None
    bid_amount: float
    ask_price: float | None
    ask_amount: float
    ts_exchange_ns: int
    ts_local_ns: int

    def __post_init__(self) -> None:
        optional_positive(f"BookTop({self.instrument_name}).bid_price", self.bid_price)
        optional_positive(f"BookTop({self.instrument_name}).ask_price", self.ask_price)
        non_negative(f"BookTop({self.instrument_name}).bid_amount", self.bid_amount)
        non_negative(f"BookTop({self.instrument_name}).ask_amount", self.ask_amount)


@dataclass(frozen=True, slots=True)
class Book:
    """An order book snapshot: bids best (highest) first, asks best (lowest) first."""

    instrument_name: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_exchange_ns: int
    ts_local_ns: int

    def top(self) -> BookTop:
        bid = self.bids[0] if self.bids else None
        ask = self.asks[0] if self.asks else None
        return BookTop(
            self.instrument_name,
            bid.price if bid else None,
            bid.amount if bid else 0.0,
            ask.price if ask else None,
            ask.amount if ask else 0.0,
            self.ts_exchange_ns,
            self.ts_local_ns,
        )


# -- Orders and fills -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderFill:
    """Thalex ``OrderFill``: one execution inside an order update. ``amount`` is this fill's size, not cumulative."""

    trade_id: str
    price: float
    amount: float
    maker_taker: MakerTaker
    ts_exchange_ns: int

    def __post_init__(self) -> None:
        if not self.trade_id:
            raise InvalidValue("OrderFill.trade_id must not be empty")
        positive(f"OrderFill({self.trade_id}).price", self.price)
        positive(f"OrderFill({self.trade_id}).amount", self.amount)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """Thalex ``OrderStatus`` as it arrives in RPC results and ``session.orders``/``account.orders``.

    The live adapter and SimMatchEngine both emit this, so StateTracker cannot tell them apart.
    ``amount`` is the total (as inserted or amended), ``filled_amount`` cumulative, ``fills`` only the
    fills new in this update (all known fills when ``change_reason`` is ``existing``).
    """

    order_id: str
    client_order_id: int | None
    instrument_name: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: float | None
    amount: float
    filled_amount: float
    remaining_amount: float
    status: OrderStatus
    change_reason: ChangeReason
    ts_exchange_ns: int
    ts_local_ns: int
    delete_reason: DeleteReason | None = None
    fills: tuple[OrderFill, ...] = ()
    persistent: bool = True
    label: str | None = None

    def __post_init__(self) -> None:
        price = self.price
        # the usual update passes these comparisons alone (NaN fails them); anything else gets the full checks
        if (
            self.order_id
            and (price is None or 0.0 < price < _INF)
            and 0.0 <= self.amount < _INF
            and 0.0 <= self.filled_amount < _INF
            and 0.0 <= self.remaining_amount < _INF
            and self.status is not OrderStatus.PENDING
        ):
            return
        where = f"OrderUpdate({self.order_id})"
        if not self.order_id:
            raise InvalidValue("OrderUpdate.order_id must not be empty")
        optional_positive(f"{where}.price", self.price)
        non_negative(f"{where}.amount", self.amount)
        non_negative(f"{where}.filled_amount", self.filled_amount)
        non_negative(f"{where}.remaining_amount", self.remaining_amount)
        if self.status is OrderStatus.PENDING:
            raise InvalidValue(f"{where}.status: 'pending' is a local state, never reported by an exchange")


@dataclass(slots=True)
class Order:
    """One of our orders as the StateTracker sees it. Mutated only by the StateTracker.

    ``client_order_id`` is ours (session-local u64); ``order_id`` the exchange's opaque string, known once
    the exchange has acknowledged the order. ``request_in_flight`` marks the one request (insert, amend or
    cancel) that may be outstanding for this order; the reconciler leaves such orders alone. ``amend_amount`` is
    the new total amount of an amend in flight (None otherwise): until the exchange answers, the order may rest at
    either amount, so risk counts the larger (:attr:`exposure_amount`). ``mass_quote`` marks a level of our mass
    quotes (learned from the exchange: it carries no client_order_id), which the next mass quote replaces.
    """

    client_order_id: int
    instrument_name: str
    side: Side
    price: float
    amount: float
    created_ns: int
    order_id: str | None = None
    filled_amount: float = 0.0
    status: OrderStatus = OrderStatus.PENDING
    updated_ns: int = 0
    request_in_flight: str | None = None
    delete_reason: DeleteReason | None = None
    label: str | None = None
    amend_amount: float | None = None
    mass_quote: bool = False

    @property
    def remaining_amount(self) -> float:
        return max(0.0, self.amount - self.filled_amount)

    @property
    def exposure_amount(self) -> float:
        """What may rest (underlying): the remaining amount, or with an amend in flight the larger of the old and
        the requested remaining amount (LESSONS 10: the book as it will be)."""
        remaining = self.amount - self.filled_amount
        if self.amend_amount is not None and self.amend_amount > self.amount:
            remaining = self.amend_amount - self.filled_amount
        return remaining if remaining > 0.0 else 0.0


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill of one of our orders, emitted exactly once per ``trade_id``.

    ``price`` is this fill's price (not an average), ``amount`` this fill's size in the underlying,
    ``fee`` in USD when known.
    """

    trade_id: str
    order_id: str | None
    client_order_id: int | None
    instrument_name: str
    side: Side
    price: float
    amount: float
    maker_taker: MakerTaker
    ts_exchange_ns: int
    ts_local_ns: int
    fee: float = 0.0

    def __post_init__(self) -> None:
        positive(f"Fill({self.trade_id}).price", self.price)
        positive(f"Fill({self.trade_id}).amount", self.amount)
        finite(f"Fill({self.trade_id}).fee", self.fee)

    @property
    def signed_amount(self) -> float:
        return self.amount * self.side.sign


@dataclass(frozen=True, slots=True)
class Position:
    """Position in one instrument. ``position`` is signed (negative = short), in the underlying;
    ``average_price`` is the FIFO average entry of the open lots (USD, 0 when flat); ``realised_pnl`` USD.
    """

    instrument_name: str
    position: float
    average_price: float
    realised_pnl: float = 0.0

    def __post_init__(self) -> None:
        finite(f"Position({self.instrument_name}).position", self.position)
        non_negative(f"Position({self.instrument_name}).average_price", self.average_price)
        finite(f"Position({self.instrument_name}).realised_pnl", self.realised_pnl)

    def unrealised_pnl(self, mark_price: float) -> float:
        """Unrealised PnL in USD at the mark price (LESSONS 23: mark, not last or mid)."""
        return (mark_price - self.average_price) * self.position


@dataclass(frozen=True, slots=True)
class PortfolioEntry:
    """Thalex ``PortfolioEntry`` (``private/portfolio``, ``account.portfolio``): the exchange's view."""

    instrument_name: str
    position: float
    mark_price: float | None = None
    average_price: float | None = None
    unrealised_pnl: float | None = None
    realised_pnl: float | None = None

    def __post_init__(self) -> None:
        finite(f"PortfolioEntry({self.instrument_name}).position", self.position)
        optional_positive(f"PortfolioEntry({self.instrument_name}).mark_price", self.mark_price)


# -- Quotes -------------------------------------------------------------------------------------------------


class Quote(NamedTuple):
    """One desired resting order: a side, a price in ticks and an amount in lots (volume ticks).

    Produced by a strategy, already rounded by the Instrument (bids down, asks up, amounts down), with
    ``price_ticks`` > 0 and ``amount_lots`` >= the instrument's minimum; the RiskCheck re-checks price and amount
    before anything is sent. ``level`` is 0 for the level nearest the touch. A NamedTuple: immutable and cheap
    to build on the tick path (several per ticker).
    """

    side: Side
    price_ticks: int
    amount_lots: int
    level: int = 0

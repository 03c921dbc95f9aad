"""One tradable instrument inside the core: its spec, integer grid checks and the market inputs from MARKET.

Prices are integer ticks and amounts integer lots (multiples of ``volume_tick_size``) inside the core; the
domain :class:`~thalex_modular.platform.domain.entities.Instrument` owns the conversions back to USD / underlying.
"""

from __future__ import annotations

import math

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind, OptionType

from .errors import INVALID_AMOUNT, INVALID_PRICE, PRICE_NOT_ON_TICK, RpcError
from .types import InstrumentLike

# A request price within this fraction of a tick of a grid point is on the grid (float noise from clients).
_ON_GRID = 1e-6


class Listing:
    """Runtime state of one instrument: grid, market marks/collars (from ``set_market``) and last trade.

    Attributes:
        name: instrument name.
        product: MM-protection product (``FBTCUSD``, ``OBTCUSD``).
        is_option: True for options (fees and margin on the underlying notional).
        inst: the domain Instrument (tick/lot conversions).
        mark_price / index_price: USD, None until MARKET sets them.
        collar_low_ticks / collar_high_ticks: collar in ticks (low ceiled, high floored); None = no collar.
        iv: mark implied volatility (options), fraction per year, or None.
        last_price: USD of the last trade, None before the first.
        funding_value: perpetuals: funding PnL (USD) of a one-unit long since the last settlement (accounts.py).
        funding_rate / funding_index / funding_ns: the rate (per 24 h), index (USD) and time (int ns) of the last
            funding accrual step; None before the first (``funding.FundingMixin.accrue_funding``).
    """

    __slots__ = (
        "_amount_decimals",
        "_lot",
        "_price_decimals",
        "_tick",
        "collar_high_ticks",
        "collar_low_ticks",
        "funding_index",
        "funding_ns",
        "funding_rate",
        "funding_value",
        "index_price",
        "inst",
        "is_option",
        "iv",
        "last_price",
        "mark_price",
        "min_lots",
        "name",
        "product",
        "spec",
    )

    def __init__(self, spec: InstrumentLike) -> None:
        kind = InstrumentKind(spec.type)
        option_type = OptionType(spec.option_type) if spec.option_type else None
        expiry = spec.expiration_timestamp
        self.spec = spec
        self.name = spec.instrument_name
        self.product = spec.product
        self.is_option = kind is InstrumentKind.OPTION
        self.inst = Instrument(
            instrument_name=spec.instrument_name,
            kind=kind,
            underlying=spec.underlying,
            tick_size=spec.tick_size,
            volume_tick_size=spec.volume_tick_size,
            min_order_amount=spec.min_order_amount,
            product=spec.product,
            expiry_ns=expiry * 1_000_000_000 if expiry is not None else None,
            strike_price=spec.strike_price,
            option_type=option_type,
        )
        self.min_lots = self.inst.min_order_lots
        self._tick = self.inst.tick_size
        self._price_decimals = self.inst.price_decimals
        self._lot = self.inst.volume_tick_size
        self._amount_decimals = self.inst.amount_decimals
        self.mark_price: float | None = None
        self.index_price: float | None = None
        self.collar_low_ticks: int | None = None
        self.collar_high_ticks: int | None = None
        self.iv: float | None = None
        self.last_price: float | None = None
        self.funding_value = 0.0
        self.funding_rate: float | None = None
        self.funding_index: float | None = None
        self.funding_ns: int | None = None

    # -- request validation (integer math, no Decimal) ------------------------------------------------

    def price_ticks(self, price: float, field: str = "price") -> int:
        """A request price (USD) → ticks. Raises 13 for a non-positive or non-finite price, 15 if off the grid."""
        if not math.isfinite(price) or price <= 0.0:
            raise RpcError(INVALID_PRICE, f"invalid price: `{field}` must be > 0, was {price!r}")
        tick = self.inst.tick_size
        ticks = round(price / tick)
        if abs(ticks * tick - price) > tick * _ON_GRID or ticks <= 0:
            raise RpcError(
                PRICE_NOT_ON_TICK,
                f"price not aligned with tick: `{field}` {price!r} is not a multiple of tick_size {tick} "
                f"on {self.name}",
            )
        return ticks

    def amount_lots(self, amount: float, field: str = "amount", allow_zero: bool = False) -> int:
        """A request amount (underlying) → lots. Raises 14 if off the volume grid, not positive or below minimum."""
        if not math.isfinite(amount) or amount < 0.0 or (amount == 0.0 and not allow_zero):
            raise RpcError(INVALID_AMOUNT, f"invalid amount: `{field}` must be > 0, was {amount!r}")
        step = self.inst.volume_tick_size
        lots = round(amount / step)
        if abs(lots * step - amount) > step * _ON_GRID:
            raise RpcError(
                INVALID_AMOUNT,
                f"amount not aligned with tick: `{field}` {amount!r} is not a multiple of volume_tick_size {step} "
                f"on {self.name}",
            )
        if lots < self.min_lots and not (allow_zero and lots == 0):
            raise RpcError(
                INVALID_AMOUNT,
                f"invalid amount: `{field}` {amount!r} is below min_order_amount {self.inst.min_order_amount} "
                f"on {self.name}",
            )
        return lots

    def price(self, ticks: int) -> float:
        """Ticks → USD (same result as ``Instrument.price``, inlined: this is on the hot path)."""
        return round(ticks * self._tick, self._price_decimals)

    def amount(self, lots: int) -> float:
        """Lots → amount in the underlying (same result as ``Instrument.amount``, inlined)."""
        return round(lots * self._lot, self._amount_decimals)

    # -- market inputs --------------------------------------------------------------------------------

    def set_collar(self, collar_low: float | None, collar_high: float | None) -> None:
        """Collar from the ticker (USD): new bids above ``collar_high`` / asks below ``collar_low`` are caught."""
        self.collar_high_ticks = self.inst.bid_ticks(collar_high) if collar_high is not None else None
        self.collar_low_ticks = self.inst.ask_ticks(collar_low) if collar_low is not None else None

    def reference_price(self, fallback: float) -> float:
        """Mark price, else the given fallback (USD): the price margin and unrealised PnL use."""
        return self.mark_price if self.mark_price is not None else fallback

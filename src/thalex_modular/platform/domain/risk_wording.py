"""The words of a refusal: what :class:`~.risk.RiskCheck` says when :func:`~.risk_kernel.risk_code` refuses, naming
the limit, the field, the bound and the value."""

from __future__ import annotations

from .entities import Instrument
from .enums import Side
from .risk_kernel import (
    ABOVE_ACCOUNT_NOTIONAL,
    ABOVE_INSTRUMENT_NOTIONAL,
    ABOVE_MAX_NOTIONAL,
    ABOVE_MAX_OPEN_ORDERS,
    ABOVE_MAX_ORDER_AMOUNT,
    AMOUNT_NOT_POSITIVE,
    AMOUNT_OFF_GRID,
    ASK_BELOW_COLLAR,
    ASKS_PAST_MAX_POSITION,
    BAND_REFERENCE_UNUSABLE,
    BELOW_MIN_ORDER_AMOUNT,
    BID_ABOVE_COLLAR,
    BIDS_PAST_MAX_POSITION,
    MARK_AGE_UNKNOWN,
    MARK_TOO_OLD,
    MARK_UNUSABLE,
    OUTSIDE_PRICE_BAND,
    POSITION_NOT_FINITE,
    PRICE_NOT_POSITIVE,
    PRICE_OFF_GRID,
)
from .risk_values import Denial, OpenBook, RiskConfig, RiskContext, RiskLimit

__all__ = ["describe_refusal"]

_BPS = 10_000.0
_BUY = Side.BUY


def describe_refusal(
    config: RiskConfig,
    band_from_mark: bool,
    code: int,
    instrument: Instrument,
    side: Side,
    price: float,
    amount: float,
    open_amount: float,
    old_amount: float,
    added_orders: int,
    ctx: RiskContext,
    book: OpenBook,
) -> Denial:
    """The Denial for a refusal ``code`` of :func:`~.risk_kernel.risk_code` on these inputs."""
    cfg = config
    tick = instrument.tick_size
    lot = instrument.volume_tick_size
    name = instrument.instrument_name
    if code == PRICE_NOT_POSITIVE:
        return Denial(RiskLimit.PRICE, f"price must be finite and > 0, was {price!r}")
    if code == PRICE_OFF_GRID:
        return Denial(RiskLimit.PRICE, f"price {price!r} is not on the tick grid of {name} (tick_size {tick})")
    if code == AMOUNT_NOT_POSITIVE:
        return Denial(RiskLimit.AMOUNT, f"amount must be finite and > 0, was {amount!r}")
    if code == AMOUNT_OFF_GRID:
        return Denial(
            RiskLimit.AMOUNT, f"amount {amount!r} is not on the volume grid of {name} (volume_tick_size {lot})"
        )
    if code == BELOW_MIN_ORDER_AMOUNT:
        return Denial(
            RiskLimit.MIN_ORDER_AMOUNT,
            f"amount {amount!r} < min_order_amount {instrument.min_order_amount} of {name}",
        )
    if code == ABOVE_MAX_ORDER_AMOUNT:
        return Denial(
            RiskLimit.MAX_ORDER_AMOUNT, f"amount {open_amount!r} > max_order_amount {cfg.max_order_amount}"
        )
    if code == ABOVE_MAX_NOTIONAL:
        return Denial(
            RiskLimit.MAX_NOTIONAL_USD,
            f"notional {price * open_amount:.2f} USD (price {price!r} x amount {open_amount!r}) "
            f"> max_notional_usd {cfg.max_notional_usd}",
        )
    if code == ABOVE_MAX_OPEN_ORDERS:
        return Denial(
            RiskLimit.MAX_OPEN_ORDERS,
            f"open orders {book.order_count} + {added_orders} > max_open_orders {cfg.max_open_orders}",
        )
    if code == MARK_AGE_UNKNOWN:
        return Denial(RiskLimit.MARK_AGE, "mark_ts_ns is unknown; max_mark_age_ns needs it")
    if code == MARK_TOO_OLD:
        age = ctx.now_ns - (ctx.mark_ts_ns or 0)
        return Denial(RiskLimit.MARK_AGE, f"mark age {age} ns > max_mark_age_ns {cfg.max_mark_age_ns}")
    ref = ctx.mark_price if band_from_mark else ctx.index_price
    if code == BID_ABOVE_COLLAR:
        return Denial(RiskLimit.COLLAR, f"bid price {price!r} > collar_high {ctx.collar_high!r} of {name}")
    if code == ASK_BELOW_COLLAR:
        return Denial(RiskLimit.COLLAR, f"ask price {price!r} < collar_low {ctx.collar_low!r} of {name}")
    if code == BAND_REFERENCE_UNUSABLE:
        return Denial(
            RiskLimit.PRICE_BAND, f"{cfg.band_reference}_price must be finite and > 0 for the band, was {ref!r}"
        )
    if code == OUTSIDE_PRICE_BAND:
        assert ref is not None
        return Denial(
            RiskLimit.PRICE_BAND,
            f"price {price!r} is {abs(price - ref) / ref * _BPS:.1f} bps from {cfg.band_reference}_price "
            f"{ref!r} > price_band_bps {cfg.price_band_bps}",
        )
    position = ctx.position
    limit = cfg.max_position
    if code == POSITION_NOT_FINITE:
        return Denial(RiskLimit.MAX_POSITION, f"position must be finite, was {position!r}")
    if code == BIDS_PAST_MAX_POSITION:
        worst = position + book.bid_amount - old_amount + open_amount
        return Denial(
            RiskLimit.MAX_POSITION,
            f"position {position!r} + open bids {book.bid_amount - old_amount:.10g} + bid {open_amount!r} "
            f"= {worst:.10g} > max_position {limit}",
        )
    if code == ASKS_PAST_MAX_POSITION:
        worst = position - book.ask_amount + old_amount - open_amount
        return Denial(
            RiskLimit.MAX_POSITION,
            f"position {position!r} - open asks {book.ask_amount - old_amount:.10g} - ask {open_amount!r} "
            f"= {worst:.10g} < -max_position {-limit}",
        )
    if code == MARK_UNUSABLE:
        return Denial(RiskLimit.MAX_INSTRUMENT_NOTIONAL_USD,
                      f"mark_price must be finite and > 0 to value the position, was {ctx.mark_price!r}")
    if code in (ABOVE_INSTRUMENT_NOTIONAL, ABOVE_ACCOUNT_NOTIONAL):
        if side is _BUY:
            worst = position + book.bid_amount - old_amount + open_amount
        else:
            worst = -(position - book.ask_amount + old_amount - open_amount)
        notional = max(0.0, worst) * ctx.mark_price
        if code == ABOVE_INSTRUMENT_NOTIONAL:
            return Denial(
                RiskLimit.MAX_INSTRUMENT_NOTIONAL_USD,
                f"worst-case {side.value} position {worst:.10g} x mark {ctx.mark_price!r} = {notional:.2f} USD "
                f"> max_instrument_notional_usd {cfg.max_instrument_notional_usd}",
            )
        return Denial(
            RiskLimit.MAX_ACCOUNT_NOTIONAL_USD,
            f"account notional {ctx.other_notional_usd:.2f} USD + {name} worst case {notional:.2f} USD "
            f"> max_account_notional_usd {cfg.max_account_notional_usd}",
        )
    raise ValueError(f"unknown risk code {code} for {side} {price!r} x {amount!r} on {name}")

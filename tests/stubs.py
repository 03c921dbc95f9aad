"""Test factories with sensible defaults (BTC-PERPETUAL: tick 1 USD, volume tick 0.001 BTC)."""

from __future__ import annotations

from thalex_modular.platform.domain.entities import Instrument, Ticker, Trade
from thalex_modular.platform.domain.enums import InstrumentKind, OptionType, Side


def perpetual(
    name: str = "BTC-PERPETUAL",
    tick_size: float = 1.0,
    volume_tick_size: float = 0.001,
    min_order_amount: float = 0.001,
) -> Instrument:
    return Instrument(
        name, InstrumentKind.PERPETUAL, "BTCUSD", tick_size, volume_tick_size, min_order_amount, "FBTCUSD"
    )


def option(name: str = "BTC-27DEC24-70000-C", strike: float = 70_000.0) -> Instrument:
    return Instrument(
        name, InstrumentKind.OPTION, "BTCUSD", 5.0, 0.1, 0.1, "OBTCUSD",
        expiry_ns=1_735_286_400 * 10**9, strike_price=strike, option_type=OptionType.CALL,
    )


def ticker(
    bid: float | None = 99_999.0,
    ask: float | None = 100_001.0,
    mark: float = 100_000.0,
    ts_ns: int = 1_700_000_000 * 10**9,
    name: str = "BTC-PERPETUAL",
    bid_amount: float | None = 1.0,
    ask_amount: float | None = 1.0,
    collar_low: float | None = None,
    collar_high: float | None = None,
) -> Ticker:
    return Ticker(
        name, mark, ts_ns, ts_ns,
        best_bid_price=bid, best_bid_amount=bid_amount if bid is not None else None,
        best_ask_price=ask, best_ask_amount=ask_amount if ask is not None else None,
        index=mark, collar_low=collar_low, collar_high=collar_high,
    )


def trade(price: float, amount: float, taker_side: Side, ts_ns: int, name: str = "BTC-PERPETUAL") -> Trade:
    return Trade(name, price, amount, taker_side, ts_ns, ts_ns)

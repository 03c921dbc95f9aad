"""Wire structs of Thalex messages (msgspec). Field comments name the api.yaml field; numbers decode straight to
float/int (no intermediate dicts). Unknown fields are ignored so additions on Thalex's side do not break decoding.

Conversions to domain entities live in :mod:`.codec`.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Envelope",
    "InstrumentWire",
    "LoginResult",
    "MassQuoteError",
    "MassQuoteResult",
    "MmProtectionUpdate",
    "OrderFillWire",
    "OrderIdWire",
    "OrderOwnerWire",
    "OrderStatusWire",
    "PortfolioEntryWire",
    "RpcErrorBody",
    "SetCodResult",
    "SystemEvent",
    "TickerWire",
    "TradeRow",
    "TradeWire",
]


class RpcErrorBody(msgspec.Struct, frozen=True, gc=False):
    code: int  # ErrorResponse.error.code
    message: str = ""  # ErrorResponse.error.message


class Envelope(msgspec.Struct, frozen=True):
    """Any frame: a reply (``id`` + ``result`` | ``error``) or a notification (``channel_name`` + ``notification``).

    ``result`` and ``notification`` stay raw JSON until the typed decoder for that request or channel runs; an
    absent field is an empty Raw, a JSON ``null`` is ``b"null"``.
    """

    id: int | None = None  # RpcResponse.id (we always send ints)
    result: msgspec.Raw = msgspec.Raw()  # RpcResponse.result
    error: RpcErrorBody | None = None  # RpcErrorResponse.error
    channel_name: str | None = None  # notification channel, verbatim as subscribed
    notification: msgspec.Raw = msgspec.Raw()  # notification payload
    snapshot: bool = False  # true on the first message of a stateful feed


class OrderFillWire(msgspec.Struct, frozen=True, gc=False):
    trade_id: str  # OrderFill.trade_id
    price: float  # OrderFill.price
    amount: float  # OrderFill.amount (this fill's size)
    maker_taker: str  # OrderFill.maker_taker
    time: float | None = None  # OrderFill.time (Unix s)
    leg_index: int = 0  # OrderFill.leg_index


class OrderIdWire(msgspec.Struct, frozen=True, gc=False):
    """Only the ``order_id`` of an OrderStatus (the rest is skipped unparsed)."""

    order_id: str  # OrderStatus.order_id


class OrderOwnerWire(msgspec.Struct, frozen=True, gc=False):
    """What tells whose an OrderStatus is (the rest is skipped unparsed)."""

    instrument_name: str | None = None  # OrderStatus.instrument_name (absent for combinations)
    label: str | int | float | None = None  # OrderStatus.label
    persistent: bool = True  # OrderStatus.persistent


class OrderStatusWire(msgspec.Struct, frozen=True, gc=False):
    order_id: str  # OrderStatus.order_id
    direction: str  # OrderStatus.direction
    amount: float  # OrderStatus.amount (total as inserted or amended)
    filled_amount: float  # OrderStatus.filled_amount (cumulative)
    remaining_amount: float  # OrderStatus.remaining_amount
    status: str  # OrderStatus.status
    change_reason: str  # OrderStatus.change_reason
    order_type: str = "limit"  # OrderStatus.order_type
    time_in_force: str = "good_till_cancelled"  # OrderStatus.time_in_force
    persistent: bool = True  # OrderStatus.persistent
    fills: list[OrderFillWire] = []  # OrderStatus.fills (new fills; all of them when change_reason is existing)
    instrument_name: str | None = None  # OrderStatus.instrument_name (absent for combinations)
    price: float | None = None  # OrderStatus.price (absent for market orders)
    label: str | int | float | None = None  # OrderStatus.label ("can also be a number")
    client_order_id: int | None = None  # OrderStatus.client_order_id (u64)
    delete_reason: str | None = None  # OrderStatus.delete_reason
    insert_reason: str | None = None  # OrderStatus.insert_reason
    create_time: float | None = None  # OrderStatus.create_time (Unix s; required in api.yaml, absent in its example)
    close_time: float | None = None  # OrderStatus.close_time (Unix s)
    reduce_only: bool = False  # OrderStatus.reduce_only


class TickerWire(msgspec.Struct, frozen=True, gc=False):
    mark_price: float  # Ticker.mark_price
    mark_timestamp: float | None = None  # Ticker.mark_timestamp (Unix s)
    best_bid_price: float | None = None  # Ticker.best_bid_price (null: empty side)
    best_bid_amount: float | None = None  # Ticker.best_bid_amount
    best_ask_price: float | None = None  # Ticker.best_ask_price
    best_ask_amount: float | None = None  # Ticker.best_ask_amount
    last_price: float | None = None  # Ticker.last_price
    index: float | None = None  # Ticker.index
    iv: float | None = None  # Ticker.iv (options)
    delta: float | None = None  # Ticker.delta
    forward: float | None = None  # Ticker.forward (options)
    collar_low: float | None = None  # Ticker.collar_low (checks new asks)
    collar_high: float | None = None  # Ticker.collar_high (checks new bids)
    funding_rate: float | None = None  # Ticker.funding_rate (perpetuals)
    open_interest: float | None = None  # Ticker.open_interest


class TradeRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One ``recent_trades.*`` row: ``[price, size, side, time, instrument_name, implied_taker]``."""

    price: float  # row[0] price
    amount: float  # row[1] size
    direction: str  # row[2] taker side
    time: float  # row[3] Unix s
    instrument_name: str  # row[4]
    implied_taker: bool = False  # row[5]


class TradeWire(msgspec.Struct, frozen=True, gc=False):
    """One of our trades (``account.trade_history``, ``private/trade_history``). api.yaml requires no field of
    Trade: every one is optional here, and :func:`~.codec.fill_to_domain` refuses a trade lacking what a fill needs."""

    trade_id: str | None = None  # Trade.trade_id
    instrument_name: str | None = None  # Trade.instrument_name
    direction: str | None = None  # Trade.direction
    price: float | None = None  # Trade.price
    amount: float | None = None  # Trade.amount
    time: float | None = None  # Trade.time (Unix s)
    maker_taker: str = "maker"  # Trade.maker_taker
    order_id: str | None = None  # Trade.order_id
    client_order_id: int | None = None  # Trade.client_order_id
    fee: float = 0.0  # Trade.fee (USD)
    trade_type: str = "normal"  # Trade.trade_type
    label: str | int | float | None = None  # Trade.label


class PortfolioEntryWire(msgspec.Struct, frozen=True, gc=False):
    instrument_name: str  # PortfolioEntry.instrument_name
    position: float  # PortfolioEntry.position (negative = short)
    mark_price: float | None = None  # PortfolioEntry.mark_price
    average_price: float | None = None  # PortfolioEntry.average_price
    start_price: float | None = None  # PortfolioEntry.start_price
    unrealised_pnl: float | None = None  # PortfolioEntry.unrealised_pnl
    realised_pnl: float | None = None  # PortfolioEntry.realised_pnl
    index: float | None = None  # PortfolioEntry.index
    iv: float | None = None  # PortfolioEntry.iv


class InstrumentWire(msgspec.Struct, frozen=True, gc=False):
    instrument_name: str  # Instrument.instrument_name
    type: str  # Instrument.type
    tick_size: float  # Instrument.tick_size
    volume_tick_size: float  # Instrument.volume_tick_size
    min_order_amount: float  # Instrument.min_order_amount
    underlying: str = ""  # Instrument.underlying
    product: str = ""  # Instrument.product
    base_currency: str = "USD"  # Instrument.base_currency
    expiry_date: str | None = None  # Instrument.expiry_date (YYYY-MM-DD)
    expiration_timestamp: int | None = None  # Instrument.expiration_timestamp (Unix s)
    strike_price: float | None = None  # Instrument.strike_price
    option_type: str | None = None  # Instrument.option_type
    create_time: float | None = None  # Instrument.create_time (Unix s)


class LoginResult(msgspec.Struct, frozen=True):
    account_number: str  # public/login result.account_number


class SetCodResult(msgspec.Struct, frozen=True):
    message_rate: int | None = None  # private/set_cancel_on_disconnect result.message_rate


class MassQuoteError(msgspec.Struct, frozen=True):
    code: float | None = None  # mass_quote result.errors[].code (api.yaml: number)
    message: str = ""  # .message
    side: str | None = None  # .side ("bid" / "ask")
    price: float | None = None  # .price


class MassQuoteResult(msgspec.Struct, frozen=True):
    """api.yaml types the counts as numbers (a JSON ``2.0`` is as valid as ``2``)."""

    n_success: float  # private/mass_quote result.n_success
    n_fail: float  # result.n_fail
    errors: list[MassQuoteError] = []  # result.errors


class MmProtectionUpdate(msgspec.Struct, frozen=True):
    product: str  # session.mm_protection[].product
    remaining_amount: float  # [].remaining_amount
    reason: str  # [].reason: refill | executions | client_cancel | session_end | failover


class SystemEvent(msgspec.Struct, frozen=True):
    event: str  # system.event ("reconnect")

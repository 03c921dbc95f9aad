"""Thalex wire ↔ domain. Decoders are built once (module level); a frame is decoded in two steps: the envelope
(:func:`decode_envelope`, payloads left raw) and then the typed decoder of that reply or channel. Thalex's float
seconds become int ns here, once (:func:`~thalex_modular.platform.domain.clock.seconds_to_ns`).

Request encoding (:func:`encode_request` and the ``*_params`` helpers) produces the UTF-8 JSON bytes of one frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple, TypeVar

import msgspec

from thalex_modular.platform.domain.clock import seconds_to_ns
from thalex_modular.platform.domain.entities import (
    Fill,
    Instrument,
    OrderFill,
    OrderUpdate,
    PortfolioEntry,
    Ticker,
    Trade,
)
from thalex_modular.platform.domain.errors import DomainError
from thalex_modular.platform.domain.events import MmProtectionUpdate
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder

from .enums import (
    CHANGE_REASON,
    DELETE_REASON,
    DIRECTION,
    DIRECTION_TO_THALEX,
    INSTRUMENT_KIND,
    MAKER_TAKER,
    OPTION_TYPE,
    ORDER_STATUS,
    ORDER_TYPE,
    ORDER_TYPE_TO_THALEX,
    TIME_IN_FORCE,
    TIME_IN_FORCE_TO_THALEX,
)
from .errors import DecodeError
from .schemas import (
    Envelope,
    InstrumentWire,
    MmProtectionUpdate as MmProtectionWire,
    OrderIdWire,
    OrderOwnerWire,
    OrderStatusWire,
    PortfolioEntryWire,
    TickerWire,
    TradeRow,
    TradeWire,
)

__all__ = [
    "amend_params",
    "cancel_params",
    "decode_envelope",
    "decode_instrument",
    "decode_instruments",
    "decode_mm_protection",
    "decode_order",
    "decode_orders",
    "decode_own_trades",
    "decode_portfolio",
    "decode_result",
    "decode_ticker",
    "decode_trades",
    "encode_request",
    "fill_to_domain",
    "insert_params",
    "instrument_to_domain",
    "mass_quote_side",
    "order_id_of",
    "order_owner_of",
    "order_to_domain",
    "portfolio_to_domain",
    "split_orders",
    "ticker_to_domain",
    "trade_to_domain",
]

T = TypeVar("T")
Payload = bytes | str | msgspec.Raw


class OrderOwner(NamedTuple):
    """Whose an order is: its instrument (None for a combination), label and persistence (OrderOwnership)."""

    instrument_name: str | None
    label: str | None
    persistent: bool

_ENVELOPE: Final = msgspec.json.Decoder(Envelope)
# strict=False: an OrderStatus may echo client_order_id as a JSON float (DIGEST 8.1)
_ORDER: Final = msgspec.json.Decoder(OrderStatusWire, strict=False)
_ORDER_RAWS: Final = msgspec.json.Decoder(list[msgspec.Raw])
_ORDER_ID: Final = msgspec.json.Decoder(OrderIdWire)
_ORDER_OWNER: Final = msgspec.json.Decoder(OrderOwnerWire)
_TICKER: Final = msgspec.json.Decoder(TickerWire)
_TRADES: Final = msgspec.json.Decoder(list[TradeRow])
_OWN_TRADES: Final = msgspec.json.Decoder(list[TradeWire], strict=False)
_MM_PROTECTION: Final = msgspec.json.Decoder(list[MmProtectionWire], strict=False)
_PORTFOLIO: Final = msgspec.json.Decoder(list[PortfolioEntryWire])
_INSTRUMENT: Final = msgspec.json.Decoder(InstrumentWire)
_INSTRUMENTS: Final = msgspec.json.Decoder(list[InstrumentWire])
_ENCODER: Final = msgspec.json.Encoder()
_RESULT_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _lookup(table: dict[str, T], value: str, field: str) -> T:
    try:
        return table[value]
    except KeyError:
        raise DecodeError(f"unknown Thalex `{field}` value {value!r}; expected one of {sorted(table)}") from None


# -- envelope and typed payloads --------------------------------------------------------------------------


def decode_envelope(frame: bytes | str) -> Envelope:
    """First decoding step of every frame: reply or notification, payload still raw.

    Raises:
        DecodeError: the frame is not a JSON object of the envelope's shape.
    """
    try:
        return _ENVELOPE.decode(frame)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed frame: {exc}") from None


def decode_result(raw: Payload, result_type: type[T]) -> T:
    """Decode an RPC ``result`` into ``result_type`` (a msgspec-supported type); decoders are cached per type."""
    decoder = _RESULT_DECODERS.get(result_type)
    if decoder is None:
        decoder = _RESULT_DECODERS[result_type] = msgspec.json.Decoder(result_type)
    try:
        value: T = decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed {getattr(result_type, '__name__', result_type)}: {exc}") from None
    return value


def _typed(decoder: msgspec.json.Decoder[T], raw: Payload, what: str) -> T:
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed {what}: {exc}") from None


def decode_orders(raw: Payload, ts_local_ns: int, skipped: list[str] | None = None) -> list[OrderUpdate]:
    """``session.orders`` / ``account.orders`` payloads and ``private/open_orders`` results. An item we cannot use
    (an enum value outside api.yaml, a combination order) is left out and described in ``skipped`` when given, else
    it raises.

    Raises:
        DecodeError: the payload is not an array of OrderStatus, or (without ``skipped``) an item is unusable.
    """
    out = []
    for item in split_orders(raw):
        try:
            out.append(decode_order(item, ts_local_ns))
        except DecodeError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
    return out


def split_orders(raw: Payload) -> list[msgspec.Raw]:
    """An OrderStatus array (``session.orders`` payload) as the raw JSON of each element."""
    return _typed(_ORDER_RAWS, raw, "OrderStatus[]")


def order_id_of(raw: Payload) -> str:
    """The ``order_id`` of one raw OrderStatus, without decoding the rest."""
    return _typed(_ORDER_ID, raw, "OrderStatus").order_id


def order_owner_of(raw: Payload) -> OrderOwner:
    """Instrument, label and persistence of one raw OrderStatus, without decoding the rest."""
    w = _typed(_ORDER_OWNER, raw, "OrderStatus")
    return OrderOwner(w.instrument_name, None if w.label is None else str(w.label), w.persistent)


def decode_order(raw: Payload, ts_local_ns: int) -> OrderUpdate:
    """The OrderStatus result of insert / amend / cancel."""
    return order_to_domain(_typed(_ORDER, raw, "OrderStatus"), ts_local_ns)


def decode_ticker(raw: Payload, instrument_name: str, ts_local_ns: int) -> Ticker:
    """A ``ticker.<instrument>.<delay>`` payload or a ``public/ticker`` result."""
    return ticker_to_domain(_typed(_TICKER, raw, "Ticker"), instrument_name, ts_local_ns)


def decode_trades(raw: Payload, ts_local_ns: int) -> list[Trade]:
    """A ``recent_trades.<target>.<category>`` payload (array of rows)."""
    return [trade_to_domain(row, ts_local_ns) for row in _typed(_TRADES, raw, "recent_trades rows")]


def decode_own_trades(raw: Payload, ts_local_ns: int, skipped: list[str] | None = None) -> list[Fill]:
    """An ``account.trade_history`` payload: our trades as fills (with the fee). Only ``normal`` trades count; one
    lacking what a fill needs is left out and described in ``skipped`` when given, else it raises."""
    out = []
    for w in _typed(_OWN_TRADES, raw, "Trade[]"):
        if w.trade_type != "normal":
            continue
        try:
            out.append(fill_to_domain(w, ts_local_ns))
        except DecodeError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
    return out


def decode_mm_protection(raw: Payload, ts_local_ns: int) -> list[MmProtectionUpdate]:
    """A ``session.mm_protection`` payload: ``[{product, remaining_amount, reason}]``."""
    return [
        MmProtectionUpdate(w.product, w.remaining_amount, w.reason, ts_local_ns)
        for w in _typed(_MM_PROTECTION, raw, "session.mm_protection items")
    ]


def decode_portfolio(raw: Payload) -> list[PortfolioEntry]:
    """An ``account.portfolio`` payload or a ``private/portfolio`` result."""
    return [portfolio_to_domain(w) for w in _typed(_PORTFOLIO, raw, "PortfolioEntry[]")]


def decode_instrument(raw: Payload) -> Instrument:
    """A ``public/instrument`` result."""
    return instrument_to_domain(_typed(_INSTRUMENT, raw, "Instrument"))


def decode_instruments(raw: Payload) -> list[Instrument]:
    """A ``public/instruments`` result; combinations (no tick grid of their own here) are skipped."""
    return [instrument_to_domain(w) for w in _typed(_INSTRUMENTS, raw, "Instrument[]") if w.type != "combination"]


# -- wire → domain -------------------------------------------------------------------------------------------


def order_to_domain(w: OrderStatusWire, ts_local_ns: int) -> OrderUpdate:
    """OrderStatus → :class:`OrderUpdate`. ``ts_exchange_ns`` is the newest of close_time, the fills' times and
    create_time (Thalex stamps no time on an amend); ``ts_local_ns`` when none is present."""
    exchange_s = w.create_time
    if w.close_time is not None and (exchange_s is None or w.close_time > exchange_s):
        exchange_s = w.close_time
    fills: tuple[OrderFill, ...] = ()
    if w.fills:
        fills = tuple(
            OrderFill(
                f.trade_id,
                f.price,
                f.amount,
                _lookup(MAKER_TAKER, f.maker_taker, "maker_taker"),
                seconds_to_ns(f.time) if f.time is not None else ts_local_ns,
            )
            for f in w.fills
        )
        for f in w.fills:
            if f.time is not None and (exchange_s is None or f.time > exchange_s):
                exchange_s = f.time
    if w.instrument_name is None:
        raise DecodeError(f"OrderStatus {w.order_id}: combination orders (no `instrument_name`) are not supported")
    # enum lookups: plain dict gets on the usual path, the error message only for an unknown value
    side = DIRECTION.get(w.direction)
    order_type = ORDER_TYPE.get(w.order_type)
    time_in_force = TIME_IN_FORCE.get(w.time_in_force)
    status = ORDER_STATUS.get(w.status)
    change_reason = CHANGE_REASON.get(w.change_reason)
    if side is None or order_type is None or time_in_force is None or status is None or change_reason is None:
        side = _lookup(DIRECTION, w.direction, "direction")
        order_type = _lookup(ORDER_TYPE, w.order_type, "order_type")
        time_in_force = _lookup(TIME_IN_FORCE, w.time_in_force, "time_in_force")
        status = _lookup(ORDER_STATUS, w.status, "status")
        change_reason = _lookup(CHANGE_REASON, w.change_reason, "change_reason")
    try:
        return OrderUpdate(
            w.order_id,
            w.client_order_id,
            w.instrument_name,
            side,
            order_type,
            time_in_force,
            w.price,
            w.amount,
            w.filled_amount,
            w.remaining_amount,
            status,
            change_reason,
            seconds_to_ns(exchange_s) if exchange_s is not None else ts_local_ns,
            ts_local_ns,
            _lookup(DELETE_REASON, w.delete_reason, "delete_reason") if w.delete_reason else None,
            fills,
            w.persistent,
            None if w.label is None else str(w.label),
        )
    except DomainError as exc:
        raise DecodeError(f"invalid OrderStatus {w.order_id}: {exc}") from None


def ticker_to_domain(w: TickerWire, instrument_name: str, ts_local_ns: int) -> Ticker:
    """Ticker → :class:`Ticker`; ``ts_exchange_ns`` is ``mark_timestamp`` (our receive time when absent)."""
    try:
        return Ticker(
            instrument_name,
            w.mark_price,
            seconds_to_ns(w.mark_timestamp) if w.mark_timestamp is not None else ts_local_ns,
            ts_local_ns,
            w.best_bid_price,
            w.best_bid_amount,
            w.best_ask_price,
            w.best_ask_amount,
            w.index,
            w.last_price,
            w.iv,
            w.delta,
            w.forward,
            w.collar_low,
            w.collar_high,
            w.funding_rate,
            w.open_interest,
        )
    except DomainError as exc:
        raise DecodeError(f"invalid Ticker of {instrument_name}: {exc}") from None


def trade_to_domain(row: TradeRow, ts_local_ns: int) -> Trade:
    """recent_trades row → :class:`Trade` (``taker_side`` = the row's side; Thalex sends no trade id here)."""
    try:
        return Trade(
            row.instrument_name,
            row.price,
            row.amount,
            _lookup(DIRECTION, row.direction, "direction"),
            seconds_to_ns(row.time),
            ts_local_ns,
        )
    except DomainError as exc:
        raise DecodeError(f"invalid recent_trades row of {row.instrument_name}: {exc}") from None


def fill_to_domain(w: TradeWire, ts_local_ns: int) -> Fill:
    """Trade → :class:`Fill` (``price`` this trade's price, ``fee`` USD; ``ts_exchange_ns`` our receive time when
    the trade has no ``time``).

    Raises:
        DecodeError: the trade lacks ``trade_id``, ``instrument_name``, ``direction``, ``price`` or ``amount``.
    """
    if w.trade_id is None or w.instrument_name is None or w.direction is None or w.price is None or w.amount is None:
        missing = [name for name in ("trade_id", "instrument_name", "direction", "price", "amount")
                   if getattr(w, name) is None]
        raise DecodeError(f"Trade {w.trade_id}: missing {', '.join(missing)}; a fill needs them")
    try:
        return Fill(
            trade_id=w.trade_id,
            order_id=w.order_id,
            client_order_id=w.client_order_id,
            instrument_name=w.instrument_name,
            side=_lookup(DIRECTION, w.direction, "direction"),
            price=w.price,
            amount=w.amount,
            maker_taker=_lookup(MAKER_TAKER, w.maker_taker, "maker_taker"),
            ts_exchange_ns=seconds_to_ns(w.time) if w.time is not None else ts_local_ns,
            ts_local_ns=ts_local_ns,
            fee=w.fee,
        )
    except DomainError as exc:
        raise DecodeError(f"invalid Trade {w.trade_id}: {exc}") from None


def portfolio_to_domain(w: PortfolioEntryWire) -> PortfolioEntry:
    try:
        return PortfolioEntry(
            w.instrument_name, w.position, w.mark_price, w.average_price, w.unrealised_pnl, w.realised_pnl
        )
    except DomainError as exc:
        raise DecodeError(f"invalid PortfolioEntry of {w.instrument_name}: {exc}") from None


def instrument_to_domain(w: InstrumentWire) -> Instrument:
    """Instrument → :class:`Instrument`; ``expiration_timestamp`` (int s) → ``expiry_ns``."""
    try:
        return Instrument(
            instrument_name=w.instrument_name,
            kind=_lookup(INSTRUMENT_KIND, w.type, "type"),
            underlying=w.underlying,
            tick_size=w.tick_size,
            volume_tick_size=w.volume_tick_size,
            min_order_amount=w.min_order_amount,
            product=w.product,
            expiry_ns=seconds_to_ns(w.expiration_timestamp) if w.expiration_timestamp is not None else None,
            strike_price=w.strike_price,
            option_type=_lookup(OPTION_TYPE, w.option_type, "option_type") if w.option_type else None,
        )
    except DomainError as exc:
        raise DecodeError(f"invalid Instrument {w.instrument_name}: {exc}") from None


# -- requests ------------------------------------------------------------------------------------------------


def encode_request(method: str, params: dict[str, Any], request_id: int) -> bytes:
    """One JSON-RPC request frame ``{"method", "params", "id"}`` as UTF-8 bytes (send as a text frame)."""
    return _ENCODER.encode({"method": method, "params": params, "id": request_id})


def insert_params(request: InsertOrder) -> dict[str, Any]:
    """``private/insert`` params of an :class:`InsertOrder` (``post_only`` etc. only when set, like the official
    client)."""
    params: dict[str, Any] = {
        "direction": DIRECTION_TO_THALEX[request.side],
        "instrument_name": request.instrument_name,
        "amount": request.amount,
        "price": request.price,
        "client_order_id": request.client_order_id,
        "order_type": ORDER_TYPE_TO_THALEX[request.order_type],
        "time_in_force": TIME_IN_FORCE_TO_THALEX[request.time_in_force],
    }
    if request.post_only:
        params["post_only"] = True
    if request.reject_post_only:
        params["reject_post_only"] = True
    if request.label is not None:
        params["label"] = request.label
    return params


def amend_params(request: AmendOrder, by_order_id: bool) -> dict[str, Any]:
    """``private/amend`` params; ``amount`` is the new total. ``by_order_id`` addresses an order of an older
    session (client_order_ids are session-local)."""
    if by_order_id:
        return {"order_id": request.order_id, "price": request.price, "amount": request.amount}
    return {"client_order_id": request.client_order_id, "price": request.price, "amount": request.amount}


def cancel_params(request: CancelOrder, by_order_id: bool) -> dict[str, Any]:
    """``private/cancel`` params (by ``client_order_id`` in this session, else by ``order_id``)."""
    if by_order_id:
        return {"order_id": request.order_id}
    return {"client_order_id": request.client_order_id}


def mass_quote_side(levels: Sequence[tuple[float, float]]) -> list[list[float]]:
    """One mass-quote side as Thalex's multi-level form ``[[price, amount], ...]`` (USD, underlying)."""
    return [[price, amount] for price, amount in levels]

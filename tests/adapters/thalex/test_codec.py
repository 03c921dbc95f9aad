"""Codec: real frames captured from the emulator (frames/emulator_session.jsonl, /tmp capture of a session with a
fill) and api.yaml examples (frames/api_examples.jsonl), decoded with full-struct equality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from thalex_modular.platform.adapters.exchanges.thalex import DecodeError
from thalex_modular.platform.adapters.exchanges.thalex.codec import (
    amend_params,
    cancel_params,
    decode_envelope,
    decode_instrument,
    decode_order,
    decode_orders,
    decode_own_trades,
    decode_portfolio,
    decode_result,
    decode_ticker,
    decode_trades,
    encode_request,
    insert_params,
)
from thalex_modular.platform.adapters.exchanges.thalex.schemas import MassQuoteResult, SetCodResult
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
from thalex_modular.platform.domain.enums import (
    ChangeReason,
    DeleteReason,
    InstrumentKind,
    MakerTaker,
    OptionType,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder

FRAMES = Path(__file__).parent / "frames"
LOCAL = 1_800_000_000_000_000_000  # our receive time (int ns)


def frames(name: str) -> list[bytes]:
    return [line.encode() for line in (FRAMES / name).read_text().splitlines() if line.strip()]


def find(name: str, **match: Any) -> bytes:
    for frame in frames(name):
        message = json.loads(frame)
        if all(message.get(k) == v for k, v in match.items()):
            return frame
    raise LookupError(f"no frame with {match} in {name}")


def test_envelope_splits_replies_and_notifications() -> None:
    reply = decode_envelope(find("emulator_session.jsonl", id=2))
    assert reply.id == 2 and reply.channel_name is None and reply.error is None
    assert decode_result(reply.result, SetCodResult) == SetCodResult(message_rate=50)
    error = decode_envelope(find("emulator_session.jsonl", id=9))
    assert error.error is not None and error.error.code == 1 and "999" in error.error.message
    snapshot = decode_envelope(find("emulator_session.jsonl", channel_name="session.orders", snapshot=True))
    assert snapshot.snapshot is True and bytes(snapshot.notification) == b"[]"
    null_result = decode_envelope(b'{"id":5,"result":null}')
    assert bytes(null_result.result) == b"null"
    with pytest.raises(DecodeError, match="malformed frame"):
        decode_envelope(b"[1,2]")


def test_insert_result_and_fill_notification_from_the_emulator() -> None:
    # Arrange
    inserted = decode_envelope(find("emulator_session.jsonl", id=6))
    fill_frames = [
        f for f in frames("emulator_session.jsonl") if b'"change_reason":"fill"' in f and b"session.orders" in f
    ]

    # Act
    update = decode_order(inserted.result, LOCAL)
    [fill_update] = decode_orders(decode_envelope(fill_frames[0]).notification, LOCAL)

    # Assert
    assert update == OrderUpdate(
        order_id="0000000000000001",
        client_order_id=100,
        instrument_name="BTC-PERPETUAL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        price=98997.0,
        amount=0.02,
        filled_amount=0.0,
        remaining_amount=0.02,
        status=OrderStatus.OPEN,
        change_reason=ChangeReason.INSERT,
        ts_exchange_ns=seconds_to_ns(1733011200.454152),
        ts_local_ns=LOCAL,
        delete_reason=None,
        fills=(),
        persistent=False,
        label="q1",
    )
    fill_time_ns = seconds_to_ns(1733011200.7549188)
    assert fill_update == OrderUpdate(
        order_id="0000000000000001",
        client_order_id=100,
        instrument_name="BTC-PERPETUAL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        price=98997.0,
        amount=0.02,
        filled_amount=0.005,
        remaining_amount=0.015,
        status=OrderStatus.PARTIALLY_FILLED,
        change_reason=ChangeReason.FILL,
        ts_exchange_ns=fill_time_ns,
        ts_local_ns=LOCAL,
        fills=(OrderFill("00800000000000000000000000000001", 98997.0, 0.005, MakerTaker.MAKER, fill_time_ns),),
        persistent=False,
        label="q1",
    )


def test_ticker_trades_portfolio_trade_history_and_instruments() -> None:
    ticker_frame = decode_envelope(find("api_examples.jsonl", channel_name="ticker.BTC-PERPETUAL.100ms"))
    assert decode_ticker(ticker_frame.notification, "BTC-PERPETUAL", LOCAL) == Ticker(
        instrument_name="BTC-PERPETUAL",
        mark_price=47238.64143906124,
        ts_exchange_ns=946684800 * 10**9,
        ts_local_ns=LOCAL,
        best_bid_price=47240.0,
        best_bid_amount=0.4,
        best_ask_price=47260.0,
        best_ask_amount=1.0,
        delta=1.0,
        open_interest=123.456,
    )
    emulator_ticker = decode_envelope(find("emulator_session.jsonl", channel_name="ticker.BTC-PERPETUAL.raw"))
    ticker = decode_ticker(emulator_ticker.notification, "BTC-PERPETUAL", LOCAL)
    assert ticker.best_bid_price is None and ticker.collar_low is not None and ticker.funding_rate == 0.0

    trades = decode_envelope(
        next(
            f
            for f in frames("emulator_session.jsonl")
            if f.startswith(b'{"channel_name":"recent_trades') and b"snapshot" not in f
        )
    )
    assert decode_trades(trades.notification, LOCAL) == [
        Trade("BTC-PERPETUAL", 98997.0, 0.005, Side.SELL, seconds_to_ns(1733011200.7549188), LOCAL)
    ]

    portfolio = decode_envelope(find("emulator_session.jsonl", id=10))
    [entry] = decode_portfolio(portfolio.result)
    assert entry == PortfolioEntry("BTC-PERPETUAL", 0.005, entry.mark_price, 98997.0, entry.unrealised_pnl, 0.0)
    assert entry.mark_price is not None and entry.mark_price > 90_000

    history = decode_envelope(find("emulator_session.jsonl", channel_name="account.trade_history"))
    [fill] = decode_own_trades(history.notification, LOCAL)
    assert fill == Fill(
        trade_id="00800000000000000000000000000001",
        order_id="0000000000000001",
        client_order_id=100,
        instrument_name="BTC-PERPETUAL",
        side=Side.BUY,
        price=98997.0,
        amount=0.005,
        maker_taker=MakerTaker.MAKER,
        ts_exchange_ns=seconds_to_ns(1733011200.7549188),
        ts_local_ns=LOCAL,
        fee=fill.fee,
    )
    assert fill.fee == pytest.approx(98997.0 * 0.005 * 1e-4)  # emulator maker fee 1 bp

    perp = decode_instrument(decode_envelope(find("emulator_session.jsonl", id=4)).result)
    assert perp == Instrument("BTC-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD")
    call = decode_instrument(decode_envelope(find("emulator_session.jsonl", id=5)).result)
    assert call == Instrument(
        "BTC-27DEC24-100000-C",
        InstrumentKind.OPTION,
        "BTCUSD",
        5.0,
        0.1,
        0.1,
        "OBTCUSD",
        expiry_ns=call.expiry_ns,
        strike_price=100000.0,
        option_type=OptionType.CALL,
    )
    assert call.expiry_ns == 1735286400 * 10**9  # 2024-12-27 08:00 UTC


def test_api_yaml_examples_and_edge_values() -> None:
    # the api.yaml OrderStatus example omits create_time: the receive time stands in
    example = decode_order(decode_envelope(find("api_examples.jsonl", id=77)).result, LOCAL)
    assert example.ts_exchange_ns == LOCAL and example.order_id == "1728379719872" and example.amount == 1.1
    assert example.client_order_id is None and example.label is None and example.persistent is True
    [closed] = decode_orders(decode_envelope(find("api_examples.jsonl", channel_name="account.orders")).notification, 0)
    assert closed.client_order_id == 2**64 - 1  # u64 kept exact (never through float)
    assert closed.label == "42"  # "label can also be a number"
    assert closed.status is OrderStatus.CANCELLED_PARTIALLY_FILLED
    assert closed.delete_reason is DeleteReason.MM_PROTECTION
    assert closed.ts_exchange_ns == seconds_to_ns(1631250801.5)  # close_time


def test_unknown_enum_values_and_bad_numbers_are_typed_errors() -> None:
    base = json.loads(bytes(decode_envelope(find("api_examples.jsonl", id=77)).result))
    with pytest.raises(DecodeError, match="`status` value 'sleeping'"):
        decode_order(msgspec.json.encode({**base, "status": "sleeping"}), LOCAL)
    with pytest.raises(DecodeError, match="amount"):
        decode_order(msgspec.json.encode({**base, "amount": -1}), LOCAL)
    with pytest.raises(DecodeError, match="malformed OrderStatus"):
        decode_order(msgspec.json.encode({**base, "price": "cheap"}), LOCAL)
    with pytest.raises(DecodeError, match="mark_price"):
        decode_ticker(b'{"mark_price": 0, "mark_timestamp": 1}', "BTC-PERPETUAL", LOCAL)


def test_what_api_yaml_allows_is_accepted_and_what_we_cannot_use_is_skipped_not_fatal() -> None:
    # Trade requires no field in api.yaml: a trade without `time` is our receive time; one without what a fill needs
    # is left out (and named) instead of failing the whole trade_history payload
    trade = {"trade_id": "T1", "order_id": "O1", "instrument_name": "BTC-PERPETUAL", "direction": "buy",
             "price": 100_000.0, "amount": 0.01, "fee": 0.1, "trade_type": "normal"}
    no_price = {k: v for k, v in trade.items() if k != "price"} | {"trade_id": "T2"}
    skipped: list[str] = []
    [fill] = decode_own_trades(msgspec.json.encode([trade, no_price]), LOCAL, skipped)
    assert fill.trade_id == "T1" and fill.ts_exchange_ns == LOCAL and fill.fee == 0.1
    assert len(skipped) == 1 and "T2" in skipped[0] and "price" in skipped[0]
    with pytest.raises(DecodeError, match="missing price"):
        decode_own_trades(msgspec.json.encode([no_price]), LOCAL)
    # mass-quote counts are numbers in api.yaml: 2.0 is as valid as 2
    result = decode_result(b'{"n_success": 2.0, "n_fail": 1.0, "errors": [{"code": 5.0, "message": "x"}]}',
                           MassQuoteResult)
    assert result.n_success == 2 and result.n_fail == 1 and result.errors[0].code == 5
    # an order list with an item outside api.yaml keeps the others and says which one it left out
    base = json.loads(bytes(decode_envelope(find("api_examples.jsonl", id=77)).result))
    payload = msgspec.json.encode([{**base, "order_id": "bad", "status": "sleeping"}, base])
    skipped = []
    [kept] = decode_orders(payload, LOCAL, skipped)
    assert kept.order_id == base["order_id"] and len(skipped) == 1 and "sleeping" in skipped[0]
    with pytest.raises(DecodeError, match="sleeping"):
        decode_orders(payload, LOCAL)


def test_request_encoding() -> None:
    insert = InsertOrder(7, "BTC-PERPETUAL", Side.SELL, 100_001.0, 0.002, label="mm")
    assert json.loads(encode_request("private/insert", insert_params(insert), 3)) == {
        "method": "private/insert",
        "params": {
            "direction": "sell",
            "instrument_name": "BTC-PERPETUAL",
            "amount": 0.002,
            "price": 100_001.0,
            "client_order_id": 7,
            "order_type": "limit",
            "time_in_force": "good_till_cancelled",
            "post_only": True,
            "label": "mm",
        },
        "id": 3,
    }
    amend = AmendOrder(7, "00AB", "BTC-PERPETUAL", 100_002.0, 0.004)
    assert amend_params(amend, by_order_id=False) == {"client_order_id": 7, "price": 100_002.0, "amount": 0.004}
    assert amend_params(amend, by_order_id=True) == {"order_id": "00AB", "price": 100_002.0, "amount": 0.004}
    cancel = CancelOrder(2**64 - 1, "00AB", "BTC-PERPETUAL")
    assert b"18446744073709551615" in encode_request("private/cancel", cancel_params(cancel, False), 4)
    assert cancel_params(cancel, by_order_id=True) == {"order_id": "00AB"}

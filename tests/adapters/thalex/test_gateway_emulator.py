"""ThalexGateway + ThalexMarketFeed against the real emulator over a websocket."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from thalex_kit import START_S, Recorder, WallClock

from thalex_modular.emulator.server import EmulatorServer
from thalex_modular.platform.adapters.exchanges.thalex import (
    MassQuote,
    ResyncSnapshot,
    ThalexConfig,
    ThalexCredentials,
    ThalexGateway,
    ThalexMarketFeed,
    ThalexRpcError,
    ThalexSession,
)
from thalex_modular.platform.domain.entities import OrderUpdate
from thalex_modular.platform.domain.enums import ChangeReason, DeleteReason, OrderStatus, Side
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder
from thalex_modular.platform.domain.tracking.account_exposure import OrderOwnership

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERP = "BTC-PERPETUAL"
LABEL = "t1"


def live_stack(
    url: str, credentials: ThalexCredentials, **config: object
) -> tuple[ThalexSession, ThalexGateway, ThalexMarketFeed, Recorder, list[ResyncSnapshot]]:
    clock = WallClock()
    session = ThalexSession(ThalexConfig.local(url, **config), clock, credentials)
    recorder = Recorder()
    resyncs: list[ResyncSnapshot] = []
    gateway = ThalexGateway(
        session, clock, ownership=OrderOwnership(LABEL), instrument_names=[PERP], on_resync=resyncs.append
    )
    gateway.set_answer_sink(recorder)
    feed = ThalexMarketFeed(session, PERP, recorder)
    return session, gateway, feed, recorder, resyncs


async def test_login_cod_subscribe_and_order_round_trip(
    emulator: EmulatorServer, credentials: ThalexCredentials
) -> None:
    # Arrange
    session, gateway, _feed, rec, resyncs = live_stack(emulator.url, credentials)
    await session.start(timeout_s=10)
    await rec.wait_for(lambda: len(rec.tickers) > 0, what="first ticker")
    mark = rec.tickers[-1].mark_price
    bid = float(int(mark * 0.95))

    # Act: insert, amend, cancel
    await gateway.submit(InsertOrder(101, PERP, Side.BUY, bid, 0.01, label=LABEL))
    await rec.wait_for(lambda: any(u.change_reason is ChangeReason.INSERT for u in rec.updates(101)), what="insert")
    inserted = rec.updates(101)[0]
    await gateway.submit(AmendOrder(101, inserted.order_id, PERP, bid - 5.0, 0.02))
    await rec.wait_for(lambda: any(u.change_reason is ChangeReason.AMEND for u in rec.updates(101)), what="amend")
    await gateway.submit(CancelOrder(101, inserted.order_id, PERP))
    await rec.wait_for(lambda: any(u.status.is_terminal for u in rec.updates(101)), what="cancel")

    # Assert
    assert session.account_number == "A000000001" and session.ready
    assert len(resyncs) == 1 and resyncs[0].open_orders == () and resyncs[0].connects == 1
    assert inserted.status is OrderStatus.OPEN and inserted.price == bid and inserted.amount == 0.01
    assert inserted.persistent is False  # inserted after set_cancel_on_disconnect
    assert inserted.label == LABEL and inserted.instrument_name == PERP and inserted.side is Side.BUY
    amended = next(u for u in rec.updates(101) if u.change_reason is ChangeReason.AMEND)
    assert amended.price == bid - 5.0 and amended.amount == 0.02
    final = next(u for u in rec.updates(101) if u.status.is_terminal)
    assert final.status is OrderStatus.CANCELLED and final.delete_reason is DeleteReason.CLIENT_CANCEL
    # each answer came twice, as the RPC result and as the session.orders notification; the notification that
    # repeats the result byte for byte is recognised and not delivered again
    assert sum(1 for u in rec.updates(101) if u.change_reason is ChangeReason.INSERT) == 1
    assert sum(1 for u in rec.updates(101) if u.change_reason is ChangeReason.AMEND) == 1
    assert gateway.repeats_skipped == 2
    assert rec.rejections() == []
    assert all(t.instrument_name == PERP and t.ts_local_ns > 0 for t in rec.tickers)
    assert await gateway.open_orders() == []
    await session.stop()
    assert rec.downs, "the feed reports the stop as feed down"


async def test_rpc_errors_become_request_rejected(emulator: EmulatorServer, credentials: ThalexCredentials) -> None:
    # Arrange
    session, gateway, _feed, rec, _ = live_stack(emulator.url, credentials)
    await session.start(timeout_s=10)
    await rec.wait_for(lambda: len(rec.tickers) > 0, what="first ticker")
    mark = rec.tickers[-1].mark_price

    # Act: off-tick price (15), bad amount (14), cancel of an unknown order (1), unknown instrument (5)
    await gateway.submit(InsertOrder(201, PERP, Side.BUY, float(int(mark * 0.9)) + 0.5, 0.01))
    await gateway.submit(InsertOrder(202, PERP, Side.BUY, float(int(mark * 0.9)), 0.0015))
    await gateway.submit(CancelOrder(203, "00000000DEADBEEF", PERP))
    await gateway.submit(InsertOrder(204, "BTC-NOPE", Side.SELL, 100.0, 0.01))
    await rec.wait_for(lambda: len(rec.rejections()) == 4, what="four rejections")

    # Assert
    codes = {r.client_order_id: r.code for r in rec.rejections()}
    assert codes == {201: 15, 202: 14, 203: 1, 204: 5}
    rejected = next(r for r in rec.rejections() if r.client_order_id == 201)
    assert isinstance(rejected.request, InsertOrder) and rejected.request.price == float(int(mark * 0.9)) + 0.5
    with pytest.raises(ThalexRpcError) as info:
        await session.call("private/cancel", {"order_id": "00000000DEADBEEF"})
    assert info.value.code == 1 and info.value.method == "private/cancel"
    await session.stop()


async def test_an_undecodable_order_notification_is_skipped_and_asks_for_a_resync_without_dropping_the_session(
    emulator: EmulatorServer, credentials: ThalexCredentials
) -> None:
    # Arrange
    session, gateway, _feed, rec, resyncs = live_stack(emulator.url, credentials)
    desyncs: list[str] = []
    gateway.set_desync_sink(desyncs.append)
    await session.start(timeout_s=10)
    await rec.wait_for(lambda: len(resyncs) == 1, what="first resync")
    bid = float(int(rec.tickers[-1].mark_price * 0.95)) if rec.tickers else 50_000.0
    # Act: a session.orders payload with an item we cannot read (a status value api.yaml does not have) before one
    # we can
    handler = gateway._on_orders
    good = (b'{"order_id": "X2", "instrument_name": "BTC-PERPETUAL", "direction": "buy", "amount": 0.01, '
            b'"filled_amount": 0, "remaining_amount": 0.01, "status": "open", "change_reason": "insert", '
            b'"price": ' + str(bid).encode() + b', "persistent": false, "label": "t1", "fills": []}')
    bad = good.replace(b'"X2"', b'"X1"').replace(b'"open"', b'"exploded"')
    handler(msgspec.Raw(b"[" + bad + b", " + good + b"]"), False, 0)
    # Assert: the bad item is skipped and reported (a resync rebuilds our state), the good one is delivered, and the
    # session stays up: no reconnect, no order pulled by cancel-on-disconnect
    await asyncio.sleep(0.2)
    assert len(desyncs) == 1 and "exploded" in desyncs[0]
    assert gateway.undecodable == 1
    assert [a.order_id for a in rec.answers if isinstance(a, OrderUpdate)] == ["X2"]
    assert session.connects == 1 and session.ready and len(resyncs) == 1
    await session.stop()


async def test_bad_key_is_a_clear_non_retried_error(emulator: EmulatorServer, tmp_path: object) -> None:
    from thalex_modular.emulator.keys import generate_key

    # Arrange: a key the emulator does not know
    stranger = generate_key()
    creds = ThalexCredentials.from_pem(stranger.kid, stranger.private_key_pem.encode())
    session = ThalexSession(ThalexConfig.local(emulator.url), WallClock(), creds)

    # Act / Assert
    with pytest.raises(ThalexRpcError) as info:
        await session.start(timeout_s=10)
    assert info.value.code == 19 and info.value.method == "public/login"
    assert session.failed_attempts == 0
    await session.stop()


async def test_shadow_feed_without_login(emulator: EmulatorServer) -> None:
    # Arrange
    session = ThalexSession(ThalexConfig.local(emulator.url), WallClock())
    rec = Recorder()
    ThalexMarketFeed(session, PERP, rec)

    # Act
    await session.start(timeout_s=10)
    await rec.wait_for(lambda: len(rec.tickers) >= 3, what="three tickers")

    # Assert
    assert not session.logged_in and session.account_number is None
    ticker = rec.tickers[-1]
    assert ticker.collar_low is not None and ticker.collar_high is not None
    assert ticker.collar_low < ticker.mark_price < ticker.collar_high
    assert ticker.ts_exchange_ns >= int(START_S * 1e9)  # mark_timestamp (sim time) converted to int ns
    with pytest.raises(ValueError, match="credentials"):
        ThalexGateway(session, WallClock(), ownership=OrderOwnership(LABEL))
    await session.stop()


async def test_mass_quote_with_mm_protection(emulator: EmulatorServer, credentials: ThalexCredentials) -> None:
    # Arrange
    session, gateway, _feed, rec, _ = live_stack(emulator.url, credentials)
    await session.start(timeout_s=10)
    await rec.wait_for(lambda: len(rec.tickers) > 0, what="first ticker")
    mark = rec.tickers[-1].mark_price
    bid, ask = float(int(mark * 0.995)), float(int(mark * 1.005))
    quote = MassQuote(PERP, [(bid, 0.01), (bid - 5.0, 0.02)], [(ask, 0.01)])

    # Act / Assert: without protection both sides fail (23), with it both succeed
    unprotected = await gateway.mass_quote([quote])
    assert unprotected.n_success == 0 and {e.code for e in unprotected.errors} == {23}
    await gateway.set_mm_protection("FBTCUSD", trade_amount=0.05, quote_amount=0.05)
    result = await gateway.mass_quote([quote], label=LABEL)
    assert (result.n_success, result.n_fail) == (2, 0)
    await rec.wait_for(
        lambda: (
            {u.price for u in rec.answers if isinstance(u, OrderUpdate) and u.status is OrderStatus.OPEN}
            >= {bid, bid - 5.0, ask}
        ),
        what="quote orders in session.orders",
    )
    assert len(await gateway.open_orders()) == 3
    await gateway.cancel_mass_quote("FBTCUSD")
    assert await gateway.open_orders() == []
    with pytest.raises(ValueError, match="trade_amount"):
        await gateway.set_mm_protection("FBTCUSD", trade_amount=1.0, quote_amount=0.5)
    await session.stop()


async def test_a_request_the_websocket_cannot_take_at_once_waits_and_is_sent(
    emulator: EmulatorServer, credentials: ThalexCredentials
) -> None:
    # Arrange: the transport's buffer is full (paused writing)
    session, gateway, _feed, rec, _ = live_stack(emulator.url, credentials)
    await session.start(timeout_s=10)
    await rec.wait_for(lambda: len(rec.tickers) > 0, what="first ticker")
    bid = float(int(rec.tickers[-1].mark_price * 0.95))
    conn = session.connection
    assert conn is not None and conn.can_send_now()
    ws = conn._ws  # the DirectClientConnection
    ws.pause_writing()
    insert = InsertOrder(301, PERP, Side.BUY, bid, 0.01)
    # Act / Assert: nothing done at once; the awaited submit waits for the buffer, then sends
    assert not conn.can_send_now() and not gateway.submit_now(insert)
    assert rec.updates(301) == [] and conn.pending == 0
    submit = asyncio.get_running_loop().create_task(gateway.submit(insert))
    await asyncio.sleep(0.05)
    assert not submit.done()
    ws.resume_writing()
    await asyncio.wait_for(submit, 5)
    await rec.wait_for(lambda: any(u.change_reason is ChangeReason.INSERT for u in rec.updates(301)), what="insert")
    # and the usual case is done at once, without awaiting anything
    assert conn.can_send_now() and gateway.submit_now(CancelOrder(301, rec.updates(301)[0].order_id, PERP))
    await rec.wait_for(lambda: any(u.status.is_terminal for u in rec.updates(301)), what="cancel")
    assert rec.rejections() == []
    await session.stop()

"""JournalShipper: records of a session shipped in order (seq 1, 2, ...), one batch in flight, paced, retried with
the same seq, market data capped and counted, session records never dropped; end to end into a real
PersistenceService on an embedded store.

The receiver in most tests is the transport seam (``send``) played by a small recorder that can fail, stall or hang
on demand, as the Persistence actor's remote call would."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path

import pytest

from stubs import ticker, trade
from thalex_modular.deployment.journal_shipper import JournalShipper, equity_source
from thalex_modular.platform.adapters.storage.persistence_service import PersistenceService
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, Position
from thalex_modular.platform.domain.enums import (
    ChangeReason,
    MakerTaker,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from thalex_modular.platform.domain.storage import (
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    QuoteRecord,
    Record,
    TradeRecord,
)

NAME = "BTC-PERPETUAL"
T0 = 1_700_000_000 * 10**9
END = 2**62


def update(i: int) -> OrderUpdate:
    return OrderUpdate(
        order_id=f"o{i}", client_order_id=100 + i, instrument_name=NAME, side=Side.BUY, order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, price=99_000.0 + i, amount=0.01, filled_amount=0.0, remaining_amount=0.01,
        status=OrderStatus.OPEN, change_reason=ChangeReason.INSERT, ts_exchange_ns=T0 + i, ts_local_ns=T0 + i + 3,
        label="mm",
    )


def fill(i: int) -> Fill:
    return Fill(f"t{i}", f"o{i}", 100 + i, NAME, Side.BUY, 99_000.0 + i, 0.01, MakerTaker.MAKER, T0 + i, T0 + i + 5,
                fee=-0.0025)


class Receiver:
    """Plays the persistence service's ``submit``: records each call; fails, stalls or hangs when told to."""

    def __init__(self, *, fail_first: int = 0, delay_s: float = 0.0, hang_first: bool = False) -> None:
        self.calls: list[tuple[float, int, list[Record]]] = []  # (monotonic start, seq, records)
        self.acked: list[tuple[int, list[Record]]] = []
        self.fail_left = fail_first
        self.delay_s = delay_s
        self.hang = hang_first
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, sender: str, seq: int, records: list[Record]) -> None:
        self.calls.append((time.monotonic(), seq, records))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang:
                self.hang = False
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay_s)
            if self.fail_left:
                self.fail_left -= 1
                raise ConnectionError("persistence actor unavailable")
            self.acked.append((seq, records))
        finally:
            self.in_flight -= 1

    def records(self) -> list[Record]:
        return [r for _, batch in self.acked for r in batch]


async def test_everything_journaled_reaches_the_store(tmp_path: Path) -> None:
    # Arrange: the real service on an embedded store; a shipper recording market data too
    service = PersistenceService(tmp_path / "store.duckdb", tmp_path / "spill", flush_interval_s=0.05)
    await service.start()
    shipper = JournalShipper(NAME, "shadow", service.submit, record_market_data=True, interval_s=0.05)
    shipper.start()
    # Act: what a session journals
    for i in range(30):
        shipper.order(update(i))
        shipper.ticker(ticker(bid=99_990.0 + i, ts_ns=T0 + i))
        if i % 3 == 0:
            shipper.trade(fill(i))
            shipper.public_trade(trade(99_995.0, 0.5, Side.SELL, T0 + i))
        if i % 10 == 0:
            shipper.position(Position(NAME, 0.01 * i, 99_000.0, 0.5), T0 + i, 99_100.0)
            shipper.equity(T0 + i, 10_000.0 + i, 0.5, 1.0)
        await asyncio.sleep(0.005)
    status = await shipper.close()
    await service.flush()
    # Assert: every record stored under the session's source, nothing left
    assert (status.unshipped, status.session_waiting, status.market_waiting, status.market_dropped) == (0, 0, 0, 0)
    orders = await service.read_orders("shadow", NAME, 0, END)
    assert [o.order_id for o in orders] == [f"o{i}" for i in range(30)]
    assert orders[0] == OrderRecord("o0", T0, "insert", "open", 100, NAME, 1, 99_000.0, 0.01, 0.0, T0 + 3, "mm",
                                    "shadow")
    fills = await service.read_fills("shadow", NAME, 0, END)
    assert fills[1] == FillRecord("t3", T0 + 3, "o3", 103, NAME, 1, 99_003.0, 0.01, "maker", -0.0025, T0 + 8, "shadow")
    assert len(fills) == 10
    positions = await service.read_positions("shadow", NAME, 0, END)
    assert [p.position for p in positions] == [0.0, 0.1, 0.2]
    assert positions[1] == PositionRecord("shadow", NAME, T0 + 10, 0.1, 99_000.0, 0.5, 10.0, 99_100.0)
    equity = await service.read_equity(equity_source("shadow", NAME), 0, END)
    assert [e.equity for e in equity] == [10_000.0, 10_010.0, 10_020.0]
    quotes = await service.storage.read_quotes(NAME, 0, END, clock="local")
    assert quotes["bid_price"].tolist() == [99_990.0 + i for i in range(30)]
    assert len(await service.storage.read_trades(NAME, 0, END)) == 10
    assert service.status().senders[0].sender == shipper.sender and status.next_seq == shipper.batches_shipped + 1
    await service.close()


async def test_batches_leave_in_seq_order_one_at_a_time_paced() -> None:
    # Arrange: a receiver taking 30 ms per batch
    receiver = Receiver(delay_s=0.03)
    shipper = JournalShipper(NAME, "live", receiver, interval_s=0.1)
    shipper.start()
    # Act: orders journaled continuously for ~0.6 s
    for i in range(60):
        shipper.order(update(i))
        await asyncio.sleep(0.01)
    await shipper.close()
    # Assert: 1, 2, 3, ... one in flight, each batch sent at least interval_s after the one before (no backlog)
    seqs = [seq for _, seq, _ in receiver.calls]
    assert len(seqs) >= 3 and seqs == list(range(1, len(seqs) + 1)) and receiver.max_in_flight == 1
    starts = [t for t, _, _ in receiver.calls]
    assert all(b - a >= 0.1 - 0.005 for a, b in itertools.pairwise(starts[:-1]))  # close() skips it
    assert [r.order_id for r in receiver.records() if isinstance(r, OrderRecord)] == [f"o{i}" for i in range(60)]


async def test_a_backlog_leaves_in_full_batches_without_waiting() -> None:
    receiver = Receiver()
    shipper = JournalShipper(NAME, "live", receiver, interval_s=10.0, max_batch_records=100)
    for i in range(450):
        shipper.order(update(i))
    shipper.start()
    status = await shipper.close(timeout_s=5.0)
    assert [len(batch) for _, batch in receiver.acked] == [100, 100, 100, 100, 50]
    assert status.unshipped == 0 and status.next_seq == 6


async def test_a_failed_send_is_retried_with_the_same_seq_and_records_after_growing_pauses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange: the receiver fails three times, then answers
    receiver = Receiver(fail_first=3)
    shipper = JournalShipper(NAME, "live", receiver, interval_s=0.02, retry_initial_s=0.02, retry_max_s=0.05)
    shipper.order(update(0))
    # Act
    with caplog.at_level(logging.INFO, logger="thalex_modular.deployment.journal_shipper"):
        shipper.start()
        while not receiver.acked:
            await asyncio.sleep(0.01)
        shipper.order(update(1))
        status = await shipper.close()
    # Assert: seq 1 four times with the same records, pauses 0.02, 0.04, 0.05 (capped), then seq 2
    assert [seq for _, seq, _ in receiver.calls] == [1, 1, 1, 1, 2]
    assert all(batch is receiver.calls[0][2] for _, seq, batch in receiver.calls if seq == 1)
    starts = [t for t, _, _ in receiver.calls[:4]]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.05
    assert (status.send_failures, status.batches_shipped, status.records_shipped) == (3, 2, 2)
    assert status.last_error == "ConnectionError: persistence actor unavailable"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "batch 1 not delivered" in warnings[0]  # once per streak, not per retry
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_send_that_never_answers_times_out_and_is_sent_again() -> None:
    receiver = Receiver(hang_first=True)
    shipper = JournalShipper(NAME, "live", receiver, send_timeout_s=0.1, retry_initial_s=0.01)
    shipper.order(update(0))
    shipper.start()
    status = await shipper.close(timeout_s=5.0)
    assert [seq for _, seq, _ in receiver.calls] == [1, 1]
    assert status.unshipped == 0 and status.last_error is not None and "TimeoutError" in status.last_error


async def test_market_data_past_the_cap_is_dropped_and_counted_session_records_never(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange: the receiver is away (fails) for now
    receiver = Receiver(fail_first=10**9)
    shipper = JournalShipper(NAME, "shadow", receiver, record_market_data=True, max_market_records=10,
                             warn_session_records=50, interval_s=0.01, retry_initial_s=0.01, retry_max_s=0.01)
    shipper.start()
    with caplog.at_level(logging.WARNING, logger="thalex_modular.deployment.journal_shipper"):
        while not receiver.calls:  # the first batch (one ticker) is in flight, failing
            shipper.ticker(ticker(ts_ns=T0))
            await asyncio.sleep(0.005)
        in_flight = shipper.status().in_flight
        # Act: 25 more tickers and 120 orders while it is away
        for i in range(25):
            shipper.ticker(ticker(bid=99_000.0 + i, ts_ns=T0 + i + 1))
        for i in range(120):
            shipper.order(update(i))
        await asyncio.sleep(0.05)
        away = shipper.status()
        receiver.fail_left = 0  # it comes back
        done = await shipper.close(timeout_s=5.0)
    # Assert: 15 tickers dropped and counted, every order kept and shipped
    assert (away.market_waiting, away.market_dropped, away.session_waiting) == (10, 15, 120)
    assert done.unshipped == 0 and done.market_dropped == 15
    assert away.lag_ns >= 50_000_000 and done.lag_ns == 0  # the first ticker waited at least the 50 ms slept
    kinds = [type(r) for r in receiver.records()]
    assert kinds.count(OrderRecord) == 120 and kinds.count(QuoteRecord) == 10 + in_flight
    messages = [r.getMessage() for r in caplog.records]
    assert sum("dropping further ones" in m for m in messages) == 1  # once per burst
    assert any("15 market-data records were dropped in that burst" in m for m in messages)
    backlog = [m for m in messages if "session records" in m]
    assert len(backlog) == 2 and "50 session records" in backlog[0] and "100 session records" in backlog[1]


async def test_market_data_is_ignored_unless_recorded() -> None:
    receiver = Receiver()
    shipper = JournalShipper(NAME, "live", receiver)
    shipper.ticker(ticker())
    shipper.public_trade(trade(1.0, 1.0, Side.BUY, T0))
    shipper.equity(T0, 1.0, 0.0, 1.0)
    await shipper.close()
    assert receiver.records() == [EquityRecord(f"live/{NAME}", T0, 1.0, 0.0, 1.0)]
    assert not any(isinstance(r, QuoteRecord | TradeRecord) for r in receiver.records())


async def test_close_with_persistence_away_counts_and_logs_what_is_lost(caplog: pytest.LogCaptureFixture) -> None:
    shipper = JournalShipper(NAME, "live", Receiver(fail_first=10**9), retry_initial_s=0.01)
    for i in range(7):
        shipper.order(update(i))
    with caplog.at_level(logging.ERROR, logger="thalex_modular.deployment.journal_shipper"):
        status = await shipper.close(timeout_s=0.2)
    assert status.unshipped == 7 and status.send_failures >= 1
    assert any("7 records could not be shipped within 0.2 s" in r.getMessage() for r in caplog.records)


def test_bad_settings_and_sender_names() -> None:
    with pytest.raises(ValueError, match=r"JournalShipper\.interval_s must be > 0, was 0"):
        JournalShipper(NAME, "live", Receiver(), interval_s=0)
    with pytest.raises(ValueError, match="max_batch_records and warn_session_records must be > 0"):
        JournalShipper(NAME, "live", Receiver(), max_batch_records=0)
    a, b = JournalShipper(NAME, "live", Receiver()), JournalShipper(NAME, "live", Receiver())
    assert a.sender.startswith(f"{NAME}#") and a.sender != b.sender

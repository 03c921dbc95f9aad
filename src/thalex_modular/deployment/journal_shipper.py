"""JournalShipper: an instrument's session journal, shipped in paced batches to the persistence service.

It runs inside an instrument actor. The tick path calls its appends (:class:`SessionJournal` ``order`` and ``trade``,
and ``ticker`` / ``public_trade`` when market data is recorded): each is a list append of the object as it came
(immutable), no conversion, no I/O, no await. Position and equity snapshots (``position``, ``equity``; once a second
or so, off the tick path) are appended as records.

A background task (:meth:`JournalShipper.start`) takes what has gathered every ``interval_s`` (sooner when a full batch
waits), converts it to storage records and sends it through the injected ``send(sender, seq, records)`` (the actor
passes a call of the Persistence actor's ``submit``). One batch is in flight at a time; a failed or timed-out send is
retried with the same seq and the same records after a growing pause (``retry_initial_s`` doubling up to
``retry_max_s``), so the service applies the batches in order and a retry of an applied batch is not applied twice.

Memory: market data past ``max_market_records`` waiting is dropped, counted (``market_dropped``) and logged once per
burst. Session records (orders, fills, positions, equity) are never dropped: while the persistence service stays away
they accumulate in memory (about 350 bytes each), with a warning at ``warn_session_records`` waiting and at each
doubling after; they are shipped once it answers. :meth:`JournalShipper.close` ships what it can within its timeout;
what is left then is logged as lost and counted (``unshipped``).

The sender name is the instrument's name plus a token drawn per shipper (``BTC-PERPETUAL#1f2e3d4c``): a restarted
actor's shipper numbers its batches from 1 again under a new name, never as repeats of its predecessor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec

from thalex_modular.platform.domain.entities import Fill, OrderUpdate, Position, Ticker, Trade
from thalex_modular.platform.domain.storage import (
    EquityRecord,
    Record,
    TradeSequencer,
    fill_record,
    order_record,
    position_record,
    quote_record,
)

__all__ = ["JournalShipper", "Send", "ShipperStatus", "equity_source"]

log = logging.getLogger(__name__)

#: ``send(sender, seq, records)``: deliver one batch; returns once the receiver acknowledged it, raises otherwise.
Send = Callable[[str, int, list[Record]], Awaitable[object]]
_FAILURE_LOG_EVERY_S: Final = 60.0


def equity_source(source: str, instrument_name: str) -> str:
    """The ``source`` under which an instrument's equity snapshots are stored (the equity table has no instrument
    column, and one source per writer keeps two instruments' snapshots of one instant apart)."""
    return f"{source}/{instrument_name}"


class ShipperStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a shipper has done and holds (records counted; ``in_flight`` is the batch being sent)."""

    sender: str
    next_seq: int
    batches_shipped: int
    records_shipped: int
    session_waiting: int  # orders, fills, positions, equity not yet in a batch
    market_waiting: int
    in_flight: int
    market_dropped: int
    send_failures: int
    last_error: str | None
    unshipped: int  # left at close: lost
    lag_ns: int  # age of the oldest record not yet acknowledged (an upper bound); 0 when none waits


class JournalShipper:
    """One instrument session's journal (implements ``SessionJournal``) shipped to persistence.

    Args:
        instrument_name: the instrument (names the sender and the equity source).
        source: the session's source stored with every record (its mode or run id, e.g. ``shadow``).
        send: delivers a batch (see :data:`Send`).
        record_market_data: keep tickers and public trades too (otherwise ``ticker``/``public_trade`` do nothing).
        interval_s: a batch leaves at most this often unless a full one waits (seconds).
        max_batch_records: records per batch.
        max_market_records: market-data records kept waiting; more are dropped and counted.
        send_timeout_s: a send not answered in this time counts as failed and is retried (seconds).
        retry_initial_s, retry_max_s: the pause before the first retry, doubling up to the max (seconds).
        warn_session_records: warn when this many session records wait (and at each doubling).
    """

    def __init__(
        self,
        instrument_name: str,
        source: str,
        send: Send,
        *,
        record_market_data: bool = False,
        interval_s: float = 0.25,
        max_batch_records: int = 2_000,
        max_market_records: int = 50_000,
        send_timeout_s: float = 10.0,
        retry_initial_s: float = 0.25,
        retry_max_s: float = 5.0,
        warn_session_records: int = 100_000,
    ) -> None:
        for name, value in (("interval_s", interval_s), ("send_timeout_s", send_timeout_s),
                            ("retry_initial_s", retry_initial_s), ("retry_max_s", retry_max_s)):
            if not value > 0:
                raise ValueError(f"JournalShipper.{name} must be > 0, was {value}")
        if max_batch_records <= 0 or max_market_records < 0 or warn_session_records <= 0:
            raise ValueError(f"JournalShipper: max_batch_records and warn_session_records must be > 0, "
                             f"max_market_records >= 0, were {max_batch_records}, {warn_session_records}, "
                             f"{max_market_records}")
        self.sender = f"{instrument_name}#{secrets.token_hex(4)}"
        self.source = source
        self._equity_source = equity_source(source, instrument_name)
        self._send = send
        self._record_market = record_market_data
        self._interval_s = interval_s
        self._max_batch = max_batch_records
        self._max_market = max_market_records
        self._send_timeout_s = send_timeout_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._warn_initial = warn_session_records
        self._warn_at = warn_session_records
        self._session: list[OrderUpdate | Fill | Record] = []
        self._market: list[Ticker | Trade] = []
        self._inflight: tuple[int, list[Record]] | None = None
        self._waiting_since_ns: int | None = None  # monotonic: when the oldest waiting record was appended
        self._inflight_since_ns: int | None = None  # ... the oldest record of the batch in flight
        self._seq = 1
        self._quote_seq = TradeSequencer()
        self._trade_seq = TradeSequencer()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropping = False
        self._burst_dropped = 0
        self._failing_since: float | None = None
        self._last_failure_log = 0.0
        self.batches_shipped = 0
        self.records_shipped = 0
        self.market_dropped = 0
        self.send_failures = 0
        self.unconvertible = 0
        self.unshipped = 0
        self.last_error: str | None = None

    # -- appends (the tick path) ------------------------------------------------------------------------------

    def order(self, update: OrderUpdate) -> None:
        """One of our orders changed."""
        self._keep(update)

    def trade(self, fill: Fill) -> None:
        """One of our trades, with its fee."""
        self._keep(fill)

    def ticker(self, ticker: Ticker) -> None:
        """A ticker seen (kept when market data is recorded)."""
        if self._record_market:
            self._keep_market(ticker)

    def public_trade(self, trade: Trade) -> None:
        """A public trade seen (kept when market data is recorded)."""
        if self._record_market:
            self._keep_market(trade)

    def _keep(self, item: OrderUpdate | Fill | Record) -> None:
        if self._waiting_since_ns is None:
            self._waiting_since_ns = time.monotonic_ns()
        self._session.append(item)
        if len(self._session) >= self._warn_at:
            self._warn_backlog()

    def _keep_market(self, item: Ticker | Trade) -> None:
        if len(self._market) < self._max_market:
            if self._waiting_since_ns is None:
                self._waiting_since_ns = time.monotonic_ns()
            self._market.append(item)
        else:
            self._drop_market()

    def position(self, position: Position, ts_ns: int, mark_price: float) -> None:
        """A position snapshot at ``ts_ns`` (wall clock, ns) valued at ``mark_price`` (USD)."""
        self._keep(position_record(self.source, position, ts_ns, mark_price))

    def equity(self, ts_ns: int, equity_usd: float, realised_pnl_usd: float, unrealised_pnl_usd: float) -> None:
        """An equity snapshot of the instrument's session (USD), stored under :func:`equity_source`."""
        self._keep(EquityRecord(self._equity_source, ts_ns, equity_usd, realised_pnl_usd, unrealised_pnl_usd))

    def _drop_market(self) -> None:
        self.market_dropped += 1
        self._burst_dropped += 1
        if not self._dropping:
            self._dropping = True
            log.warning("%s: %d market-data records wait to be shipped; dropping further ones until they leave",
                        self.sender, len(self._market))

    def _warn_backlog(self) -> None:
        log.warning("%s: %d session records (orders, fills, positions, equity) wait for the persistence service, "
                    "which has not taken a batch for %.0f s; they are kept in memory until it does",
                    self.sender, len(self._session), self._failing_for_s())
        self._warn_at *= 2

    def _failing_for_s(self) -> float:
        return 0.0 if self._failing_since is None else time.monotonic() - self._failing_since

    # -- shipping ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background shipping task on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"journal-shipper-{self.sender}")
            self._task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: shipping task failed", self.sender, exc_info=task.exception())

    async def close(self, timeout_s: float = 5.0) -> ShipperStatus:
        """Ship what waits (no pacing) until nothing does or ``timeout_s`` passed; what is left is lost (logged)."""
        self._closing = True
        self._wake.set()
        self.start()
        assert self._task is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        except Exception:  # logged by _on_done
            pass
        self.unshipped = self._waiting() + (len(self._inflight[1]) if self._inflight else 0)
        if self.unshipped:
            log.error("%s: %d records could not be shipped within %.1f s (last error: %s): lost",
                      self.sender, self.unshipped, timeout_s, self.last_error)
        return self.status()

    def _waiting(self) -> int:
        return len(self._session) + len(self._market)

    async def _run(self) -> None:
        pause = self._retry_initial_s
        last_start = 0.0
        while True:
            if self._inflight is None:
                if not self._waiting():
                    if self._closing:
                        return
                    await self._pace(self._interval_s)
                    continue
                self._inflight = (self._seq, self._take_batch())
            seq, records = self._inflight
            last_start = time.monotonic()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can turn a cancel into the send's own error
                async with asyncio.timeout(self._send_timeout_s):
                    await self._send(self.sender, seq, records)
            except Exception as exc:  # anything: the batch stays in flight and is sent again
                self._failed(seq, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self._retry_max_s)
                continue
            pause = self._retry_initial_s
            self._shipped(seq, records)
            if self._waiting() < self._max_batch:
                await self._pace(last_start + self._interval_s - time.monotonic())

    async def _pace(self, seconds: float) -> None:
        """Wait before the next batch; close() ends the wait (and every later one)."""
        if seconds <= 0 or self._closing:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def _take_batch(self) -> list[Record]:
        """Up to a batch of what waits, session records first, converted to storage records."""
        room = self._max_batch
        if len(self._session) <= room:  # the usual case: all of it, by swapping the list
            session, self._session = self._session, []
        else:
            session = self._session[:room]
            del self._session[:room]
        if len(self._session) < self._warn_initial:
            self._warn_at = self._warn_initial
        room -= len(session)
        if len(self._market) <= room:
            market, self._market = self._market, []
        else:
            market = self._market[:room]
            del self._market[:room]
        # what is left keeps the stamp of the oldest taken: an upper bound of its age
        self._inflight_since_ns = self._waiting_since_ns
        if not self._waiting():
            self._waiting_since_ns = None
        records: list[Record] = []
        for item in (*session, *market):
            try:
                records.append(self._record(item))
            except Exception:  # a bug: the record cannot be built; counted and logged, the rest goes on
                self.unconvertible += 1
                log.exception("%s: cannot make a storage record of %r", self.sender, item)
        return records

    def _record(self, item: OrderUpdate | Fill | Record | Ticker | Trade) -> Record:
        if isinstance(item, OrderUpdate):
            return order_record(item, self.source)
        if isinstance(item, Fill):
            return fill_record(item, self.source)
        if isinstance(item, Ticker):
            return quote_record(item, self._quote_seq.next_seq(item.instrument_name, item.ts_exchange_ns))
        if isinstance(item, Trade):
            return self._trade_seq.record(item)
        return item

    def _failed(self, seq: int, exc: Exception) -> None:
        self.send_failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        now = time.monotonic()
        new_streak = self._failing_since is None
        if new_streak:
            self._failing_since = now
        if new_streak or now - self._last_failure_log >= _FAILURE_LOG_EVERY_S:
            self._last_failure_log = now
            log.warning("%s: batch %d not delivered (%s); retrying, %d records waiting", self.sender, seq,
                        self.last_error, self._waiting() + len(self._inflight[1] if self._inflight else ()))

    def _shipped(self, seq: int, records: list[Record]) -> None:
        self._inflight = None
        self._inflight_since_ns = None
        self._seq = seq + 1
        self.batches_shipped += 1
        self.records_shipped += len(records)
        if self._failing_since is not None:
            log.info("%s: persistence answers again after %.1f s", self.sender, self._failing_for_s())
            self._failing_since = None
        if self._dropping and len(self._market) < self._max_market:
            log.warning("%s: %d market-data records were dropped in that burst", self.sender, self._burst_dropped)
            self._dropping = False
            self._burst_dropped = 0

    def lag_ns(self) -> int:
        """How long the oldest record not yet acknowledged has waited (ns; an upper bound); 0 when none waits."""
        stamps = [t for t in (self._inflight_since_ns, self._waiting_since_ns) if t is not None]
        return time.monotonic_ns() - min(stamps) if stamps else 0

    def status(self) -> ShipperStatus:
        return ShipperStatus(
            sender=self.sender, next_seq=self._seq, batches_shipped=self.batches_shipped,
            records_shipped=self.records_shipped, session_waiting=len(self._session),
            market_waiting=len(self._market), in_flight=len(self._inflight[1]) if self._inflight else 0,
            market_dropped=self.market_dropped, send_failures=self.send_failures, last_error=self.last_error,
            unshipped=self.unshipped, lag_ns=self.lag_ns(),
        )

"""ThalexGateway: our orders on Thalex (or the emulator) for one instrument or a whole account.

Implements :class:`~thalex_modular.platform.use_cases.ports.OrderGateway`. Requests are keyed by
``client_order_id`` while the order belongs to the current websocket session, by ``order_id`` otherwise
(client_order_ids are session-local, DIGEST 8.1). Every answer reaches the sink in arrival order: the OrderStatus
of each insert/amend/cancel result, each ``session.orders`` update, and a :class:`RequestRejected` for each refused
request (Thalex error, local throttle = code 4, connection lost or timeout = code 20). A ``session.orders`` item
identical, byte for byte, to the last status delivered for that open order (the notification repeating an
insert/amend result) is skipped: it carries nothing new.

The account may be shared (a manual session, another bot): only orders that are ours by :class:`OrderOwnership`
(our label on a non-persistent order) are delivered, fetched as open orders, or cancelled; every other order of the
account, and the account's positions and marks, go to the gateway's :class:`AccountExposure`, which risk reads.

On every (re)connect the session subscribes ``session.orders``, ``account.orders`` and ``account.portfolio`` (and
optionally ``account.trade_history``), then this gateway fetches ``private/open_orders`` and ``private/portfolio``,
keeps them as :attr:`ThalexGateway.last_snapshot` and hands them to ``on_resync`` before the session counts as
ready: the owner rebuilds its state, then quotes again. A lost connection is reported to the down sink at once.

An order notification or reply we cannot use (a value outside api.yaml) is logged and skipped, and the desync sink
asks the owner for a resync; the session is never dropped for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, PortfolioEntry
from thalex_modular.platform.domain.events import MmProtectionUpdate, RequestRejected
from thalex_modular.platform.domain.requests import AmendOrder, InsertOrder, OrderRequest
from thalex_modular.platform.domain.tracking.account_exposure import AccountExposure, OrderOwnership
from thalex_modular.platform.use_cases.ports import AnswerSink, GatewayAnswer

from .codec import (
    amend_params,
    cancel_params,
    decode_mm_protection,
    decode_order,
    decode_orders,
    decode_own_trades,
    decode_portfolio,
    decode_result,
    insert_params,
    mass_quote_side,
    order_id_of,
    order_owner_of,
    split_orders,
)
from .errors import (
    ORDER_NOT_FOUND,
    TEMPORARY_FAILURE,
    THROTTLE_EXCEEDED,
    ExchangeConnectionError,
    ThalexError,
    ThalexRpcError,
)
from .rpc import ReplyCallback, RpcConnection, SendOutcome
from .schemas import MassQuoteResult
from .session import ThalexSession
from .token_bucket import RequestKind

__all__ = ["MassQuote", "ResyncSnapshot", "ThalexGateway"]

_log = logging.getLogger(__name__)


class MassQuote(NamedTuple):
    """One instrument of a ``private/mass_quote``: levels ``(price USD, amount underlying)`` per side.

    ``None`` leaves that side untouched; an empty sequence removes it (Thalex semantics, DIGEST 4.4).
    """

    instrument_name: str
    bids: Sequence[tuple[float, float]] | None
    asks: Sequence[tuple[float, float]] | None


@dataclass(frozen=True, slots=True)
class ResyncSnapshot:
    """The exchange's state after a (re)connect: open orders (of the gateway's instruments) and the portfolio.

    ``ts_ns`` is when it was taken (int ns, wall clock); ``connects`` counts the session's connects (1 = first).
    """

    open_orders: tuple[OrderUpdate, ...]
    portfolio: tuple[PortfolioEntry, ...]
    ts_ns: int
    connects: int


def _ignore_answer(answer: GatewayAnswer) -> None:
    return None


def _ignore_reason(reason: str) -> None:
    return None


class ThalexGateway:
    """Order gateway over a logged-in :class:`ThalexSession`.

    Args:
        session: a session with credentials, not started yet (the gateway registers its channels and resync hook).
        clock: wall clock (int ns) for local timestamps.
        ownership: which orders of the account are ours (our label, non-persistent).
        instrument_names: the instruments this gateway trades (our open orders are filtered to them); None = all.
        on_resync: called with the exchange's state on every (re)connect, before the session is ready.
        trade_history: also subscribe ``account.trade_history`` (fills with fees, lagging) for :meth:`set_fill_sink`.
        mm_protection: also subscribe ``session.mm_protection`` (protection trips and refills, mass-quote mode) for
            :meth:`set_protection_sink`.
    """

    def __init__(
        self,
        session: ThalexSession,
        clock: Clock,
        *,
        ownership: OrderOwnership,
        instrument_names: Collection[str] | None = None,
        on_resync: Callable[[ResyncSnapshot], None] | None = None,
        trade_history: bool = False,
        mm_protection: bool = False,
    ) -> None:
        if not session.logged_in:
            raise ValueError("invalid `session`: ThalexGateway needs a session with credentials (live mode)")
        self._session = session
        self._clock = clock
        self._ownership = ownership
        self._names = frozenset(instrument_names) if instrument_names is not None else None
        self._on_resync = on_resync
        self.exposure = AccountExposure()
        self.last_snapshot: ResyncSnapshot | None = None
        self._sink: AnswerSink = _ignore_answer
        self._portfolio_sink: Callable[[list[PortfolioEntry], bool], None] | None = None
        self._fill_sink: Callable[[Fill], None] | None = None
        self._protection_sink: Callable[[MmProtectionUpdate], None] | None = None
        self._down_sink: Callable[[str], None] = _ignore_reason
        self._desync_sink: Callable[[str], None] = _ignore_reason
        # client_order_ids of this websocket session's open orders: amend/cancel by client_order_id only for these
        self._session_cids: set[int] = set()
        # order_id -> raw OrderStatus last delivered for an open order: a session.orders item equal to it (the
        # notification that repeats an insert/amend/cancel result) carries nothing new and is not decoded again
        self._last_status: dict[str, bytes] = {}
        self.repeats_skipped = 0
        self.rejections = 0
        self.local_throttles = 0
        self.undecodable = 0
        session.add_channels(["session.orders"], self._on_orders, private=True)
        session.add_channels(["account.orders"], self._on_account_orders, private=True)
        session.add_channels(["account.portfolio"], self._on_portfolio, private=True)
        if trade_history:
            session.add_channels(["account.trade_history"], self._on_trade_history, private=True)
        if mm_protection:
            session.add_channels(["session.mm_protection"], self._on_mm_protection, private=True)
        session.add_sync_hook(self._resync)
        session.add_down_hook(self._on_down)

    # -- sinks ---------------------------------------------------------------------------------------------------

    def set_answer_sink(self, sink: AnswerSink) -> None:
        self._sink = sink

    def set_portfolio_sink(self, sink: Callable[[list[PortfolioEntry], bool], None]) -> None:
        """``sink(entries, snapshot)`` for ``account.portfolio`` (a full snapshot first, then changed lines), called
        after :attr:`exposure` took them."""
        self._portfolio_sink = sink

    def set_protection_sink(self, sink: Callable[[MmProtectionUpdate], None]) -> None:
        """``sink(update)`` for each ``session.mm_protection`` item (needs ``mm_protection=True``)."""
        self._protection_sink = sink

    def set_fill_sink(self, sink: Callable[[Fill], None]) -> None:
        """``sink(fill)`` for ``account.trade_history`` (needs ``trade_history=True``)."""
        self._fill_sink = sink

    def set_down_sink(self, sink: Callable[[str], None]) -> None:
        """``sink(reason)`` as soon as the connection is lost (nothing may be sent until the next resync)."""
        self._down_sink = sink

    def set_desync_sink(self, sink: Callable[[str], None]) -> None:
        """``sink(reason)`` when an order notification or reply could not be used: our state may be off."""
        self._desync_sink = sink

    @property
    def ready(self) -> bool:
        """The session is connected, logged in, subscribed and resynced."""
        return self._session.ready

    def request_budget(self) -> int:
        """Inserts and amends the rate limiter allows now (cancels have their own budget)."""
        return self._session.request_budget(RequestKind.MESSAGE)

    # -- OrderGateway ---------------------------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> None:
        """Send one insert / amend / cancel. Returns once sent; the answer reaches the sink later. Refused locally
        (a RequestRejected in the sink at once): not ready (code 20), throttled (code 4), an order of an older
        session without ``order_id`` (code 1)."""
        if self.submit_now(request):
            return
        prepared = self._prepare(request)
        if prepared is None:
            return
        conn, method, params, kind, on_reply = prepared
        try:
            sent = await conn.request(method, params, on_reply, kind)
        except ExchangeConnectionError as exc:
            self._not_sent(request, TEMPORARY_FAILURE, str(exc))
            return
        if not sent:
            self._throttled_locally(request, kind)

    def submit_now(self, request: OrderRequest) -> bool:
        """:meth:`submit` without waiting: True when done (sent, or refused locally into the sink), False when the
        websocket cannot take the request at once (nothing done: await :meth:`submit`)."""
        conn = self._session.connection
        if conn is not None and not conn.can_send_now():
            return False
        prepared = self._prepare(request)
        if prepared is None:
            return True
        conn, method, params, kind, on_reply = prepared
        try:
            outcome = conn.request_now(method, params, on_reply, kind)
        except ExchangeConnectionError as exc:
            self._not_sent(request, TEMPORARY_FAILURE, str(exc))
            return True
        if outcome is SendOutcome.NO_TOKEN:
            self._throttled_locally(request, kind)
        return True

    def _prepare(
        self, request: OrderRequest
    ) -> tuple[RpcConnection, str, dict[str, Any], RequestKind, ReplyCallback] | None:
        """The connection, method, params, rate-limit kind and reply callback of ``request``; None when it was
        refused locally (the RequestRejected is in the sink)."""
        method: str
        params: dict[str, Any]
        kind = RequestKind.MESSAGE
        cid = request.client_order_id
        if isinstance(request, InsertOrder):
            method, params = "private/insert", insert_params(request)
        else:
            by_order_id = cid not in self._session_cids
            if by_order_id and request.order_id is None:
                self._reject(request, ORDER_NOT_FOUND, "order of an earlier session has no order_id to address it")
                return None
            if isinstance(request, AmendOrder):
                method, params = "private/amend", amend_params(request, by_order_id)
            else:
                method, params, kind = "private/cancel", cancel_params(request, by_order_id), RequestKind.CANCEL
        conn = self._session.connection
        if conn is None:
            self._reject(request, TEMPORARY_FAILURE, f"not connected ({self._session.last_down_reason})")
            return None

        def on_reply(result: msgspec.Raw, error: ThalexError | None, ts_local_ns: int) -> None:
            self._on_reply(request, result, error, ts_local_ns)

        if isinstance(request, InsertOrder):
            self._session_cids.add(cid)
        return conn, method, params, kind, on_reply

    def _not_sent(self, request: OrderRequest, code: int, message: str) -> None:
        if isinstance(request, InsertOrder):
            self._session_cids.discard(request.client_order_id)
        self._reject(request, code, message)

    def _throttled_locally(self, request: OrderRequest, kind: RequestKind) -> None:
        self.local_throttles += 1
        self._not_sent(request, THROTTLE_EXCEEDED, f"throttled locally ({kind.value} budget at 90 % of the limit)")

    async def cancel_all(self) -> int:
        """Cancel our open orders (of the gateway's instruments), each by ``order_id``; another's order on the
        account is never touched. Returns how many were cancelled.

        Raises:
            ThalexError: not connected or a request failed.
        """
        cancelled = 0
        for order in await self.open_orders():
            try:
                update = decode_order(
                    await self._session.call("private/cancel", {"order_id": order.order_id}), self._clock.now_ns()
                )
            except ThalexRpcError as exc:
                if exc.code == ORDER_NOT_FOUND:  # closed meanwhile (filled or cancelled): the feed tells how
                    continue
                raise
            self._deliver(update)
            cancelled += 1
        return cancelled

    async def open_orders(self) -> Sequence[OrderUpdate]:
        """Our open orders per the exchange (``private/open_orders`` is account-wide: the others update
        :attr:`exposure`)."""
        return self._split(await self._session.call("private/open_orders"), self._clock.now_ns())

    async def portfolio(self) -> Sequence[PortfolioEntry]:
        """The exchange's positions (``private/portfolio``); :attr:`exposure` takes them too."""
        entries = decode_portfolio(await self._session.call("private/portfolio"))
        self.exposure.on_portfolio(entries, complete=True)
        return entries

    # -- session and market-maker protection ------------------------------------------------------------------

    async def cancel_session(self) -> None:
        """``private/cancel_session``: delete every order of this session, in-flight ones included (clean stop)."""
        await self._session.call("private/cancel_session")

    async def mass_quote(
        self,
        quotes: Sequence[MassQuote],
        *,
        label: str | None = None,
        post_only: bool = False,
        reject_post_only: bool = False,
    ) -> MassQuoteResult:
        """``private/mass_quote``: replace the given sides' quotes atomically (identical levels keep priority).
        Needs :meth:`set_mm_protection` for the product first. Check ``n_fail`` / ``errors``: a side may fail
        while the call succeeds. The quotes' order updates arrive through ``session.orders`` (the answer sink).

        Raises:
            ThalexRpcError: the whole call was refused (e.g. 4 throttled); ExchangeConnectionError: not connected.
        """
        items: list[dict[str, Any]] = []
        for quote in quotes:
            item: dict[str, Any] = {"i": quote.instrument_name}
            if quote.bids is not None:
                item["b"] = mass_quote_side(quote.bids)
            if quote.asks is not None:
                item["a"] = mass_quote_side(quote.asks)
            items.append(item)
        params: dict[str, Any] = {"quotes": items}
        if label is not None:
            params["label"] = label
        if post_only:
            params["post_only"] = True
        if reject_post_only:
            params["reject_post_only"] = True
        return decode_result(await self._session.call("private/mass_quote", params), MassQuoteResult)

    async def set_mm_protection(self, product: str, trade_amount: float, quote_amount: float) -> None:
        """``private/set_mm_protection`` for ``product`` (e.g. ``FBTCUSD``): at most ``trade_amount`` (underlying)
        may execute before the session's quotes on the product are pulled; no quote may exceed ``quote_amount``.
        Must be called again after each reconnect, cancel_mass_quote or protection trip."""
        if trade_amount > quote_amount:
            raise ValueError(f"invalid `trade_amount` > quote_amount {quote_amount}, was {trade_amount}")
        params = {"product": product, "trade_amount": trade_amount, "quote_amount": quote_amount}
        await self._session.call("private/set_mm_protection", params)

    async def cancel_mass_quote(self, product: str | None = None) -> None:
        """``private/cancel_mass_quote``: pull mass quotes of ``product`` (all products when None) across the
        account's sessions; protection groups must be set again."""
        await self._session.call("private/cancel_mass_quote", {} if product is None else {"product": product})

    # -- internals ---------------------------------------------------------------------------------------------

    def _ours(self, instrument_name: str, label: str | None, persistent: bool) -> bool:
        """An order we trade: on one of our instruments, and ours by label and persistence."""
        names = self._names
        return (names is None or instrument_name in names) and self._ownership.owns(label, persistent)

    def _split(self, raw: msgspec.Raw, ts_ns: int) -> list[OrderUpdate]:
        """An account-wide list of open orders: the others replace :attr:`exposure`'s orders; ours are returned."""
        skipped: list[str] = []
        orders = decode_orders(raw, ts_ns, skipped)
        self._skipped("private/open_orders", skipped)
        ours = [o for o in orders if self._ours(o.instrument_name, o.label, o.persistent)]
        self.exposure.replace_orders(o for o in orders if not self._ours(o.instrument_name, o.label, o.persistent))
        return ours

    def _skipped(self, where: str, problems: list[str]) -> None:
        if problems:
            self.undecodable += len(problems)
            for problem in problems:
                _log.error("thalex: %s: skipped an order we cannot use: %s", where, problem)

    def _reject(self, request: OrderRequest, code: int, message: str, ts_local_ns: int | None = None) -> None:
        now = self._clock.now_ns() if ts_local_ns is None else ts_local_ns
        self.rejections += 1
        self._sink(RequestRejected(request.client_order_id, code, message, request, now, now))

    def _deliver(self, update: OrderUpdate, raw: bytes | None = None) -> None:
        if update.status.is_terminal:
            self._last_status.pop(update.order_id, None)
            if update.client_order_id is not None:
                self._session_cids.discard(update.client_order_id)
        elif raw is not None:
            self._last_status[update.order_id] = raw
        self._sink(update)

    def _on_reply(
        self, request: OrderRequest, result: msgspec.Raw, error: ThalexError | None, ts_local_ns: int
    ) -> None:
        if error is None:
            data = bytes(result)
            try:
                update = decode_order(data, ts_local_ns)
            except ThalexError as exc:
                # the exchange did something we cannot read: our state is unknown, rebuild it from a resync
                self.undecodable += 1
                _log.error("thalex: undecodable %s result: %s", type(request).__name__, exc)
                self._desync_sink(f"undecodable {type(request).__name__} result: {exc}")
                return
            self._deliver(update, data)
            return
        if isinstance(request, InsertOrder):
            self._session_cids.discard(request.client_order_id)
        if isinstance(error, ThalexRpcError):
            self._reject(request, error.code, error.message, ts_local_ns)
        else:
            self._reject(request, TEMPORARY_FAILURE, str(error), ts_local_ns)

    def _on_orders(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        last = self._last_status
        for raw in split_orders(payload):
            data = bytes(raw)
            if last and last.get(order_id_of(data)) == data:
                self.repeats_skipped += 1
                continue
            try:
                update = decode_order(data, ts_local_ns)
            except ThalexError as exc:
                # an order update we cannot read: log it, and rebuild our state from a resync (the session stays)
                self.undecodable += 1
                _log.error("thalex: skipped an undecodable session.orders item: %s", exc)
                self._desync_sink(f"undecodable session.orders item: {exc}")
                continue
            if self._names is None or update.instrument_name in self._names:
                self._deliver(update, data)

    def _on_account_orders(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        """Every order of the account: ours come through ``session.orders`` and the replies, the others update
        :attr:`exposure` (a snapshot replaces what it holds)."""
        if snapshot:
            self._split(payload, ts_local_ns)
            return
        exposure = self.exposure
        for raw in split_orders(payload):
            owner = order_owner_of(raw)
            if owner.instrument_name is None or self._ours(owner.instrument_name, owner.label, owner.persistent):
                continue
            try:
                exposure.on_order(decode_order(raw, ts_local_ns))
            except ThalexError as exc:
                self._skipped("account.orders", [str(exc)])

    def _on_portfolio(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        entries = decode_portfolio(payload)
        self.exposure.on_portfolio(entries, complete=snapshot)
        if self._portfolio_sink is not None:
            self._portfolio_sink(entries, snapshot)

    def _on_trade_history(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        sink = self._fill_sink
        if sink is not None:
            skipped: list[str] = []
            for fill in decode_own_trades(payload, ts_local_ns, skipped):
                if self._names is None or fill.instrument_name in self._names:
                    sink(fill)
            for problem in skipped:
                _log.warning("thalex: skipped a trade_history item: %s", problem)

    def _on_mm_protection(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        sink = self._protection_sink
        if sink is not None:
            for update in decode_mm_protection(payload, ts_local_ns):
                sink(update)

    def _on_down(self, reason: str) -> None:
        # a new websocket session starts: old client_order_ids can no longer be addressed
        self._session_cids.clear()
        self._last_status.clear()
        self._down_sink(reason)

    async def _resync(self, conn: RpcConnection) -> None:
        ts = self._clock.now_ns()
        orders = self._split(await conn.call("private/open_orders"), ts)
        portfolio = decode_portfolio(await conn.call("private/portfolio"))
        self.exposure.on_portfolio(portfolio, complete=True)
        snapshot = ResyncSnapshot(tuple(orders), tuple(portfolio), ts, self._session.connects + 1)
        self.last_snapshot = snapshot
        if self._on_resync is not None:
            self._on_resync(snapshot)

"""Events the domain emits besides :class:`~.entities.Fill`."""

from __future__ import annotations

from dataclasses import dataclass

from .requests import OrderRequest


@dataclass(frozen=True, slots=True)
class ResyncRequest:
    """Local state no longer matches what the exchange says; the owner must re-snapshot (open orders,
    portfolio, resubscribe) before quoting again. ``instrument_name`` None means the whole account.
    """

    reason: str
    ts_ns: int
    instrument_name: str | None = None


@dataclass(frozen=True, slots=True)
class MmProtectionUpdate:
    """Thalex ``session.mm_protection`` item: the session's protection group of ``product`` changed.

    ``remaining_amount`` (underlying) may still execute before the group's mass quotes are pulled; at or below 0
    the group has tripped: its quotes are cancelled and it must be refilled (``set_mm_protection``). ``reason`` is
    ``refill`` | ``executions`` | ``client_cancel`` | ``session_end`` | ``failover``; ``ts_ns`` our receive time.
    """

    product: str
    remaining_amount: float
    reason: str
    ts_ns: int

    @property
    def needs_refill(self) -> bool:
        """The group no longer protects live quotes: tripped, or reset by a cancel, the session's end or a
        failover (its quotes are gone; quoting again needs ``set_mm_protection`` first)."""
        return self.reason != "refill" and (self.remaining_amount <= 0.0 or self.reason != "executions")

    @property
    def tripped(self) -> bool:
        """Executions used up the group's amount (the exchange pulled its quotes)."""
        return self.reason == "executions" and self.remaining_amount <= 0.0


@dataclass(frozen=True, slots=True)
class OrderDenied:
    """A risk check refused an order; it was not sent. ``limit`` names the check, ``reason`` says why."""

    instrument_name: str
    limit: str
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """An exchange (Thalex, the emulator or the simulated one) refused a request, as Thalex answers
    ``{"error": {code, message}}``.

    ``code`` is Thalex's error code (1 order not found, 2 duplicate id, 5 unknown instrument, 13 non-positive
    price, 14 amount off the volume grid or below min_order_amount, 15 price off the tick grid, 25 illegal
    time_in_force); ``request`` the refused request; ``ts_exchange_ns`` when the exchange refused it,
    ``ts_local_ns`` when the answer reached us (both int ns).
    """

    client_order_id: int
    code: int
    message: str
    request: OrderRequest
    ts_exchange_ns: int
    ts_local_ns: int

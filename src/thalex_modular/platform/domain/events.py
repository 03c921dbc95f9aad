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

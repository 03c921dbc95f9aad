"""Events the domain emits besides :class:`~.entities.Fill`."""

from __future__ import annotations

from dataclasses import dataclass


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

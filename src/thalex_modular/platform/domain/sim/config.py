"""Configuration of the simulated exchange (SimMatchEngine). Times in int nanoseconds, fees in basis points."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InvalidValue


@dataclass(frozen=True, slots=True)
class SimMatchConfig:
    """How pessimistic and how slow the simulated exchange is.

    Args:
        order_entry_latency_ns: insert and amend requests reach the simulated exchange this long after
            ``submit`` (ns, >= 0).
        cancel_latency_ns: cancel requests reach the exchange this long after ``submit`` (ns, >= 0).
        response_latency_ns: acks, fills and errors reach us this long after the exchange produced them (ns, >= 0).
        feed_latency_ns: the public feed's delay: market data reaches us this long after it happened at the
            exchange (ns, >= 0). The engine uses the larger of this and the delay it measures on public trades
            (``ts_local_ns - ts_exchange_ns``). The default, 5 ms, is an assumption (the order of the other legs),
            not a measurement of Thalex: a shadow run measures the real one.
        slippage_ticks: a resting order fills on a trade *through* its price only when the trade is at least this
            many ticks beyond the limit (a buy at P on a sell-aggressor trade at <= P - slippage_ticks ticks);
            >= 1, since a trade exactly at the limit is a queue event, not a crossing.
        maker_fee_bps: fee of a maker fill in basis points of notional (USD); negative means a rebate.
        taker_fee_bps: fee of a taker fill in basis points of notional (USD).
        order_id_prefix: prefix of the generated exchange order ids (opaque strings, LESSONS 13).
    """

    order_entry_latency_ns: int = 5_000_000
    cancel_latency_ns: int = 5_000_000
    response_latency_ns: int = 5_000_000
    feed_latency_ns: int = 5_000_000
    slippage_ticks: int = 1
    maker_fee_bps: float = 1.0
    taker_fee_bps: float = 5.0
    order_id_prefix: str = "SIM"

    def __post_init__(self) -> None:
        for name in ("order_entry_latency_ns", "cancel_latency_ns", "response_latency_ns", "feed_latency_ns"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidValue(f"SimMatchConfig.{name} must be an int >= 0 (ns), was {value!r}")
        if not isinstance(self.slippage_ticks, int) or self.slippage_ticks < 1:
            raise InvalidValue(f"SimMatchConfig.slippage_ticks must be an int >= 1, was {self.slippage_ticks!r}")
        for name in ("maker_fee_bps", "taker_fee_bps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidValue(f"SimMatchConfig.{name} must be a finite number (bps), was {value!r}")
        if not self.order_id_prefix:
            raise InvalidValue("SimMatchConfig.order_id_prefix must not be empty")

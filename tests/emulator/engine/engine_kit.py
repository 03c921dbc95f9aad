"""Test kit for the exchange-core tests: a small catalogue and a core on simulated time."""

from __future__ import annotations

from thalex_modular.emulator.engine import EngineConfig, ExchangeCore
from thalex_modular.emulator.market import InstrumentSpec
from thalex_modular.platform.domain.clock import SimClock

START_NS = 1_700_000_000 * 1_000_000_000
PERP = "BTC-PERPETUAL"
FUT = "BTC-29DEC23"
OPT = "BTC-29DEC23-40000-C"


def specs() -> list[InstrumentSpec]:
    return [
        InstrumentSpec(PERP, "FBTCUSD", "perpetual", "BTCUSD", "USD", 1.0, 0.001, 0.001, 1.6e9),
        InstrumentSpec(
            FUT,
            "FBTCUSD",
            "future",
            "BTCUSD",
            "USD",
            0.5,
            0.01,
            0.01,
            1.6e9,
            expiry_date="2023-12-29",
            expiration_timestamp=1_703_836_800,
        ),
        InstrumentSpec(
            OPT,
            "OBTCUSD",
            "option",
            "BTCUSD",
            "USD",
            5.0,
            0.1,
            0.1,
            1.6e9,
            expiry_date="2023-12-29",
            expiration_timestamp=1_703_836_800,
            option_type="call",
            strike_price=40000.0,
        ),
    ]


class Env:
    """A core plus its clock and two client sessions on two accounts."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.clock = SimClock(START_NS)
        self.core = ExchangeCore(specs(), self.clock.now_ns, config)
        self.a = self.core.open_session("A000000001")
        self.b = self.core.open_session("A000000002")

    def order(self, session: int, direction: str, price: float | None, amount: float, **extra: object) -> dict:
        params: dict[str, object] = {"instrument_name": PERP, "direction": direction, "amount": amount, **extra}
        if price is not None:
            params["price"] = price
        result, _ = self.core.insert(session, params)
        assert isinstance(result, dict)
        return result

    def tick(self, ns: int = 1_000_000) -> None:
        self.clock.advance_by(ns)

"""The instrument a backtest trades, from its Thalex name (history in storage carries no instrument metadata).

Perpetuals and futures of BTC and ETH, with Thalex's trading rules (``shared/thalex-api/DIGEST.md``: BTC-PERPETUAL
tick 1 USD, volume tick 0.001 BTC; the emulator lists the same). Options are not backtested: the A-S model quotes
the underlying's contracts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind
from thalex_modular.platform.domain.errors import DomainError

#: Per coin: (tick_size USD, volume_tick_size, min_order_amount), underlying amounts.
_RULES: Final[dict[str, tuple[float, float, float]]] = {
    "BTC": (1.0, 0.001, 0.001),
    "ETH": (0.1, 0.01, 0.01),
}
_MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FUTURE: Final = re.compile(r"^([A-Z]+)-(\d{1,2})([A-Z]{3})(\d{2})$")
_EXPIRY_HOUR_UTC: Final = 8


class UnknownInstrument(DomainError):
    """The backtest does not know this instrument's trading rules."""


def backtest_instrument(name: str) -> Instrument:
    """The :class:`Instrument` of ``name`` (``BTC-PERPETUAL``, ``ETH-27DEC24``).

    Raises:
        UnknownInstrument: not a BTC/ETH perpetual or future name; the message lists what is known.
    """
    coin, _, rest = name.partition("-")
    rules = _RULES.get(coin)
    if rules is None or not rest:
        raise UnknownInstrument(
            f"unknown instrument {name!r}: backtests know the perpetuals and futures of {sorted(_RULES)} "
            "(e.g. BTC-PERPETUAL, BTC-27DEC24)"
        )
    tick, volume_tick, min_amount = rules
    if rest == "PERPETUAL":
        return Instrument(name, InstrumentKind.PERPETUAL, f"{coin}USD", tick, volume_tick, min_amount, f"F{coin}USD")
    match = _FUTURE.match(name)
    if match is None or match.group(3) not in _MONTHS:
        raise UnknownInstrument(
            f"unknown instrument {name!r}: not a perpetual (COIN-PERPETUAL) or a future (COIN-DMMMYY); "
            "options are not backtested"
        )
    day, month, year = int(match.group(2)), _MONTHS.index(match.group(3)) + 1, 2000 + int(match.group(4))
    try:
        expiry = datetime(year, month, day, _EXPIRY_HOUR_UTC, tzinfo=UTC)
    except ValueError:
        raise UnknownInstrument(f"unknown instrument {name!r}: {match.group(2)}{match.group(3)} is no date") from None
    return Instrument(
        name, InstrumentKind.FUTURE, f"{coin}USD", tick, volume_tick, min_amount, f"F{coin}USD",
        expiry_ns=int(expiry.timestamp()) * 1_000_000_000,
    )

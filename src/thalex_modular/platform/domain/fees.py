"""The venue's fees as a market maker's quotes need them: basis points of the notional, negative = a rebate."""

from __future__ import annotations

from typing import Final

from .entities import Instrument
from .enums import InstrumentKind

THALEX_MAKER_FEE_BPS: Final[dict[InstrumentKind, float]] = {
    InstrumentKind.PERPETUAL: 1.0,
    InstrumentKind.FUTURE: 1.0,
    InstrumentKind.COMBINATION: 1.0,
    InstrumentKind.OPTION: 1.0,
}
"""Thalex's maker fee per instrument kind, as the emulator charges it (docs/emulator.md; options: of the index,
capped at 12.5 % of the premium). An account with other rates configures them (``strategy.maker_fee_bps``)."""


def thalex_maker_fee_bps(instrument: Instrument) -> float:
    """The maker fee Thalex charges on ``instrument``, bps of the notional."""
    return THALEX_MAKER_FEE_BPS[instrument.kind]

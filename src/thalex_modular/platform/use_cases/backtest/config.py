"""What one backtest runs: the instrument, the range, the quoting core's parameters and the simulator's.

The run's identity (STYLE 3) is a hash of all of it plus the seed: a rerun of the same run id gives the same
result, and a sweep's trials are keyed by it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.use_cases.sim_session import CoreParameters

from .source import HistoryRange


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """One backtest. ``history``: the instrument's range and mode; ``params``: the quoting core (A-S, risk,
    reconciler), as ``platform run`` builds it; ``sim``: the simulated exchange and its latency legs."""

    instrument: Instrument
    history: HistoryRange
    params: CoreParameters = field(default_factory=CoreParameters)
    sim: SimMatchConfig = field(default_factory=SimMatchConfig)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (what is stored with the run and hashed into its id)."""
        return {
            "instrument": self.instrument.instrument_name,
            "history": dataclasses.asdict(self.history),
            "params": dataclasses.asdict(self.params),
            "sim": dataclasses.asdict(self.sim),
        }

    def run_id(self, seed: int) -> str:
        """``bt-`` + 16 hex digits of the SHA-256 of the config, the data range and the seed."""
        text = json.dumps({**self.as_dict(), "seed": seed}, sort_keys=True)
        return "bt-" + hashlib.sha256(text.encode()).hexdigest()[:16]

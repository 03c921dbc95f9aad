"""What a sweep optimises: named backtest metrics, each with its direction.

One objective (``pnl``, ``sharpe``, ``mqp``) is a single-objective study whose hopeless trials are pruned; several
(``pnl,drawdown``) make a multi-objective study whose result is the Pareto front (Optuna does not prune those).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from thalex_modular.platform.use_cases.backtest.metrics import BacktestMetrics

__all__ = ["OBJECTIVES", "Objective", "parse_objectives"]

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True, slots=True)
class Objective:
    """``name`` as given on the command line, the metric's field, and the direction to optimise it in."""

    name: str
    metric: str
    direction: Direction

    def value(self, metrics: BacktestMetrics) -> float:
        """The metric; a NaN (e.g. a Sharpe ratio without fills) is the worst value, so it never wins."""
        v = float(getattr(metrics, self.metric))
        if math.isnan(v):
            return -math.inf if self.direction == "maximize" else math.inf
        return v


OBJECTIVES: Final = {
    o.name: o for o in (
        Objective("pnl", "pnl_usd", "maximize"),
        Objective("sharpe", "sharpe", "maximize"),
        Objective("mqp", "mqp_score", "maximize"),
        Objective("drawdown", "max_drawdown_usd", "minimize"),
        Objective("inventory_std", "inventory_std", "minimize"),
    )
}


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """``pnl`` or ``pnl,drawdown``.

    Raises:
        ValueError: an unknown or repeated name (the message lists the known ones).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"no objective given (known: {', '.join(OBJECTIVES)})")
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r} (known: {', '.join(OBJECTIVES)})")
    if len(set(names)) != len(names):
        raise ValueError(f"an objective is named twice in {text!r}")
    return tuple(OBJECTIVES[n] for n in names)

"""The configured quote sizes against the instrument's minimum, checked once the instrument is known (at start).

An order below ``min_order_amount`` is refused by the exchange, so a level below it would never quote while the
status says ``quoting=yes``. Such a level is refused at start with the minimum in the message, or raised to the
minimum when ``strategy.round_up_to_min_amount`` is true (then said in the log).
"""

from __future__ import annotations

import logging

from thalex_modular.deployment.config import RunConfig
from thalex_modular.platform.domain.entities import Instrument

__all__ = ["OrderSizeError", "fit_order_sizes"]

log = logging.getLogger(__name__)
_REL_EPS = 1e-9  # float slack of a config amount equal to the minimum (0.1 written as 0.1)


class OrderSizeError(ValueError):
    """A configured size the instrument cannot take; the message names field, value and the instrument's minimum."""


def fit_order_sizes(config: RunConfig, instrument: Instrument) -> RunConfig:
    """``config`` with every quote level at least the instrument's ``min_order_amount`` (underlying).

    Raises:
        OrderSizeError: a level is below the minimum (and rounding up is off), or the minimum is above
            ``risk.max_order_amount_underlying`` (every order would be refused by our own risk check).
    """
    minimum = instrument.min_order_amount
    name = instrument.instrument_name
    max_order = config.risk.max_order_amount_underlying
    if minimum > max_order * (1 + _REL_EPS):
        raise OrderSizeError(
            f"{name}: min_order_amount {minimum:g} is above risk.max_order_amount_underlying {max_order:g}; "
            f"raise it to at least {minimum:g}"
        )
    levels = config.strategy.level_amounts_underlying
    small = [(i, a) for i, a in enumerate(levels) if a < minimum * (1 - _REL_EPS)]
    if not small:
        return config
    if not config.strategy.round_up_to_min_amount:
        shown = ", ".join(f"level_amounts_underlying[{i}] = {a:g}" for i, a in small)
        raise OrderSizeError(
            f"{name}: min_order_amount is {minimum:g}, below it: strategy.{shown}; set the levels to at least "
            f"{minimum:g} or strategy.round_up_to_min_amount = true"
        )
    fitted = tuple(max(a, minimum) for a in levels)
    log.warning("%s: quote levels %s raised to the instrument's min_order_amount %g: %s (round_up_to_min_amount)",
                name, [f"{a:g}" for _, a in small], minimum, [f"{a:g}" for a in fitted])
    strategy = config.strategy.model_copy(update={"level_amounts_underlying": fitted})
    return config.model_copy(update={"strategy": strategy})

"""Time arguments of every verb: ISO 8601 (UTC unless an offset is given) or epoch with a unit suffix.

Accepted: ``2024-11-28``, ``2024-11-28T12:30``, ``2024-11-28T12:30:00.250Z``, ``2024-11-28T12:30+02:00``, and
``1732752000s`` / ``1732752000000ms`` / ``…us`` / ``…ns``. A bare integer is taken in the flag's own unit when it has
one (``--start-ns 17…``, ``--from 1732752000`` = seconds for backfill); elsewhere it is refused, because a number
without a unit is how milliseconds end up in 1970.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from .cli_errors import UsageError

__all__ = ["NS_PER_UNIT", "parse_time_ns", "time_arg"]

NS_PER_UNIT: Final = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_EPOCH: Final = re.compile(r"^(-?\d+)(s|ms|us|ns)?$")
#: Earliest and latest time a flag may name (ns): 1990 and 2200; anything outside is a unit mistake.
_PLAUSIBLE_NS: Final = (631_152_000 * NS_PER_UNIT["s"], 7_258_118_400 * NS_PER_UNIT["s"])
_FORMATS: Final = "ISO 8601 (2024-11-28, 2024-11-28T12:00Z) or epoch with a unit (1732752000s, 1732752000000ms)"


def parse_time_ns(value: str, flag: str, bare_unit: str | None = None) -> int:
    """``value`` as ns since the epoch (UTC).

    Args:
        bare_unit: the unit of a number without suffix (``s``/``ms``/``us``/``ns``); None refuses such numbers.

    Raises:
        UsageError: naming ``flag``, the accepted forms and the value (also for a time before 1990 or after 2200,
            which is a unit mistake).
    """
    text = value.strip()
    match = _EPOCH.match(text)
    if match is not None:
        unit = match.group(2) or bare_unit
        if unit is None:
            raise UsageError(f"invalid `{flag}`: a number needs a unit suffix (s, ms, us, ns), was {value!r}")
        ns = int(match.group(1)) * NS_PER_UNIT[unit]
        if not _PLAUSIBLE_NS[0] <= ns <= _PLAUSIBLE_NS[1] and not (ns == 0 and bare_unit == "ns"):
            shown = datetime.fromtimestamp(ns / 1e9, UTC).isoformat() if abs(ns) < 2**62 else "out of range"
            raise UsageError(f"invalid `{flag}`: {value!r} read as {unit} is {shown}, not between 1990 and 2200; "
                             "is the unit right?")
        return ns
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid `{flag}`: expected {_FORMATS}, was {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_UNIT["s"] + delta.microseconds * NS_PER_UNIT["us"]


def time_arg(flag: str, bare_unit: str | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` parsing a time flag to ns (a bad value: exit 2 with the accepted forms)."""

    def parse(value: str) -> int:
        try:
            return parse_time_ns(value, flag, bare_unit)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"invalid `{flag}`: ")) from None

    parse.__name__ = "time"  # argparse names the type in its message
    return parse

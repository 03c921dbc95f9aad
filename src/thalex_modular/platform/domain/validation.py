"""Checks applied where data enters the domain. Messages name the field, the rule and the value."""

from __future__ import annotations

import math

from .errors import InvalidValue


def finite(field: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidValue(f"{field} must be a number, was {value!r}")
    if not math.isfinite(value):
        raise InvalidValue(f"{field} must be finite, was {value!r}")
    return value


def positive(field: str, value: float) -> float:
    finite(field, value)
    if value <= 0:
        raise InvalidValue(f"{field} must be > 0, was {value!r}")
    return value


def non_negative(field: str, value: float) -> float:
    finite(field, value)
    if value < 0:
        raise InvalidValue(f"{field} must be >= 0, was {value!r}")
    return value


def optional_positive(field: str, value: float | None) -> float | None:
    return None if value is None else positive(field, value)


def optional_non_negative(field: str, value: float | None) -> float | None:
    return None if value is None else non_negative(field, value)


def optional_finite(field: str, value: float | None) -> float | None:
    return None if value is None else finite(field, value)

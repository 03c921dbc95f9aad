"""Domain errors. Expected refusals (risk) are values, not exceptions; these are for bad data and bugs."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises."""


class InvalidValue(DomainError, ValueError):
    """A value entering the domain is unusable (NaN, inf, negative, off-grid, wrong type).

    The message names the field, the rule and the value, e.g. ``Ticker.mark_price must be finite, was nan``.
    """


class InvalidTransition(DomainError):
    """An order lifecycle move that the transition table does not allow."""

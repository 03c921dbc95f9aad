"""Errors of the market model."""

from __future__ import annotations


class MarketLookupError(ValueError):
    """An unknown instrument, index or resolution was asked for (the server maps it to its error code)."""

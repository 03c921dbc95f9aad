"""The fast backtest driver: the whole replay loop compiled (``docs/backtest.md``, "The drivers")."""

from .driver import FastDriver

__all__ = ["FastDriver"]

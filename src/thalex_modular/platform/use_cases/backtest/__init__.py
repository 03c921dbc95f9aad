"""Backtests on the live code path: history from storage through SimSession (the reference driver)."""

from .config import BacktestConfig
from .events import EVENT_DTYPE, bar_events, tick_events
from .instruments import UnknownInstrument, backtest_instrument
from .metrics import BacktestMetrics
from .result import BacktestResult, write_csv, write_json
from .runner import BacktestRun, backtest_from_storage, run_backtest
from .source import HistoryRange, NoHistory

__all__ = [
    "EVENT_DTYPE",
    "BacktestConfig",
    "BacktestMetrics",
    "BacktestResult",
    "BacktestRun",
    "HistoryRange",
    "NoHistory",
    "UnknownInstrument",
    "backtest_from_storage",
    "backtest_instrument",
    "bar_events",
    "run_backtest",
    "tick_events",
    "write_csv",
    "write_json",
]

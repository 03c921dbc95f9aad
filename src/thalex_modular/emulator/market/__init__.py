"""The emulator's simulated market: instruments, indexes, marks, option pricing, candles and flow agents.

Pure and deterministic for a seed; time is always passed in (Unix ns of sim time).
"""

from .agents import AgentAction, Burst, FlowAgents, LpQuotes, TakerOrder
from .config import AgentConfig, MarketConfig, SmileConfig, UnderlyingConfig
from .errors import MarketLookupError
from .instruments import InstrumentSpec, build_catalogue
from .model import MarketModel

__all__ = [
    "AgentAction",
    "AgentConfig",
    "Burst",
    "FlowAgents",
    "InstrumentSpec",
    "LpQuotes",
    "MarketConfig",
    "MarketLookupError",
    "MarketModel",
    "SmileConfig",
    "TakerOrder",
    "UnderlyingConfig",
    "build_catalogue",
]

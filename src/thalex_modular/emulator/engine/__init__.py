"""The emulator's exchange core: a pure, synchronous Thalex matching engine with accounts and sessions.

The websocket server calls :class:`ExchangeCore` methods with the JSON-RPC ``params``; each returns
``(result_json, notifications)`` or raises :class:`RpcError`. See ``docs/emulator.md`` (ENGINE section).
"""

from .core import ExchangeCore
from .errors import RpcError
from .quoting import AGENT_ACCOUNT_PREFIX
from .types import EngineConfig, FeeConfig, InstrumentLike, Notification, Result

__all__ = [
    "AGENT_ACCOUNT_PREFIX",
    "EngineConfig",
    "ExchangeCore",
    "FeeConfig",
    "InstrumentLike",
    "Notification",
    "Result",
    "RpcError",
]

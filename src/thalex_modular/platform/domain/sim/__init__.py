"""Building blocks of the simulated exchange (:mod:`..sim_match_engine`)."""

from ..events import RequestRejected
from .config import SimMatchConfig
from .queue import TopOfBook, allocate_trade
from .results import SimEvent
from .sim_order import SimOrder

__all__ = ["RequestRejected", "SimEvent", "SimMatchConfig", "SimOrder", "TopOfBook", "allocate_trade"]

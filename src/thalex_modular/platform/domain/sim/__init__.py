"""Building blocks of the simulated exchange (:mod:`..sim_match_engine`)."""

from .config import SimMatchConfig
from .queue import TopOfBook, allocate_trade
from .results import SimEvent, SimRejection
from .sim_order import SimOrder

__all__ = ["SimEvent", "SimMatchConfig", "SimOrder", "SimRejection", "TopOfBook", "allocate_trade"]

"""Fault injection: rejected orders, delayed replies, duplicated/reordered notifications, paused feeds, dropped
connections. Driven by :class:`~thalex_modular.emulator.config.FaultConfig` (from the config file, replaceable at run
time through the control API). Randomness comes from one seeded ``random.Random``, so a run is reproducible."""

from __future__ import annotations

import random
from collections import Counter

from thalex_modular.emulator.config import FaultConfig

__all__ = ["FaultInjector"]


class FaultInjector:
    """Answers "should this message be disturbed?" for the server and the outboxes; :attr:`injected` counts every
    fault it caused, by kind (``emulator/status`` shows them)."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(seed)
        self.injected: Counter[str] = Counter()

    def replace(self, config: FaultConfig) -> None:
        """Swap in a new configuration (control API)."""
        self.config = config

    def reject_code(self) -> int | None:
        """For an order request: the error code to fail it with, or ``None`` to let it through."""
        share = self.config.reject_share
        if share > 0 and self._rng.random() < share:
            self.injected["reject"] += 1
            return self.config.reject_code
        return None

    def duplicate(self) -> bool:
        """Whether to send this private notification twice."""
        share = self.config.duplicate_share
        hit = share > 0 and self._rng.random() < share
        if hit:
            self.injected["duplicate"] += 1
        return hit

    def reorder(self) -> bool:
        """Whether to hold this private notification back and send it after the next one."""
        share = self.config.reorder_share
        hit = share > 0 and self._rng.random() < share
        if hit:
            self.injected["reorder"] += 1
        return hit

    def delay_s(self, channel_name: str) -> float:
        """How late notifications of ``channel_name`` are sent, seconds (0 = at once; prefix match on
        ``delayed_feeds``)."""
        config = self.config
        if config.feed_delay_ms > 0 and any(channel_name.startswith(p) for p in config.delayed_feeds):
            self.injected["delay"] += 1
            return config.feed_delay_ms / 1000.0
        return 0.0

    def paused(self, channel_name: str) -> bool:
        """Whether notifications of ``channel_name`` are held back (prefix match on ``paused_feeds``)."""
        return any(channel_name.startswith(prefix) for prefix in self.config.paused_feeds)

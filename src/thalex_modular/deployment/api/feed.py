"""ControllerFeed: what an API replica knows of the deployment, followed from the Controller.

One background task per replica long-polls ``Controller.feed`` (it answers as soon as an instrument actor reported,
or after a second): the status of every instrument, the account totals and each stream's new events, which go to the
stream hubs. REST answers and SSE clients read this copy, so the number of API clients never changes the load on the
Controller, and nothing the API does is a call into an instrument actor (the actors push to the Controller from their
report loop, off the tick path). A Controller that is gone or restarting is found again by name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from thalex_modular.deployment.api.sse import StreamHub
from thalex_modular.deployment.deployment_book import AccountTotals, Feed
from thalex_modular.deployment.event_log import STREAMS
from thalex_modular.deployment.snapshots import InstrumentSnapshot

__all__ = ["ControllerFeed", "FeedUnavailable"]

log = logging.getLogger(__name__)

_POLL_TIMEOUT_S = 1.0
_RETRY_S = 1.0


class FeedUnavailable(Exception):
    """The Controller has not answered yet (or no more): the deployment's state is unknown here."""


class ControllerFeed:
    """The replica's copy of the deployment's state.

    Args:
        controller: the Controller's name.
        namespace: the deployment's Ray namespace.
        history: events kept per stream (resumes, backlogs, recent fills and quotes).
        queue_capacity: each SSE client's queue bound.
    """

    def __init__(self, controller: str, namespace: str, history: int, queue_capacity: int) -> None:
        self._name = controller
        self._namespace = namespace
        self._history = history
        self.hubs = {name: StreamHub(name, history, queue_capacity) for name in STREAMS}
        self._feed: Feed | None = None
        self._handle: Any = None
        self.polls = 0
        self.version = 0  # +1 whenever the state held changes (FeedCache keys on it)
        self.error: str | None = "not connected yet"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="controller-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # -- reads -------------------------------------------------------------------------------------------------

    @property
    def status(self) -> list[InstrumentSnapshot]:
        return self._current().status

    @property
    def account(self) -> AccountTotals:
        return self._current().account

    @property
    def age_ms(self) -> float | None:
        """How old the state held is (ms), None before the first answer."""
        return None if self._feed is None else (time.time_ns() - self._feed.ts_ns) / 1e6

    def instruments(self) -> list[str]:
        return [s.instrument for s in self.status]

    def snapshot(self, instrument: str) -> InstrumentSnapshot:
        """One instrument's last snapshot.

        Raises:
            KeyError: not deployed (the message lists those that are).
            FeedUnavailable: no state yet.
        """
        for snapshot in self.status:
            if snapshot.instrument == instrument:
                return snapshot
        raise KeyError(f"{instrument!r} is not deployed; the instruments are {', '.join(self.instruments())}")

    def controller(self) -> Any:
        """The Controller's handle (for commands).

        Raises:
            FeedUnavailable: it cannot be found.
        """
        if self._handle is None:
            self._handle = self._lookup()
        return self._handle

    def _current(self) -> Feed:
        if self._feed is None:
            raise FeedUnavailable(f"no state from the deployment's Controller yet ({self.error})")
        return self._feed

    # -- following ---------------------------------------------------------------------------------------------

    def _lookup(self) -> Any:
        import ray

        try:
            return ray.get_actor(self._name, namespace=self._namespace)
        except ValueError:
            raise FeedUnavailable(f"no Controller named {self._name!r} in namespace {self._namespace!r}") from None

    async def _run(self) -> None:
        after = await self._start_ids()
        while True:
            try:
                feed: Feed = await self.controller().feed.remote(after, _POLL_TIMEOUT_S, self._history)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # gone, restarting or not there yet: keep the last state, look it up again
                self.error = f"{type(exc).__name__}: {exc}"
                self._handle = None
                await asyncio.sleep(_RETRY_S)
                continue
            self.error = None
            self.polls += 1
            for name, page in feed.pages.items():
                hub = self.hubs[name]
                if page.last_id < after[name]:  # a restarted Controller numbers its events from 1 again
                    log.warning("stream %s: the Controller's ids went back (%d < %d): starting over", name,
                                page.last_id, after[name])
                    hub.reset()
                    after[name] = 0
                    continue
                hub.publish(page.events)
                after[name] = hub.last_id
            self._feed = feed
            self.version += 1

    async def _start_ids(self) -> dict[str, int]:
        """Per stream, where to start: ``history`` events before the newest (a new replica starts with the recent
        past, so resumes and backlogs work after an API restart)."""
        while True:
            try:
                newest: Feed = await self.controller().feed.remote(dict.fromkeys(STREAMS, 0), 0.0, 1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                self._handle = None
                await asyncio.sleep(_RETRY_S)
                continue
            return {name: max(0, page.last_id - self._history) for name, page in newest.pages.items()}

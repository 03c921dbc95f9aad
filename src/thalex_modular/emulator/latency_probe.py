"""Wire-latency probe (control API only, off unless ``control_enabled``): time from a ticker frame sent by the
emulator to the order request it provokes.

``emulator/probe_ticker`` pins one instrument's ticker: from then on its ``ticker`` payload carries the probe's
``best_bid_price``/``best_ask_price``/``mark_price`` (and amounts), and the periodic refresh of its ``ticker`` and
``lwt`` feeds stops, so only probes move what its subscribers see. Each probe builds the ticker once, writes it
directly on the socket of every subscriber of a ``ticker.<instrument>.<delay>`` channel (no outbox queue, no
notification faults, no ``<delay>`` throttle) and then waits for the next ``expect_requests`` order requests
(insert/buy/sell/amend/mass_quote) from those subscribers' sessions (requests of other sessions, e.g. a quoter of
another instrument probed in turn, are not counted). Both stamps are ``time.monotonic_ns()`` in the emulator
process: ``sent_ns`` just before the first socket write, each request's stamp when the server starts handling its
frame. ``emulator/probe_release`` unpins the instrument (the normal feed resumes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["LatencyProbe", "ProbeRequest", "ProbeResult"]

_FIELDS: Final = ("best_bid_price", "best_ask_price", "mark_price", "best_bid_amount", "best_ask_amount")


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """One order request seen while a probe waited: its method and arrival (monotonic int ns)."""

    method: str
    arrival_ns: int


@dataclass(slots=True)
class ProbeResult:
    """The outcome of one probe: when the ticker went out and the order requests that followed."""

    sent_ns: int
    recipients: int
    requests: list[ProbeRequest] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """``{sent_ns, recipients, requests: [{method, arrival_ns, latency_ns}]}`` (int ns, monotonic)."""
        return {
            "sent_ns": self.sent_ns,
            "recipients": self.recipients,
            "requests": [
                {"method": r.method, "arrival_ns": r.arrival_ns, "latency_ns": r.arrival_ns - self.sent_ns}
                for r in self.requests
            ],
        }


class LatencyProbe:
    """The order-request recorder of the probe (pinned tickers live in ``Venue.ticker_overrides``). The server owns
    one.

    ``armed`` is read on every received frame: while it is False the probe costs one attribute read.
    """

    def __init__(self) -> None:
        self.armed = False
        self._result: ProbeResult | None = None
        self._expect = 0
        self._sessions: set[int] = set()
        self._done: asyncio.Future[None] | None = None

    @staticmethod
    def ticker_fields(params: dict[str, Any]) -> dict[str, float]:
        """The ticker fields of a probe's params: the three prices are required, amounts default to 1.

        Raises:
            ValueError: a missing or non-numeric price (names the field and the value).
        """
        fields: dict[str, float] = {"best_bid_amount": 1.0, "best_ask_amount": 1.0}
        for name in _FIELDS:
            value = params.get(name)
            if value is None and name.endswith("_amount"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"invalid `{name}`: must be a number > 0, was {value!r}")
            fields[name] = float(value)
        if not fields["best_bid_price"] < fields["best_ask_price"]:
            raise ValueError(
                f"invalid `best_bid_price` >= best_ask_price {fields['best_ask_price']}, was {fields['best_bid_price']}"
            )
        return fields

    def arm(
        self, sent_ns: int, recipients: int, expect_requests: int, sessions: Iterable[object]
    ) -> asyncio.Future[None]:
        """Start recording: the future completes after ``expect_requests`` order requests from ``sessions`` (the
        subscribers the probed ticker was written to; ``recipients`` counts the frames written)."""
        self._result = ProbeResult(sent_ns, recipients)
        self._expect = expect_requests
        self._sessions = {id(session) for session in sessions}
        self._done = asyncio.get_running_loop().create_future()
        self.armed = True
        return self._done

    def on_order_request(self, method: str, arrival_ns: int, session: object) -> None:
        """An order request arrived from ``session`` (called by the server only while :attr:`armed`)."""
        result, done = self._result, self._done
        if result is None or done is None or id(session) not in self._sessions:
            return
        result.requests.append(ProbeRequest(method, arrival_ns))
        if len(result.requests) >= self._expect and not done.done():
            self.armed = False
            done.set_result(None)

    def disarm(self) -> ProbeResult:
        """Stop recording and return what was seen (possibly fewer requests than expected after a timeout)."""
        self.armed = False
        result = self._result
        self._result = None
        self._done = None
        if result is None:
            raise RuntimeError("probe not armed")
        return result

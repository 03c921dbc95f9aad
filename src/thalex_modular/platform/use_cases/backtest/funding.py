"""Perpetual funding in a backtest: accrued on the position held between events, booked as cash (USD).

The convention is the emulator's (``emulator/engine/funding.py``; api.yaml Ticker ``funding_rate``: "rate at which
long position pays and short position earns"), quoted per 24 h as a fraction of the index:

* over ``dt`` ns a position of ``amount`` underlying units accrues ``-amount x funding_rate x index x dt / 1 day``
  USD: a long pays and a short earns when the rate is positive;
* the rate and index of an interval are those in force at its start: the last ones the replay has seen (a quote
  carrying both, at the time the replay saw it: ``events.seen_times``); before the first nothing accrues;
* intervals end where the position changes (each of our fills, at the time it reached us, as the recorder books
  it) or a new rate or index arrives; the replay's funding ends at its last event;
* no settlement step: the emulator's 08:00 UTC settlement moves funding from unrealised to realised PnL, which
  changes neither the cash nor ``pnl_usd``.

One ledger serves both drivers: funding is cash that no decision reads (QuotingCore sees neither the rate nor the
funding PnL), both drivers see the same events and book the same fills (tests/unit/backtest/test_fast_parity.py), so
:class:`FundingLedger` takes each chunk's events and the fills booked while replaying it, after the driver has
replayed it (``runner.BacktestRun``). The position it accrues on is the recorder's (the sum of the fills' signed
amounts, in order, as ``BacktestRecorder.on_fill`` adds them); the equity samples get the funding accrued up to their
grid time.
"""

from __future__ import annotations

from array import array
from typing import Final

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.jit import kernel

#: One day in ns: the funding rate's period.
DAY_NS: Final = 86_400 * 1_000_000_000
_NEVER: Final = np.iinfo(np.int64).max

# int state: the last breakpoint (ns, our clock), whether a rate and index are in force, rate observations seen
I_T_LAST: Final = 0
I_HAS_RATE: Final = 1
I_UPDATES: Final = 2
# float state: the position (underlying), the rate (per 24 h) and index (USD) in force, the funding booked (USD)
F_POS: Final = 0
F_RATE: Final = 1
F_INDEX: Final = 2
F_FUNDING: Final = 3


@kernel
def _accrued_to(sti: npt.NDArray[np.int64], stf: npt.NDArray[np.float64], t_ns: int) -> float:
    """Funding (USD) accrued from the last breakpoint to ``t_ns`` on the position and rate in force."""
    if sti[I_HAS_RATE] == 0 or t_ns <= sti[I_T_LAST]:
        return 0.0
    per_ns = stf[F_RATE] * stf[F_INDEX] / DAY_NS  # USD per unit per ns, paid by a long (the emulator's per_ns)
    return float(-stf[F_POS] * per_ns * float(t_ns - sti[I_T_LAST]))


@kernel
def _observation(rate: float, index: float) -> bool:
    """A row carries a funding observation: a finite rate and a positive finite index."""
    return bool(-np.inf < rate < np.inf and 0.0 < index < np.inf)


@kernel
def accrue(
    sti: npt.NDArray[np.int64], stf: npt.NDArray[np.float64], seen_ns: npt.NDArray[np.int64],
    rate_24h: npt.NDArray[np.float64], index_usd: npt.NDArray[np.float64], fill_ns: npt.NDArray[np.int64],
    fill_amount: npt.NDArray[np.float64], sample_ns: npt.NDArray[np.int64], sample_funding: npt.NDArray[np.float64],
) -> None:
    """Book funding up to the last breakpoint of one chunk. Breakpoints: the events (seen at ``seen_ns``) whose
    ``rate_24h`` and ``index_usd`` are an observation (others are passed over), and
    the fills (``fill_ns``, signed ``fill_amount``: + bought), each in time order. ``sample_funding`` gets the funding
    booked up to each ``sample_ns`` (in time order, none before the last breakpoint of an earlier call). At equal
    times a sample is valued first, then updates before fills (the order changes no figure: the interval between
    them is empty). The event columns may be strided (fields of the chunk)."""
    i = 0
    j = 0
    k = 0
    n_events = seen_ns.shape[0]
    n_fills = fill_ns.shape[0]
    n_samples = sample_ns.shape[0]
    while True:
        while i < n_events and not _observation(rate_24h[i], index_usd[i]):
            i += 1
        t_update = seen_ns[i] if i < n_events else _NEVER
        t_fill = fill_ns[j] if j < n_fills else _NEVER
        t_next = min(t_update, t_fill)
        while k < n_samples and sample_ns[k] <= t_next:
            sample_funding[k] = stf[F_FUNDING] + _accrued_to(sti, stf, sample_ns[k])
            k += 1
        if t_next == _NEVER:
            return
        stf[F_FUNDING] += _accrued_to(sti, stf, t_next)
        if t_next > sti[I_T_LAST]:
            sti[I_T_LAST] = t_next
        if t_update <= t_fill:
            stf[F_RATE] = rate_24h[i]
            stf[F_INDEX] = index_usd[i]
            sti[I_HAS_RATE] = 1
            sti[I_UPDATES] += 1
            i += 1
        else:
            stf[F_POS] += fill_amount[j]
            j += 1


class FundingLedger:
    """Funding of one replay, fed chunk by chunk with :meth:`book`, read with :meth:`funding_usd`.

    ``perpetual``: whether the instrument pays funding at all (a future's or an option's data is ignored).
    """

    def __init__(self, perpetual: bool) -> None:
        self.perpetual = perpetual
        self._sti = np.zeros(3, dtype=np.int64)
        self._stf = np.zeros(4, dtype=np.float64)
        self._sample_funding = array("d")
        self._end_ns: int | None = None

    def book(self, chunk: npt.NDArray[np.void], seen_ns: npt.NDArray[np.int64], fill_ns: npt.NDArray[np.int64],
             fill_amount: npt.NDArray[np.float64], sample_ns: npt.NDArray[np.int64]) -> None:
        """One replayed chunk (``EVENT_DTYPE``) and when each of its events was seen, the fills booked while
        replaying it (time reached us, signed amount) and the samples taken then (grid times)."""
        if not len(chunk) and not len(fill_ns):
            return
        rows = chunk if self.perpetual else chunk[:0]  # a future's or an option's funding data is ignored
        out = np.zeros(len(sample_ns), dtype=np.float64)
        accrue(self._sti, self._stf, seen_ns[: len(rows)], rows["funding_rate_24h"], rows["index_price"],
               np.ascontiguousarray(fill_ns, dtype=np.int64),
               np.ascontiguousarray(fill_amount, dtype=np.float64), np.ascontiguousarray(sample_ns, dtype=np.int64),
               out)
        self._sample_funding.extend(out.tolist())
        if len(seen_ns):
            self._end_ns = int(seen_ns[-1])

    @property
    def updates(self) -> int:
        """Funding rate observations replayed (0: the history carried no funding data)."""
        return int(self._sti[I_UPDATES])

    def funding_usd(self) -> float:
        """Funding booked up to the last event replayed (USD; positive = received)."""
        if self._end_ns is None:
            return 0.0
        return float(self._stf[F_FUNDING] + _accrued_to(self._sti, self._stf, self._end_ns))

    def sample_funding_usd(self) -> npt.NDArray[np.float64]:
        """Funding booked up to each sample's grid time, in sample order."""
        return np.frombuffer(self._sample_funding, dtype=np.float64).copy()


def funding_note(perpetual: bool, updates: int, mode: str) -> str:
    """What the run's ``funding_usd`` rests on, for the summary and the report."""
    if mode == "bar":
        return "funding: not modelled in bar mode (bars carry no funding rate): funding_usd = 0"
    if not perpetual:
        return "funding: none (not a perpetual)"
    if updates == 0:
        return "funding: the history carries no funding rate or index: funding_usd = 0, not estimated"
    return f"funding: accrued on the position from {updates} funding rate observations (per 24 h, x index)"


__all__ = ["DAY_NS", "FundingLedger", "accrue", "funding_note"]

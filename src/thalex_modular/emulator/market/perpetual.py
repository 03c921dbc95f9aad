"""Perpetual mark price and funding, after Thalex's contract specification.

* Premium sample = book mid - index (USD); samples within +-``deadband_bps`` of the index count as zero, and
  no book (no mid) counts as zero, so the mark then targets the index.
* Mark = index + EMA30(premium): the EMA is updated once per whole Unix second with weight 2/31 on the latest
  sample (sample-and-hold between observations), so the result does not depend on how often it is asked.
* Funding (USD per contract, per 24 h): ``funding_rate = dampened(mark - index) / index``; the dampener takes
  ``dampener_bps`` of the index off the premium (small premiums pay nothing). A long position pays when the
  rate is positive. Funding accrues every second; ``funding_mark`` is api.yaml's "funding value of a single
  contract long position since last settlement" (08:00 UTC daily): negative while longs pay, the opposite sign
  of the funding rate, the same V the exchange core uses for ``unrealised_perpetual_funding``.
"""

from __future__ import annotations

from collections import deque

from .pricing import dampened_premium

EMA_ALPHA = 2.0 / 31.0  # per second: the centre of mass of a 30 s simple moving average
SETTLEMENT_SECOND_OF_DAY = 8 * 3600
_DAY_S = 86_400


class PerpMarkState:
    """Mark and funding state of one perpetual. Time in Unix seconds (int for the EMA grid)."""

    def __init__(self, start_s: int, deadband_bps: float, dampener_bps: float) -> None:
        self._deadband = deadband_bps * 1e-4
        self._dampener_bps = dampener_bps
        self._second = start_s
        self._sample = 0.0  # USD, dead-banded
        self.ema_premium = 0.0  # USD
        self.funding_mark = 0.0  # USD value of one long contract's funding since the last settlement (api.yaml)
        self._index = 0.0
        # per minute: [minute, paid USD, sum of rates, count]
        self._minutes: deque[list[float]] = deque()

    def observe(self, now_s: float, index_usd: float, book_mid: float | None) -> None:
        """Record the book mid (USD, or None for an empty/one-sided book) at ``now_s``."""
        self.advance(now_s, index_usd)
        if book_mid is None:
            self._sample = 0.0
            return
        premium = book_mid - index_usd
        self._sample = 0.0 if abs(premium) <= self._deadband * index_usd else premium

    def advance(self, now_s: float, index_usd: float) -> None:
        """Run the per-second EMA and funding accrual up to ``now_s`` with the held sample."""
        self._index = index_usd
        target = int(now_s)
        while self._second < target:
            self._second += 1
            self.ema_premium += EMA_ALPHA * (self._sample - self.ema_premium)
            if self._second % _DAY_S == SETTLEMENT_SECOND_OF_DAY:
                self.funding_mark = 0.0
            rate = self.funding_rate()
            paid = rate * index_usd / _DAY_S
            self.funding_mark -= paid  # a long's value: it falls by what the long pays
            self._add_minute(self._second // 60, paid, rate)

    def _add_minute(self, minute: int, paid: float, rate: float) -> None:
        if self._minutes and self._minutes[-1][0] == minute:
            row = self._minutes[-1]
            row[1] += paid
            row[2] += rate
            row[3] += 1.0
        else:
            self._minutes.append([float(minute), paid, rate, 1.0])
            while self._minutes and self._minutes[0][0] <= minute - 1440:
                self._minutes.popleft()

    def mark(self, index_usd: float) -> float:
        """Mark price in USD: index + EMA of the premium."""
        return index_usd + self.ema_premium

    def funding_rate(self) -> float:
        """Funding rate per 24 h (fraction of the index); positive: longs pay shorts."""
        if self._index <= 0.0:
            return 0.0
        return dampened_premium(self.ema_premium, self._index, self._dampener_bps) / self._index

    def realised_funding_24h(self) -> float:
        """Funding accumulated by one long contract over the last 24 h, USD (negative when longs paid)."""
        return -sum(row[1] for row in self._minutes)

    def average_funding_rate_24h(self) -> float:
        """Mean per-second funding rate over the last 24 h (per 24 h basis)."""
        count = sum(row[3] for row in self._minutes)
        return sum(row[2] for row in self._minutes) / count if count else 0.0

"""Index price path: stochastic volatility, occasional jumps and trending spells, generated in vectorised chunks.

Log price per step of ``dt_s`` seconds::

    h_i   = a h_{i-1} + b z1                     log-vol factor, OU with stationary sd ``vol_of_vol``
    sig_i = sig_d * exp(h_i - vol_of_vol^2)      so that E[sig^2] = sig_d^2 (annualised, diffusive)
    r_i   = -sig_i^2 dt/2 + sig_i sqrt(dt) z2 + jumps + drift dt

``sig_d^2 = annual_vol^2 - jump variance per year``, so the realised volatility (diffusion plus jumps) is near
``annual_vol``. Trending spells arrive as a Poisson process and add a constant drift (one direction) for an
exponential duration. The path depends only on the seed and the chunk sizes: callers always draw chunks of
the same length, so how often ``step`` is called does not change the path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .config import SECONDS_PER_YEAR, UnderlyingConfig

FloatArray = npt.NDArray[np.float64]
_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class TrendSpell:
    """A trending spell: drift of ``direction`` (+1 up, -1 down) over [start_s, end_s) in process seconds."""

    start_s: float
    end_s: float
    direction: int


def ar1(a: float, shocks: FloatArray, x0: float) -> FloatArray:
    """x_i = a x_{i-1} + shocks_i for i = 0..n-1 with x_{-1} = x0, vectorised in blocks (0 < a <= 1).

    Within a block x_i = a^i (a x_prev + sum_{j<=i} a^-j e_j); the block length keeps a^-j below 1e6.
    """
    n = len(shocks)
    out = np.empty(n, dtype=np.float64)
    block = n if a >= 1.0 else max(1, min(n, int(math.log(1e6) / -math.log(a))))
    powers = a ** np.arange(block, dtype=np.float64)
    prev = x0
    for s in range(0, n, block):
        e = shocks[s : s + block]
        p = powers[: len(e)]
        seg = p * (a * prev + np.cumsum(e / p))
        out[s : s + len(e)] = seg
        prev = float(seg[-1])
    return out


def diffusive_annual_vol(u: UnderlyingConfig) -> float:
    """Annualised diffusive vol after taking out the jump variance (never below half the total vol)."""
    jump_var_per_year = u.jumps_per_day * 365.0 * u.jump_sd**2
    return math.sqrt(max(u.annual_vol**2 - jump_var_per_year, 0.25 * u.annual_vol**2))


class IndexProcess:
    """Stateful generator of log-price chunks for one underlying.

    ``dt_s``: step in seconds; ``log_price0``: ln(USD price) at process time 0; ``h0``: initial log-vol factor.
    Process time starts at 0 and advances by ``dt_s`` per generated step.
    """

    def __init__(
        self, u: UnderlyingConfig, rng: np.random.Generator, dt_s: float, log_price0: float, h0: float = 0.0
    ) -> None:
        if dt_s <= 0.0:
            raise ValueError(f"invalid `dt_s` <= 0, was {dt_s}")
        self._u = u
        self._rng = rng
        self._dt = dt_s
        self._x = log_price0
        self._h = h0
        self._t = 0.0
        self._sig_d = diffusive_annual_vol(u)
        self._a = math.exp(-dt_s / u.vol_mean_reversion_s)
        self._b = u.vol_of_vol * math.sqrt(1.0 - self._a**2)
        self._jump_p = u.jumps_per_day * dt_s / _DAY_S
        self._spell_rate = u.trend_spells_per_day / _DAY_S
        self._trend_drift = u.trend_move / u.trend_mean_duration_s  # log-price per second during a spell
        self._next_spell = self._draw_wait() if self._spell_rate > 0 else math.inf
        self.spells: list[TrendSpell] = []

    @property
    def time_s(self) -> float:
        """Process time (seconds) of the last generated step."""
        return self._t

    @property
    def log_vol_factor(self) -> float:
        """Current log-vol factor h (dimensionless)."""
        return self._h

    def _draw_wait(self) -> float:
        return self._t + float(self._rng.exponential(1.0 / self._spell_rate))

    def _schedule_spells(self, t_end: float) -> None:
        while self._next_spell < t_end:
            start = self._next_spell
            duration = float(self._rng.exponential(self._u.trend_mean_duration_s))
            direction = 1 if self._rng.random() < 0.5 else -1
            self.spells.append(TrendSpell(start, start + duration, direction))
            self._next_spell = start + duration + float(self._rng.exponential(1.0 / self._spell_rate))
        horizon = self._t - 2 * _DAY_S
        if len(self.spells) > 64:
            self.spells = [s for s in self.spells if s.end_s > horizon]

    def trend_at(self, t_s: float) -> int:
        """Direction of the spell active at process time ``t_s`` (+1, -1) or 0 when none is."""
        for spell in reversed(self.spells):
            if spell.start_s <= t_s < spell.end_s:
                return spell.direction
        return 0

    def generate(self, n: int) -> tuple[FloatArray, FloatArray]:
        """The next ``n`` steps: (log prices, annualised diffusive vols), both shape (n,)."""
        if n <= 0:
            raise ValueError(f"invalid `n` <= 0, was {n}")
        rng, dt = self._rng, self._dt
        z = rng.standard_normal((3, n))
        jumps_n = rng.poisson(self._jump_p, n)
        h = ar1(self._a, self._b * z[0], self._h)
        sig = self._sig_d * np.exp(h - self._u.vol_of_vol**2)
        var_step = sig * sig * (dt / SECONDS_PER_YEAR)
        r = -0.5 * var_step + np.sqrt(var_step) * z[1]
        r += np.sqrt(jumps_n) * self._u.jump_sd * z[2]
        times = self._t + dt * np.arange(1, n + 1)
        self._schedule_spells(float(times[-1]) + dt)
        for spell in self.spells:
            if spell.end_s > self._t and spell.start_s < times[-1]:
                mask = (times > spell.start_s) & (times <= spell.end_s)
                r[mask] += spell.direction * self._trend_drift * dt
        x = self._x + np.cumsum(r)
        self._x = float(x[-1])
        self._h = float(h[-1])
        self._t = float(times[-1])
        return np.asarray(x, dtype=np.float64), np.asarray(sig, dtype=np.float64)

"""Compiled kernels of the rolling realized-volatility windows and the regime classification.

State lives in two preallocated arrays owned by the caller (:class:`~.regime_analyzer.MultiWindowRegimeAnalyzer`
or :class:`~.rolling_volatility.RollingVolatility`): ``f`` (float64: classification parameters and outputs,
per-window sums and sigmas) and ``i`` (int64: header, window durations, counts and tails, duration sums,
fixed-point limbs, the ring). :func:`new_state` allocates them; the ``F_*``/``I_*`` constants and the ``*_offset``
helpers name their slots. All windows share one ring of the last ``capacity`` samples (duration, end time and
fixed-point terms of ``r`` and ``r**2``); each window keeps the samples that lie within its duration (a sample
leaves once it began more than ``duration`` before the newest sample's end; the newest always stays) and at most
``capacity`` of them, and subtracts each sample that leaves it. A window of duration 0 keeps the last
``capacity`` samples whatever their times (:class:`~.rolling_volatility.RollingVolatility`).

Exact rolling sums (the choice, and why): each window keeps ``sum r`` and ``sum r**2`` as an integer count of
``2**-200`` (:data:`FIXED_POINT_BITS`), exactly as the former Python-int implementation did, but as
:data:`LIMBS` limbs of 32 bits held in int64 (numba has no big integers). A term enters as
``trunc(x * 2**200)`` (toward zero; nothing is lost when ``|x| >= 2**-147``, so for every return
``|r| >= 2**-73`` and its square; a non-zero log return between two doubles is at least ~``2**-53``). The ring
keeps each term's limb contributions, so removing a term subtracts the very integers that were added: a window
that has forgotten a crash reads exactly calm again, after any number of pushes. After each push the limbs are
renormalised (carries propagated; every limb but the top in ``[0, 2**32)``), so no limb can overflow whatever
the history. Reading a sum rounds the exact integer once to the nearest double (ties to even): bit-for-bit what
``math.ldexp(float(big_int), -200)`` gave, and equal to ``math.fsum`` of the window's terms whenever every term
is a multiple of ``2**-200`` (otherwise within ``n * 2**-200`` plus half an ulp, n = terms in the window).
A double-double (TwoSum) rolling sum was the alternative; it is not exact (a residue of ~``2**-106`` of the
largest sum seen stays forever), so it would not give back the same sigmas.

Durations are int64 ns; callers keep every window's total below ``2**63`` (the analyzer accepts timestamps in
``[0, 2**63)``, so a window spans less than that). ``sigma = sqrt(sum r**2 / (sum dt_ns / 1e9))``: identical to
the Python-int formula while a window spans under ``2**53`` ns (104 days).

Every function here is a :func:`~..jit.kernel`: compiled by numba, with an uncompiled twin
(:func:`~..jit.python_twin`); kernels call each other, so a fully uncompiled run needs every callee's twin.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from ..jit import kernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SECONDS_PER_YEAR: Final[float] = 365.0 * 24.0 * 3600.0
"""Calendar seconds in a (365-day) year: crypto trades around the clock, every day."""

SQRT_SECONDS_PER_YEAR: Final[float] = math.sqrt(SECONDS_PER_YEAR)

FIXED_POINT_BITS: Final[int] = 200
"""Window sums count integer multiples of 2**-200: exact to add and remove, ~1e-60 quantum."""

LIMBS: Final[int] = 8
"""32-bit limbs per fixed-point sum: 256 bits, room for ``2**33`` terms of up to ``2**22`` (a squared return
of at most :data:`MAX_ABS_LOG_RETURN`)."""

MAX_ABS_LOG_RETURN: Final[float] = 2048.0
"""Largest |log return| a window accepts; between two positive finite doubles |r| < 1455."""

_MASK: Final[int] = 0xFFFFFFFF
_NANOS_PER_SECOND: Final[int] = 1_000_000_000

LABEL_CALM: Final[int] = 0
LABEL_NORMAL: Final[int] = 1
LABEL_VOLATILE: Final[int] = 2
LABEL_TRENDING: Final[int] = 3

# int64 array: header
I_N_WINDOWS: Final[int] = 0
I_CAPACITY: Final[int] = 1  # ring length: the most samples any window holds
I_HEAD: Final[int] = 2  # next ring slot to write
I_TOTAL: Final[int] = 3  # returns pushed so far
I_IV_DEADLINE_NS: Final[int] = 4  # the IV is stale once the last sample's ts_ns is beyond this
I_FIRST_TS_NS: Final[int] = 5  # time of the first price (-1 before it): the data's span starts here
I_READY_SPAN_NS: Final[int] = 6  # the data must span this long before the classification (and quoting vol) is ready
I_WINDOWS: Final[int] = 8  # window durations (ns; 0 = count only), then counts, tails, sums of dt_ns, limbs, ...

# float64 array: classification parameters (set once from RegimeConfig) and the live implied vol
F_CALM_VOL_RATIO: Final[int] = 0
F_VOLATILE_VOL_RATIO: Final[int] = 1
F_TREND_THRESHOLD: Final[int] = 2
F_LABEL_MULTIPLIERS: Final[int] = 3  # 4 values, indexed by LABEL_* code
F_IV_RV_FACTOR_MIN: Final[int] = 7
F_IV_RV_FACTOR_MAX: Final[int] = 8
F_RISK_MULTIPLIER_MIN: Final[int] = 9
F_RISK_MULTIPLIER_MAX: Final[int] = 10
F_IV_ANNUAL: Final[int] = 11  # NaN = unknown
F_SIGMA_FLOOR: Final[int] = 12  # the least quoting vol, per sqrt(second)
F_RV_ANNUAL: Final[int] = 13  # realized vol on the implied vol's horizon, given with it; NaN = unknown
# float64 array: classification outputs (written by regime_step), contiguous so one slice reads them all
F_OUT_VOL_RATIO: Final[int] = 14
F_OUT_TREND: Final[int] = 15
F_OUT_LABEL: Final[int] = 16  # a LABEL_* code
F_OUT_RISK_MULTIPLIER: Final[int] = 17
F_OUT_IV_ANNUAL: Final[int] = 18  # NaN when unknown or stale
F_OUT_IV_RV: Final[int] = 19  # NaN when unknown
F_OUT_READY: Final[int] = 20  # 1.0 once the data spans I_READY_SPAN_NS
F_OUT_QUOTING_SIGMA: Final[int] = 21  # per sqrt(second)
F_WINDOWS: Final[int] = 22  # per window: sum r, sum r**2, sigma per sqrt(s)
F_PER_WINDOW: Final[int] = 3
_RING_STRIDE: Final[int] = 10  # int64 per ring slot: dt_ns, end ts_ns, fixed_term(r), fixed_term(r**2)


@kernel
def count_offset(n_windows: int, w: int) -> int:
    """Index in ``i`` of window ``w``'s sample count."""
    return I_WINDOWS + n_windows + w


@kernel
def tail_offset(n_windows: int, w: int) -> int:
    """Index in ``i`` of window ``w``'s oldest sample's ring slot."""
    return I_WINDOWS + 2 * n_windows + w


@kernel
def sum_dt_offset(n_windows: int, w: int) -> int:
    """Index in ``i`` of window ``w``'s sum of durations (ns)."""
    return I_WINDOWS + 3 * n_windows + w


@kernel
def limbs_offset(n_windows: int, w: int) -> int:
    """Index in ``i`` of window ``w``'s limbs: ``sum r`` then ``sum r**2``, :data:`LIMBS` each."""
    return I_WINDOWS + 4 * n_windows + 2 * LIMBS * w


@kernel
def window_out_offset(w: int) -> int:
    """Index in ``f`` of window ``w``'s outputs: sum r, sum r**2, sigma per sqrt(second)."""
    return F_WINDOWS + F_PER_WINDOW * w


@kernel
def ring_offset(n_windows: int) -> int:
    """Index in ``i`` of the ring (after the scratch limbs); slot ``j`` starts at ``ring + 10 * j``."""
    return limbs_offset(n_windows, n_windows) + LIMBS


def new_state(durations_ns: tuple[int, ...], capacity: int) -> tuple[FloatArray, IntArray]:
    """Zeroed state arrays ``(f, i)`` for windows of the given durations (ns, >= 0; 0 = the last ``capacity``
    samples) sharing a ring of ``capacity`` (>= 1) samples."""
    n = len(durations_ns)
    f = np.zeros(F_WINDOWS + F_PER_WINDOW * n, dtype=np.float64)
    i = np.zeros(ring_offset(n) + _RING_STRIDE * capacity, dtype=np.int64)
    i[I_N_WINDOWS] = n
    i[I_CAPACITY] = capacity
    i[I_IV_DEADLINE_NS] = np.iinfo(np.int64).max
    i[I_FIRST_TS_NS] = -1
    i[I_WINDOWS : I_WINDOWS + n] = durations_ns
    f[F_IV_ANNUAL] = math.nan
    f[F_RV_ANNUAL] = math.nan
    f[F_OUT_IV_ANNUAL] = math.nan
    f[F_OUT_IV_RV] = math.nan
    f[F_OUT_VOL_RATIO] = 1.0
    f[F_OUT_LABEL] = LABEL_NORMAL
    return f, i


@kernel
def fixed_term(x: float) -> tuple[int, int, int, int]:
    """``trunc(x * 2**200)`` (toward zero; |x| <= 2**22) as ``(k, c0, c1, c2)``: the integer is
    ``c0 * 2**(32k) + c1 * 2**(32(k+1)) + c2 * 2**(32(k+2))``, each ``|c| < 2**33`` and of the sign of ``x``.

    Adding the ``c`` to limbs ``k, k+1, k+2`` of a sum adds the term; subtracting them removes it exactly."""
    if x == 0.0:
        return 0, 0, 0, 0
    sign = 1
    if x < 0.0:
        x = -x
        sign = -1
    mant, exp = math.frexp(x)
    m = int(math.ldexp(mant, 53))  # exact: x = m * 2**(exp - 53), 2**52 <= m < 2**53
    p = exp - 53 + FIXED_POINT_BITS  # the weight of m's last bit, in units of 2**-200
    if p < 0:
        if p <= -53:
            return 0, 0, 0, 0
        m = m >> -p  # truncate toward zero, as int(math.ldexp(x, 200)) does
        p = 0
    s = p & 31
    lo = (m & _MASK) << s  # < 2**63
    hi = (m >> 32) << s  # < 2**52
    return p >> 5, sign * (lo & _MASK), sign * ((lo >> 32) + (hi & _MASK)), sign * (hi >> 32)


@kernel
def normalise_fixed(i: IntArray, base: int) -> None:
    """Propagate carries: limbs ``0 .. LIMBS-2`` into ``[0, 2**32)``, the top limb keeps the sign (same value)."""
    carry = 0
    for k in range(base, base + LIMBS - 1):
        v = i[k] + carry
        i[k] = v & _MASK
        carry = v >> 32  # arithmetic shift: floor division by 2**32
    i[base + LIMBS - 1] += carry


@kernel
def fixed_to_float(i: IntArray, base: int, scratch: int) -> float:
    """The normalised limbs at ``i[base:]`` times ``2**-200``, rounded once to the nearest double (ties to even).

    ``i[scratch:scratch+LIMBS]`` is work space (the magnitude of a negative sum)."""
    src = base
    negative = i[base + LIMBS - 1] < 0
    if negative:
        borrow = 0
        for k in range(LIMBS - 1):
            v = borrow - i[base + k]
            i[scratch + k] = v & _MASK
            borrow = v >> 32
        i[scratch + LIMBS - 1] = borrow - i[base + LIMBS - 1]
        src = scratch
    h = LIMBS - 1
    while h >= 0 and i[src + h] == 0:
        h -= 1
    if h < 0:
        return 0.0
    # the top 62 bits of the top three limbs (a 64 + nb bit integer), the rest folded into a sticky bit 0:
    # converting those 62 bits to a double then rounds exactly as rounding the whole integer would
    l2 = i[src + h]
    l1 = i[src + h - 1] if h >= 1 else 0
    l0 = i[src + h - 2] if h >= 2 else 0
    nb = math.frexp(float(l2))[1]  # bit length of l2, 1..32
    sticky = 1 if (l0 & ((1 << (nb + 2)) - 1)) != 0 else 0
    if nb > 30:
        mid = l1 >> (nb - 30)
        if (l1 & ((1 << (nb - 30)) - 1)) != 0:
            sticky = 1
    else:
        mid = l1 << (30 - nb)
    for k in range(h - 2):
        if i[src + k] != 0:
            sticky = 1
            break
    m = (l2 << (62 - nb)) | mid | (l0 >> (nb + 2)) | sticky
    value = math.ldexp(float(m), 32 * (h - 2) + nb + 2 - FIXED_POINT_BITS)
    return -value if negative else value


@kernel
def _evict_tail(i: IntArray, n: int, w: int, ring: int, capacity: int) -> None:
    """Remove window ``w``'s oldest sample from its sums (the very integers that were added)."""
    tail = tail_offset(n, w)
    slot = ring + _RING_STRIDE * i[tail]
    acc = limbs_offset(n, w)
    i[sum_dt_offset(n, w)] -= i[slot]
    a = acc + i[slot + 2]
    i[a] -= i[slot + 3]
    i[a + 1] -= i[slot + 4]
    i[a + 2] -= i[slot + 5]
    a = acc + LIMBS + i[slot + 6]
    i[a] -= i[slot + 7]
    i[a + 1] -= i[slot + 8]
    i[a + 2] -= i[slot + 9]
    nxt = i[tail] + 1
    i[tail] = 0 if nxt == capacity else nxt
    i[count_offset(n, w)] -= 1


@kernel
def push_return(r: float, dt_ns: int, ts_ns: int, f: FloatArray, i: IntArray) -> None:
    """Push log return ``r`` (|r| <= :data:`MAX_ABS_LOG_RETURN`) spanning ``dt_ns`` > 0 ns and ending at ``ts_ns``
    into every window; drop from each the samples that leave it (a full ring's oldest, then those that began more
    than the window's duration before ``ts_ns``, keeping the newest); rewrite every window's sum r, sum r**2 and
    sigma."""
    n = i[I_N_WINDOWS]
    capacity = i[I_CAPACITY]
    head = i[I_HEAD]
    scratch = limbs_offset(n, n)
    ring = ring_offset(n)  # per slot: dt_ns, end ts_ns, then the fixed_term of r, then that of r**2
    for w in range(n):  # the slot about to be written is the oldest of a window that holds the whole ring
        if i[count_offset(n, w)] == capacity:
            _evict_tail(i, n, w, ring, capacity)
    k, c0, c1, c2 = fixed_term(r)
    k2, d0, d1, d2 = fixed_term(r * r)
    slot = ring + _RING_STRIDE * head
    i[slot] = dt_ns
    i[slot + 1] = ts_ns
    i[slot + 2] = k
    i[slot + 3] = c0
    i[slot + 4] = c1
    i[slot + 5] = c2
    i[slot + 6] = k2
    i[slot + 7] = d0
    i[slot + 8] = d1
    i[slot + 9] = d2
    for w in range(n):
        count = count_offset(n, w)
        if i[count] == 0:
            i[tail_offset(n, w)] = head
        i[count] += 1
        acc = limbs_offset(n, w)
        acc2 = acc + LIMBS
        i[sum_dt_offset(n, w)] += dt_ns
        i[acc + k] += c0
        i[acc + k + 1] += c1
        i[acc + k + 2] += c2
        i[acc2 + k2] += d0
        i[acc2 + k2 + 1] += d1
        i[acc2 + k2 + 2] += d2
        duration = i[I_WINDOWS + w]
        if duration > 0:
            while i[count] > 1:
                old = ring + _RING_STRIDE * i[tail_offset(n, w)]
                if ts_ns - (i[old + 1] - i[old]) <= duration:  # began within the window (no int64 overflow)
                    break
                _evict_tail(i, n, w, ring, capacity)
        normalise_fixed(i, acc)
        normalise_fixed(i, acc2)
        sum_r2 = fixed_to_float(i, acc2, scratch)
        out = window_out_offset(w)
        f[out] = fixed_to_float(i, acc, scratch)
        f[out + 1] = sum_r2
        elapsed_ns = i[sum_dt_offset(n, w)]
        f[out + 2] = math.sqrt(sum_r2 / (elapsed_ns / _NANOS_PER_SECOND)) if elapsed_ns != 0 else 0.0
    head += 1
    i[I_HEAD] = 0 if head == capacity else head
    i[I_TOTAL] += 1


@kernel
def regime_step(r: float, dt_ns: int, ts_ns: int, f: FloatArray, i: IntArray) -> tuple[float, float]:
    """Push ``r`` over ``dt_ns`` ending at ``ts_ns`` (none when ``dt_ns`` is 0) into the fast, mid and slow windows
    (0, 1, 2), then classify as of the last sample time ``ts_ns``; write the classification outputs.

    Returns:
        (quoting sigma per sqrt(second), risk multiplier). The quoting sigma is the larger of the fast and mid
        windows' and the floor; until the data spans the ready span, also at least a fresh implied vol (the warm-up
        never quotes on a vol measured on a few seconds).
    """
    if dt_ns > 0:
        push_return(r, dt_ns, ts_ns, f, i)
    mid = window_out_offset(1)
    sigma_fast = f[window_out_offset(0) + 2]
    sigma_mid = f[mid + 2]
    sigma_slow = f[window_out_offset(2) + 2]
    vol_ratio = sigma_fast / sigma_slow if sigma_slow > 0.0 else 1.0
    sum_r_mid = f[mid]
    sum_r2_mid = f[mid + 1]
    trend = abs(sum_r_mid) / math.sqrt(sum_r2_mid) if sum_r2_mid > 0.0 else 0.0
    first = i[I_FIRST_TS_NS]
    ready = first >= 0 and ts_ns - first >= i[I_READY_SPAN_NS]
    if not ready:
        label = LABEL_NORMAL
    elif trend >= f[F_TREND_THRESHOLD]:
        label = LABEL_TRENDING
    elif vol_ratio >= f[F_VOLATILE_VOL_RATIO]:
        label = LABEL_VOLATILE
    elif vol_ratio <= f[F_CALM_VOL_RATIO]:
        label = LABEL_CALM
    else:
        label = LABEL_NORMAL

    iv = f[F_IV_ANNUAL]
    if ts_ns > i[I_IV_DEADLINE_NS]:
        iv = math.nan  # stale: treat as unknown rather than pretend (LESSONS 17)
    # against the realized vol of the IV's own horizon (the windows' minutes are not comparable to days of IV)
    rv_annual = f[F_RV_ANNUAL]
    iv_rv = iv / rv_annual if not math.isnan(iv) and rv_annual > 0.0 else math.nan

    multiplier = f[F_LABEL_MULTIPLIERS + label]
    if not math.isnan(iv_rv):
        multiplier *= min(max(iv_rv, f[F_IV_RV_FACTOR_MIN]), f[F_IV_RV_FACTOR_MAX])
    multiplier = min(max(multiplier, f[F_RISK_MULTIPLIER_MIN]), f[F_RISK_MULTIPLIER_MAX])

    quoting_sigma = max(sigma_fast, sigma_mid, f[F_SIGMA_FLOOR])
    if not ready and not math.isnan(iv):
        quoting_sigma = max(quoting_sigma, iv / SQRT_SECONDS_PER_YEAR)

    f[F_OUT_VOL_RATIO] = vol_ratio
    f[F_OUT_TREND] = trend
    f[F_OUT_LABEL] = label
    f[F_OUT_RISK_MULTIPLIER] = multiplier
    f[F_OUT_IV_ANNUAL] = iv
    f[F_OUT_IV_RV] = iv_rv
    f[F_OUT_READY] = 1.0 if ready else 0.0
    f[F_OUT_QUOTING_SIGMA] = quoting_sigma
    return quoting_sigma, multiplier

"""vol_kernel: compiled == pure-Python twin, exact fixed-point sums, correct rounding, analyzer fast outputs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market import (
    MultiWindowRegimeAnalyzer,
    RegimeConfig,
    RollingVolatility,
    per_sqrt_second,
    vol_kernel as vk,
)
from twins import pure

S = 1_000_000_000
# a ring of 7 slots: time evictions and (with sub-interval steps driven straight into the kernel) count evictions
SMALL = RegimeConfig(fast_window_ns=2 * S, mid_window_ns=3 * S, slow_window_ns=5 * S, sample_interval_ns=S)
MAX_R = vk.MAX_ABS_LOG_RETURN


def _pure(fn: Callable[..., Any]) -> Callable[..., Any]:
    return pure(fn, vk)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


# -- twin -----------------------------------------------------------------------------------------------------

_EDGE_RETURNS = [0.0, -0.0, 5e-324, -5e-324, 2.0**-200, -(2.0**-201), 2.0**-147, 2.0**-73, -(2.0**-73), 1e-5,
                 -3e-4, 0.3566749439387324, MAX_R, -MAX_R, 1454.0, -1e-300]
_returns = st.one_of(st.sampled_from(_EDGE_RETURNS), st.floats(-MAX_R, MAX_R, allow_nan=False),
                     st.floats(-1e-3, 1e-3, allow_nan=False))
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("push"), _returns, st.one_of(st.just(1), st.integers(1, 10**13))),
        st.tuples(st.just("iv"), st.one_of(st.just(math.nan), st.floats(1e-3, 5.0)),
                  st.integers(0, 2 * 10**13)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_compiled_regime_step_equals_its_pure_python_twin(steps: list[tuple[str, float, int]]) -> None:
    # Arrange: two identical states, one driven by the compiled kernel, one by the pure-Python twin (after a first
    # price at 0, so the classification becomes ready)
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    analyzer.update(100.0, 0)
    f_c, i_c = analyzer._f.copy(), analyzer._i.copy()
    f_p, i_p = analyzer._f.copy(), analyzer._i.copy()
    twin = _pure(vk.regime_step)
    ts = 0
    for kind, x, n in steps:
        # Act
        if kind == "push":
            ts += n
            out_c = vk.regime_step(x, n, ts, f_c, i_c)
            out_p = twin(x, n, ts, f_p, i_p)
        else:
            for f, i in ((f_c, i_c), (f_p, i_p)):
                f[vk.F_IV_ANNUAL] = x
                f[vk.F_RV_ANNUAL] = 0.7 * x  # NaN with x
                i[vk.I_IV_DEADLINE_NS] = n
            out_c = vk.regime_step(0.0, 0, ts, f_c, i_c)
            out_p = twin(0.0, 0, ts, f_p, i_p)
        # Assert: same outputs and same state, to the bit
        assert np.array_equal(np.array(out_c), np.array(out_p))
        assert _same_bits(f_c, f_p)
        assert np.array_equal(i_c, i_p)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(_EDGE_RETURNS), st.floats(-(2.0**22), 2.0**22, allow_nan=False)))
def test_fixed_term_is_the_truncated_fixed_point_value_in_compiled_and_twin(x: float) -> None:
    expected = int(math.ldexp(x, vk.FIXED_POINT_BITS))  # the former Python-int representation
    for fn in (vk.fixed_term, _pure(vk.fixed_term)):
        k, c0, c1, c2 = fn(x)
        assert c0 * 2 ** (32 * k) + c1 * 2 ** (32 * (k + 1)) + c2 * 2 ** (32 * (k + 2)) == expected
        assert k >= 0 and k + 2 < vk.LIMBS
        assert max(abs(c0), abs(c1), abs(c2)) < 2**33


# -- correct rounding of the limbs ------------------------------------------------------------------------------

def _big_ints() -> st.SearchStrategy[int]:
    mantissa = st.integers(1, 2**60)
    shift = st.integers(0, 190)
    # a 54-bit odd integer is exactly half an ulp between two doubles
    tie = st.tuples(st.integers(2**52, 2**53 - 1), st.integers(0, 190)).map(lambda t: (2 * t[0] + 1) << t[1])
    sticky = st.tuples(tie, st.integers(0, 100)).map(lambda t: (t[0] << (t[1] + 1)) + 1)  # just above a tie
    plain = st.tuples(mantissa, shift).map(lambda t: t[0] << t[1])
    wide = st.integers(0, 2**250)
    edges = st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**64 - 1, 2**250])
    magnitude = st.one_of(plain, tie, sticky, wide, edges).filter(lambda v: v <= 2**250)  # sums stay below 2**255
    return st.tuples(magnitude, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


def _limbs_of(value: int, i: np.ndarray, base: int) -> None:
    """Write ``value`` as unnormalised limbs (each limb gets a signed chunk plus noise that cancels)."""
    for k in range(vk.LIMBS):
        i[base + k] = 0
    rest = value
    for k in range(vk.LIMBS - 1):
        chunk = rest & 0xFFFFFFFF
        i[base + k] += chunk + 3 * 2**32  # carry noise, taken back from the next limb
        i[base + k + 1] -= 3
        rest >>= 32
    i[base + vk.LIMBS - 1] += rest


@settings(max_examples=400, deadline=None)
@given(_big_ints())
def test_fixed_to_float_rounds_the_exact_integer_once_like_python_float(value: int) -> None:
    # Arrange
    i = np.zeros(3 * vk.LIMBS, dtype=np.int64)
    expected = math.ldexp(float(value), -vk.FIXED_POINT_BITS)  # Python: correctly rounded, ties to even
    for normalise, to_float in ((vk.normalise_fixed, vk.fixed_to_float),
                                (_pure(vk.normalise_fixed), _pure(vk.fixed_to_float))):
        _limbs_of(value, i, 0)
        # Act
        normalise(i, 0)
        got = to_float(i, 0, 2 * vk.LIMBS)
        # Assert
        assert got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)
        assert all(0 <= i[k] < 2**32 for k in range(vk.LIMBS - 1))


# -- exact window sums ----------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(2.0**-73, 5.0), st.floats(-5.0, -(2.0**-73))),
                min_size=1, max_size=300),
       st.integers(2, 40))
def test_window_sums_equal_fsum_exactly_when_every_return_is_at_least_2_pow_minus_73(
    returns: list[float], window: int
) -> None:
    # Every |r| >= 2**-73 (and r**2) is a multiple of 2**-200: the sums are exact, so they must equal fsum.
    rv = RollingVolatility(window)
    for r in returns:
        rv.push(r, 1)
    last = returns[-window:]
    assert rv.sum_returns == math.fsum(last)
    assert rv.sum_squared_returns == math.fsum(r * r for r in last)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-MAX_R, MAX_R, allow_nan=False), st.floats(-1e-50, 1e-50, allow_nan=False),
                          st.sampled_from(_EDGE_RETURNS)), min_size=1, max_size=120),
       st.integers(2, 30))
def test_window_sums_match_the_former_python_int_sums_bit_for_bit_and_fsum_within_the_stated_bound(
    returns: list[float], window: int
) -> None:
    rv = RollingVolatility(window)
    for r in returns:
        rv.push(r, 1)
    last = returns[-window:]
    for got, terms in ((rv.sum_returns, last), (rv.sum_squared_returns, [r * r for r in last])):
        former = math.ldexp(float(sum(int(math.ldexp(t, vk.FIXED_POINT_BITS)) for t in terms)), -200)
        assert got == former
        exact = math.fsum(terms)
        # each term loses < 2**-200 to truncation; each side rounds once (half an ulp)
        assert abs(got - exact) <= len(terms) * 2.0**-200 + math.ulp(max(abs(got), abs(exact)))


def test_a_crash_leaving_many_pushes_later_leaves_no_residue() -> None:
    rv = RollingVolatility(50)
    rng = np.random.default_rng(5)
    tiny = rng.normal(0.0, 1e-9, 20_000)
    for n, r in enumerate(tiny):
        rv.push(float(r), 1_000_000)
        if n % 5000 == 17:
            rv.push(-1454.0, 1)  # as large as a return between two doubles gets
    last = [float(r) for r in tiny[-50:]]
    assert rv.sum_returns == math.fsum(last)
    assert rv.sum_squared_returns == math.fsum(r * r for r in last)


def test_rolling_volatility_refuses_returns_and_durations_outside_the_kernel_domain() -> None:
    rv = RollingVolatility(4)
    for bad in (math.nan, math.inf, 2049.0):
        with pytest.raises(InvalidValue, match=re.escape("log_ret must be finite and within ±2048.0")):
            rv.push(bad, 1)
    with pytest.raises(InvalidValue, match=re.escape(f"dt_ns must be in [1, {(2**63 - 1) // 4}], was 0")):
        rv.push(0.001, 0)
    with pytest.raises(InvalidValue, match=re.escape("dt_ns must be int nanoseconds, was 1.5")):
        rv.push(0.001, 1.5)  # type: ignore[arg-type]
    assert rv.count == 0


# -- analyzer fast outputs ------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.05, 0.05), st.integers(0, 5 * S), st.integers(0, 30)), min_size=1,
                max_size=60))
def test_quoting_inputs_equal_the_regime_fields_after_every_change(steps: list[tuple[float, int, int]]) -> None:
    analyzer = MultiWindowRegimeAnalyzer(RegimeConfig(fast_window_ns=3 * S, mid_window_ns=6 * S,
                                                      slow_window_ns=10 * S, sample_interval_ns=S // 4,
                                                      iv_max_age_ns=20 * S))
    price, ts = 100.0, 0

    def check() -> None:
        regime = analyzer.regime()
        assert analyzer.quoting_inputs() == (regime.quoting_sigma_per_sqrt_s, regime.risk_multiplier)

    check()
    for r, dt_ns, iv_code in steps:
        price *= math.exp(r)
        ts += dt_ns
        analyzer.update(price, ts)
        check()
        if iv_code < 4:
            analyzer.set_implied_vol(None if iv_code == 0 else 0.2 * iv_code, ts, 0.3 if iv_code == 2 else None)
            check()


def test_regime_is_built_once_per_state_change() -> None:
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    analyzer.update(100.0, 1 * S)
    analyzer.update(101.0, 2 * S)
    first = analyzer.regime()
    assert analyzer.regime() is first
    analyzer.update(101.0, 2 * S)  # same nanosecond: ignored, nothing changed
    assert analyzer.regime() is first
    analyzer.update(102.0, 3 * S)
    assert analyzer.regime() is not first


@pytest.mark.parametrize(("first_ts", "second_ts"), [(-1, None), (2**63, None), (0, 2**63)])
def test_timestamps_outside_int64_ns_are_refused_and_leave_state_unchanged(
    first_ts: int, second_ts: int | None
) -> None:
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    if second_ts is None:
        with pytest.raises(InvalidValue, match=re.escape(f"ts_ns must be in [0, 2**63), was {first_ts}")):
            analyzer.update(100.0, first_ts)
        assert analyzer.regime().ts_ns == 0
        return
    analyzer.update(100.0, first_ts)
    before = analyzer.regime()
    with pytest.raises(InvalidValue, match=re.escape(f"ts_ns must be in [0, 2**63), was {second_ts}")):
        analyzer.update(101.0, second_ts)
    assert analyzer.regime() == before
    assert analyzer.quoting_inputs() == (before.quoting_sigma_per_sqrt_s, before.risk_multiplier)


@pytest.mark.parametrize(("previous", "price"), [(1e-300, 1e10), (1.0, 1e-300), (5e-324, 1.7e308)])
def test_extreme_price_ratios_give_a_finite_return(previous: float, price: float) -> None:
    # log1p's domain ends here (ratio inf, or -1 after rounding); the return falls back to log(p) - log(prev)
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    analyzer.update(previous, 1 * S)
    analyzer.update(price, 2 * S)
    expected = abs(math.log(price) - math.log(previous))
    assert analyzer.regime().sigma_fast_per_sqrt_s == pytest.approx(expected, rel=1e-15)


def test_stale_iv_deadline_follows_the_last_sample_time() -> None:
    cfg = RegimeConfig(fast_window_ns=2 * S, mid_window_ns=3 * S, slow_window_ns=5 * S, iv_max_age_ns=10 * S)
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    analyzer.set_implied_vol(0.5, 5 * S)  # before any price: age measured from ts 0, fresh
    assert analyzer.regime().atm_iv_annual == 0.5
    analyzer.update(100.0, 14 * S)
    analyzer.update(100.0, 15 * S)  # exactly max age: still fresh
    assert analyzer.regime().atm_iv_annual == 0.5
    analyzer.update(100.0, 15 * S + cfg.sample_interval_ns - 1)  # not a sample: the deadline is checked at samples
    assert analyzer.regime().atm_iv_annual == 0.5
    analyzer.update(100.0, 15 * S + cfg.sample_interval_ns)  # the next sample: stale
    assert analyzer.regime().atm_iv_annual is None
    analyzer.set_implied_vol(0.5, 2**63 + 5)  # a deadline beyond int64 never goes stale
    assert analyzer.regime().atm_iv_annual == 0.5


def test_quoting_inputs_before_any_price_are_the_floor_and_the_normal_multiplier() -> None:
    analyzer = MultiWindowRegimeAnalyzer()
    cfg = RegimeConfig()
    assert analyzer.quoting_inputs() == (per_sqrt_second(cfg.sigma_floor_annual), cfg.normal_risk_multiplier)

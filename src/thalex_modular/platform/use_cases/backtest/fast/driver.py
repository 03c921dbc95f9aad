"""The fast driver: the compiled replay loop (:func:`.loop.replay`) and the arrays it keeps between chunks.

Same inputs and outputs as :class:`~..reference.ReferenceDriver` (the recorder's fills and samples, the request log,
the counts the metrics need) and the same decisions, to the cent: ``tests/unit/backtest/test_fast_parity.py``.
The parameters are taken from the very objects the reference driver builds (the strategy's packed kernel
parameters, the RiskCheck's limits, the regime analyzer's initial state), so both read one configuration.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.risk_kernel import new_context
from thalex_modular.platform.use_cases.reconcile_kernel import (
    G_AMOUNT_DIVISOR,
    G_PRICE_DIVISOR,
    WORK_COLUMNS,
    new_grid,
    plan_work_rows,
)
from thalex_modular.platform.use_cases.sim_session import build_core
from thalex_modular.strategies.as_kernel import pack_parameters
from thalex_modular.strategies.glft import GlftConfig
from thalex_modular.strategies.glft_kernel import pack_glft_parameters

from ..config import BacktestConfig
from ..events import EVENT_DTYPE, QUOTE, TRADE
from ..recorder import FILL_DTYPE, MARKOUT_HORIZONS_NS, SAMPLE_DTYPE, sample_interval_for
from ..reference import REQUEST_DTYPE
from . import layout as L
from .loop import replay
from .room import (
    SHORT_FILLS,
    SHORT_KO,
    SHORT_KP,
    SHORT_LOTS,
    SHORT_OB,
    SHORT_PQ,
    SHORT_REQUESTS,
    SHORT_SAMPLES,
    SHORT_SLOTS,
)

_NAN = math.nan
_SETTLE_BLOCK = 4096  # settled fills moved out of the loop's buffers at least this many at a time


def _i64(*shape: int) -> npt.NDArray[np.int64]:
    return np.zeros(shape, dtype=np.int64)


def _f64(*shape: int) -> npt.NDArray[np.float64]:
    return np.zeros(shape, dtype=np.float64)


def _grown(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``array`` with twice the rows (the first ones kept)."""
    bigger = np.zeros((2 * array.shape[0], *array.shape[1:]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


class FastDriver:
    """Replays ``EVENT_DTYPE`` chunks through the compiled loop; state is carried from one chunk to the next."""

    def __init__(self, config: BacktestConfig, seed: int, feed_latency_ns: int | None = None,
                 record_requests: bool = False) -> None:
        self.config = config
        self.record_requests = record_requests
        inst = config.instrument
        sim = config.sim
        self.feed_latency_ns = sim.feed_latency_ns if feed_latency_ns is None else feed_latency_ns
        if not (inst.price_divisor and inst.amount_divisor):
            raise InvalidValue(f"the fast driver needs a decimal tick and volume tick, {inst.instrument_name} has "
                               f"{inst.tick_size} / {inst.volume_tick_size}: use driver='reference'")
        params = config.params
        if params.maker_fee_bps is None:
            params = dataclasses.replace(params, maker_fee_bps=sim.maker_fee_bps)
        core = build_core(inst, params)  # the objects the reference driver runs: their parameters, packed
        strategy: Any = core.strategy
        scfg = strategy.config
        fp, ip = (pack_glft_parameters(inst, scfg) if isinstance(scfg, GlftConfig) else pack_parameters(inst, scfg))
        risk = core.reconciler.risk
        risk.bind(inst)
        lim, ilim = risk.limits
        analyzer: Any = core.analyzer
        sigma, mult = analyzer.quoting_inputs()
        grid = new_grid(params.amend_tolerance_ticks, params.amend_tolerance_bps, params.amount_tolerance)
        grid[G_PRICE_DIVISOR] = inst.price_divisor
        grid[G_AMOUNT_DIVISOR] = inst.amount_divisor
        ctx, ictx = new_context()
        start_ns = config.history.start_ns
        self.sample_interval_ns = sample_interval_for(start_ns, config.history.end_ns)

        pi = _i64(L.P_SIZE)
        pi[L.P_FEED] = sim.feed_latency_ns
        pi[L.P_ENTRY_LAT] = sim.order_entry_latency_ns
        pi[L.P_CANCEL_LAT] = sim.cancel_latency_ns
        pi[L.P_RESPONSE_LAT] = sim.response_latency_ns
        pi[L.P_SLIPPAGE] = sim.slippage_ticks
        pi[L.P_PRICE_DIV] = inst.price_divisor
        pi[L.P_AMOUNT_DIV] = inst.amount_divisor
        pi[L.P_MIN_LOTS] = inst.min_order_lots
        pi[L.P_MODEL] = 1 if isinstance(scfg, GlftConfig) else 0
        pi[L.P_KAPPA_FIXED] = 0 if scfg.kappa_per_usd is None else 1
        pi[L.P_WAIT_NS] = round(scfg.kappa_own_fill_wait_s * 1e9)
        pi[L.P_BOOK_AGE_NS] = round(scfg.kappa_book_max_age_s * 1e9)
        pi[L.P_EST_WINDOW] = scfg.kappa_window_trades
        pi[L.P_EST_MIN] = scfg.kappa_min_trades
        pi[L.P_AN_INTERVAL] = analyzer.config.sample_interval_ns
        pi[L.P_BAND_FROM_MARK] = 1 if risk.band_from_mark else 0
        pi[L.P_SAMPLE_STEP] = self.sample_interval_ns
        pi[L.P_RECORD] = 1 if record_requests else 0
        pf = _f64(L.Q_SIZE)
        pf[L.Q_TICK] = inst.tick_size
        pf[L.Q_VTICK] = inst.volume_tick_size
        pf[L.Q_MAKER_BPS] = sim.maker_fee_bps
        pf[L.Q_TAKER_BPS] = sim.taker_fee_bps
        pf[L.Q_FIXED_KAPPA] = _NAN if scfg.kappa_per_usd is None else scfg.kappa_per_usd
        pf[L.Q_K_MIN] = scfg.kappa_min_per_usd
        pf[L.Q_K_MAX] = scfg.kappa_max_per_usd
        pf[L.Q_K_FALLBACK] = scfg.kappa_fallback_per_usd
        si = _i64(L.S_SIZE)
        si[L.S_CLOCK] = start_ns
        si[L.S_ENG_NOW] = start_ns
        si[L.S_NEXT_CID] = 100  # ClientOrderIds' first
        si[L.S_NEXT_SAMPLE] = start_ns
        si[L.S_QMEMO_NQ] = -1
        si[L.S_FEED_MEASURED] = -1
        sf = _f64(L.F_SIZE)
        for cell in (L.F_MID, L.F_MARK, L.F_REF, L.F_TICKER_BID, L.F_TICKER_ASK, L.F_TICKER_MARK, L.F_KAPPA,
                     L.F_BOOK_BID, L.F_BOOK_ASK):
            sf[cell] = _NAN
        sf[L.F_SIGMA] = sf[L.F_AN_SIGMA] = sigma
        sf[L.F_MULT] = sf[L.F_AN_MULT] = mult
        slots = 32
        max_quotes = 2 * scfg.levels
        self.max_quotes = max_quotes
        self._s: dict[str, Any] = {
            "si": si, "sf": sf, "pi": pi, "pf": pf,
            "oi": _i64(slots, L.OI_COLS), "of": _f64(slots, L.OF_COLS),
            "pq": _i64(256, L.PQ_COLS), "ob": _i64(512, L.OB_COLS),
            "kp": _i64(256, L.K_COLS), "kd": _f64(256), "ko": _i64(512, L.K_COLS),
            "dist": _f64(scfg.kappa_window_trades), "partials": _f64(2 * L.PARTIALS), "lots": _f64(512),
            "af": analyzer._f.copy(), "ai": analyzer._i.copy(),  # the analyzer's initial state (private: same object)
            "qfp": fp, "qip": ip, "desired": _i64(max_quotes, 4),
            "lim": lim.copy(), "ilim": ilim.copy(), "grid": grid, "ctx": ctx, "ictx": ictx,
            "ints": _i64(slots, 6), "floats": _f64(slots, 2), "row_slot": _i64(slots),
            "out": _i64(2 * (slots + max_quotes), 4), "denied": _i64(2 * (slots + max_quotes), 6),
            "denied_book": _f64(2 * (slots + max_quotes), 2),
            "fi": _i64(1024, L.FI_COLS), "ff": _f64(1024, L.FF_COLS),
            "ri": _i64(1024 if record_requests else 1, L.RI_COLS),
            "rf": _f64(1024 if record_requests else 1, L.RF_COLS),
            "smi": _i64(1024), "smf": _f64(1024, L.SF_COLS),
            "scratch": _i64(8, max(slots, max_quotes) + 1), "memo_q": _i64(max_quotes, 4), "memo_o": _i64(slots, 6),
            "work": _i64(plan_work_rows(max_quotes, slots), WORK_COLUMNS),  # the plan's tables, <= `slots` orders
        }
        self._rng = random.Random(seed)
        self._mid_carry = _NAN  # the mid after the last chunk (trades without a side take the side of it)
        self._settled: list[npt.NDArray[np.void]] = []  # fills whose markouts are all known, moved out of the loop's
        self._settled_count = 0  # buffers (FILL_DTYPE blocks): memory per fill is its row, not a doubling buffer

    # -- the replay -------------------------------------------------------------------------------------------

    def replay(self, chunk: npt.NDArray[np.void], seen_ns: npt.NDArray[np.int64]) -> None:
        """Feed one chunk of events, in order, each at the time it is seen (``events.seen_times``)."""
        if not len(chunk):
            return
        columns = [np.ascontiguousarray(chunk[name]) for name in
                   ("ts_ns", "kind", "side", "bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price",
                    "price", "amount")]
        columns[2] = self._takers(columns)
        columns.insert(1, np.ascontiguousarray(seen_ns, dtype=np.int64))
        self._settle_fills()
        s = self._s
        order = ("si", "sf", "pi", "pf", "oi", "of", "pq", "ob", "kp", "kd", "ko", "dist", "partials", "lots", "af",
                 "ai", "qfp", "qip", "desired", "lim", "ilim", "grid", "ctx", "ictx", "ints", "floats", "row_slot",
                 "out", "denied", "denied_book", "fi", "ff", "ri", "rf", "smi", "smf", "scratch", "memo_q", "memo_o",
                 "work")
        start = 0
        while True:
            code = replay(start, *columns, *(s[name] for name in order))
            si = s["si"]
            if code == L.DONE:
                return
            if code == L.NEED_ROOM:
                self._grow(int(si[L.S_ERROR]))
                start = int(si[L.S_POS])
                continue
            raise InvalidValue(f"the quote kernel refused its inputs (code {int(si[L.S_ERROR])}) at event "
                               f"{int(si[L.S_EVENTS])}")

    def deliver_in_flight(self) -> None:
        """After the last event: every request still in flight and answer still due, each at its own time
        (:meth:`SimSession.deliver_in_flight`)."""
        row = np.zeros(1, dtype=EVENT_DTYPE)
        row["kind"] = L.IN_FLIGHT
        self.replay(row, np.full(1, np.iinfo(np.int64).max, dtype=np.int64))

    def _takers(self, columns: list[npt.NDArray[Any]]) -> npt.NDArray[np.int8]:
        """Each trade's aggressor: the data's, else the side of the mid it printed on, exactly at the mid (or before
        any mid) a coin flip of the run's RNG, drawn in event order (``ReferenceDriver._taker``)."""
        _, kind, side, bp, _, ap, _, mk, px, amt = columns  # before the seen times are inserted
        taker = side.astype(np.int8, copy=True)
        unknown = np.flatnonzero((kind == TRADE) & (side == 0) & (px > 0.0) & (amt > 0.0))
        has_b = bp > 0.0
        has_a = ap > 0.0
        both = has_b & has_a
        with np.errstate(invalid="ignore"):
            inside = 0.5 * (bp + ap)
            mark = np.where(mk > 0.0, mk, np.where(both, inside, np.where(has_b, bp, np.where(has_a, ap, _NAN))))
            mid = np.where(both, inside, mark)
        valid = (kind == QUOTE) & (mark == mark)
        last = np.where(valid, np.arange(len(kind)), -1)
        np.maximum.accumulate(last, out=last)
        if len(unknown):
            rng = self._rng
            for row in unknown.tolist():
                at = int(last[row])
                m = float(mid[at]) if at >= 0 else self._mid_carry
                p = float(px[row])
                if p != m and m == m:
                    taker[row] = 1 if p > m else -1
                else:
                    taker[row] = 1 if rng.random() < 0.5 else -1
        if last[-1] >= 0:
            self._mid_carry = float(mid[last[-1]])
        return taker

    def _grow(self, mask: int) -> None:
        s = self._s
        groups = (
            (SHORT_SLOTS, ("oi", "of", "ints", "floats", "row_slot", "out", "denied", "denied_book", "memo_o")),
            (SHORT_PQ, ("pq",)), (SHORT_OB, ("ob",)), (SHORT_FILLS, ("fi", "ff")), (SHORT_KO, ("ko",)),
            (SHORT_KP, ("kp", "kd")), (SHORT_LOTS, ("lots",)), (SHORT_REQUESTS, ("ri", "rf")),
            (SHORT_SAMPLES, ("smi", "smf")),
        )
        for bit, names in groups:
            if mask & bit:
                for name in names:
                    s[name] = _grown(s[name])
        if mask & SHORT_SLOTS:
            s["scratch"] = np.zeros((8, 2 * s["scratch"].shape[1]), dtype=np.int64)  # >= slots, >= quotes
            s["work"] = _i64(plan_work_rows(self.max_quotes, s["ints"].shape[0]), WORK_COLUMNS)
        needed = int(s["si"][L.S_NEED_SAMPLES])
        while mask & SHORT_SAMPLES and s["smi"].shape[0] < needed:  # a long gap needs many grid points at once
            s["smi"], s["smf"] = _grown(s["smi"]), _grown(s["smf"])

    # -- what the run gives ------------------------------------------------------------------------------------

    @property
    def events(self) -> int:
        return int(self._s["si"][L.S_EVENTS])

    @property
    def skipped(self) -> int:
        return int(self._s["si"][L.S_SKIPPED])

    @property
    def request_counts(self) -> list[int]:
        """Inserts, amends, cancels sent."""
        return [int(x) for x in self._s["si"][L.S_REQ_COUNTS: L.S_REQ_COUNTS + 3]]

    @property
    def denials(self) -> int:
        return int(self._s["si"][L.S_DENIALS])

    @property
    def offered_amount(self) -> float:
        return float(self._s["sf"][L.F_OFFERED])

    @property
    def position(self) -> float:
        """The tracker's (FIFO) position at the end, underlying."""
        sf = self._s["sf"]
        return float(sf[L.F_POS] + sf[L.F_POS_COMP])

    @property
    def mark(self) -> float:
        return float(self._s["sf"][L.F_MARK])

    @property
    def mid(self) -> float:
        return float(self._s["sf"][L.F_MID])

    @property
    def spread_capture_usd(self) -> float:
        return float(self._s["sf"][L.F_REC_SPREAD])

    @property
    def fees_usd(self) -> float:
        return float(self._s["sf"][L.F_REC_FEES])

    def equity_usd(self, mark: float) -> float:
        """Cash + position at ``mark`` - fees (USD), as the recorder books them."""
        sf = self._s["sf"]
        return float(sf[L.F_REC_CASH] + sf[L.F_REC_POS] * mark - sf[L.F_REC_FEES])

    def fills(self) -> npt.NDArray[np.void]:
        """Every fill in order (``FILL_DTYPE``): the settled blocks, then the loop's buffer (built block by block,
        each released once copied: the run's fills are held about once, not twice)."""
        n = int(self._s["si"][L.S_FILLS])
        out = np.empty(self._settled_count + n, dtype=FILL_DTYPE)
        at = 0
        while self._settled:
            block = self._settled.pop(0)
            out[at: at + len(block)] = block
            at += len(block)
        out[at:] = self._fill_rows(0, n)
        self._settled = [out[: self._settled_count]]
        return out

    def _fill_rows(self, start: int, end: int) -> npt.NDArray[np.void]:
        s = self._s
        out = np.empty(end - start, dtype=FILL_DTYPE)
        fi, ff = s["fi"][start:end], s["ff"][start:end]
        for column, name in enumerate(("ts_ns", "side", "maker")):
            out[name] = fi[:, column]
        for column, name in enumerate(("price", "amount", "fee_usd", "mid", "mid_1s", "mid_10s", "mid_60s")):
            out[name] = ff[:, column]
        return out

    def _settle_fills(self) -> None:
        """Move the fills whose every markout is known (all three markout pointers past them) out of the loop's
        buffers, when there are enough to be worth a block."""
        s = self._s
        si = s["si"]
        n = int(si[L.S_FILLS])
        done = min(int(si[L.S_MARKOUT_PTR + h]) for h in range(len(MARKOUT_HORIZONS_NS)))
        if done < _SETTLE_BLOCK:
            return
        self._settled.append(self._fill_rows(0, done))
        self._settled_count += done
        for name in ("fi", "ff"):
            s[name][: n - done] = s[name][done:n]  # numpy copies overlapping slices correctly
        si[L.S_FILLS] = n - done
        for h in range(len(MARKOUT_HORIZONS_NS)):
            si[L.S_MARKOUT_PTR + h] -= done

    @property
    def fill_count(self) -> int:
        """Fills booked so far."""
        return self._settled_count + int(self._s["si"][L.S_FILLS])

    @property
    def sample_count(self) -> int:
        return int(self._s["si"][L.S_SAMPLES])

    def fill_flows(self, start: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Fills from the ``start``-th on (not yet settled): time reached us (ns), signed amount (+ bought), as the
        recorder books."""
        s = self._s
        n = int(s["si"][L.S_FILLS])
        first = start - self._settled_count
        if first < 0:
            raise InvalidValue(f"fill_flows: fill {start} is settled already (first in the buffer: "
                               f"{self._settled_count})")
        return s["fi"][first:n, 0].copy(), s["fi"][first:n, 1] * s["ff"][first:n, L.FF_AMOUNT]

    def sample_times(self, start: int) -> npt.NDArray[np.int64]:
        s = self._s
        times: npt.NDArray[np.int64] = s["smi"][start: int(s["si"][L.S_SAMPLES])].copy()
        return times

    def samples(self) -> npt.NDArray[np.void]:
        s = self._s
        n = int(s["si"][L.S_SAMPLES])
        out = np.zeros(n, dtype=SAMPLE_DTYPE)
        out["ts_ns"] = s["smi"][:n]
        for column, name in enumerate((SAMPLE_DTYPE.names or ())[1:]):
            out[name] = s["smf"][:n, column]
        return out

    def requests(self) -> npt.NDArray[np.void]:
        """Every request sent, in order (``REQUEST_DTYPE``); empty unless ``record_requests``."""
        s = self._s
        n = int(s["si"][L.S_REQUESTS]) if self.record_requests else 0
        out = np.zeros(n, dtype=REQUEST_DTYPE)
        for column, name in enumerate(("ts_ns", "kind", "side", "client_order_id")):
            out[name] = s["ri"][:n, column]
        out["price"] = s["rf"][:n, 0]
        out["amount"] = s["rf"][:n, 1]
        return out

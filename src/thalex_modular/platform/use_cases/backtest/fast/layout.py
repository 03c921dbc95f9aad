"""The fast driver's array state: the index of every scalar and column (compile-time constants for the kernels).

State vectors: ``si`` (int64) and ``sf`` (float64) scalars of the replay; ``pi`` / ``pf`` its parameters (read only).
Tables: ``oi`` / ``of`` one row per order slot (the tracker's order and the simulator's record of it, keyed by
client_order_id; slots are kept in client_order_id order, i.e. the tracker's order); ``pq`` requests in flight to the
simulated exchange; ``ob`` the exchange's answers not yet delivered (FIFO: their due times never decrease); ``kp`` /
``kd`` public prints waiting for the kappa sampler, ``ko`` our fills waiting for their print; ``lots`` the FIFO
position's open lots (a ring). Outputs: fills, requests and samples, grown by the Python side between events.
"""

from __future__ import annotations

from typing import Final

# -- si: int64 scalars ---------------------------------------------------------------------------------------
S_CLOCK: Final = 0  # the session clock (local ns)
S_ENG_NOW: Final = 1  # the engine's time processed so far
S_SEQ: Final = 2  # the engine's sequence (pending requests and answers)
S_PRIORITY: Final = 3  # the engine's time priority counter
S_NEXT_CID: Final = 4  # the next client_order_id
S_SLOTS: Final = 5  # order slots in use
S_PQ: Final = 6  # requests in flight
S_OB_HEAD: Final = 7
S_OB_TAIL: Final = 8
S_HAS_TOP: Final = 9  # the engine saw a book
S_BID_T: Final = 10  # best bid ticks (S_HAS_BID 0: that side empty)
S_BID_L: Final = 11  # its lots (-1 unknown)
S_ASK_T: Final = 12
S_ASK_L: Final = 13
S_HAS_BID: Final = 14
S_HAS_ASK: Final = 15
S_CROSS_HAS: Final = 16  # 2 cells: per side of our orders (0 buy, 1 sell), a crossing level being used
S_CROSS_TICKS: Final = 18  # 2 cells
S_CROSS_TAKEN: Final = 20  # 2 cells
S_HAS_TICKER: Final = 22
S_TICKER_TS_LOCAL: Final = 23
S_QUOTED: Final = 24  # the strategy quoted once (the kappa sampler listens from then on)
S_BOOK_NS: Final = 25  # decision time of the last quote
S_KP_HEAD: Final = 26
S_KP_TAIL: Final = 27
S_KO_HEAD: Final = 28
S_KO_TAIL: Final = 29
S_K_NOW: Final = 30
S_EST_HEAD: Final = 31
S_EST_COUNT: Final = 32
S_EST_NPART: Final = 33
S_AN_HAS_LAST: Final = 34
S_AN_LAST_TS: Final = 35
S_LOTS_HEAD: Final = 36
S_LOTS_TAIL: Final = 37
S_FILLS: Final = 38
S_MARKOUT_PTR: Final = 39  # 3 cells, one per horizon
S_REQUESTS: Final = 42
S_SAMPLES: Final = 43
S_NEXT_SAMPLE: Final = 44
S_EVENTS: Final = 45
S_SKIPPED: Final = 46
S_DENIALS: Final = 47
S_REQ_COUNTS: Final = 48  # 3 cells: inserts, amends, cancels
S_ERROR: Final = 51
S_TRADES: Final = 52
S_TICKERS: Final = 53
S_POS: Final = 54  # the chunk row to resume from after NEED_ROOM
S_NEED_SAMPLES: Final = 55  # the sample rows the event needs (NEED_ROOM)
S_MEMO_VALID: Final = 56  # the last plan sent nothing: its desired rows and order rows are in memo_q / memo_o
S_MEMO_NQ: Final = 57
S_MEMO_NO: Final = 58
S_RESUME_ADVANCE: Final = 59  # NEED_ROOM came inside the event's advance: resume it there
S_QMEMO_NQ: Final = 60  # the rows the last quote wrote to `desired` from the inputs in F_QMEMO (-1: none)
S_FEED_MEASURED: Final = 61  # the simulator's feed delay measured on public trades (ns, EWMA; -1: no sample yet)
S_SIZE: Final = 64

# -- sf: float64 scalars -------------------------------------------------------------------------------------
F_MID: Final = 0  # the driver's mid (NaN before a book)
F_MARK: Final = 1  # the driver's mark
F_REF: Final = 2  # the latest ticker's reference price (the mark): what the strategy centres on
F_TICKER_BID: Final = 3  # NaN: that side empty
F_TICKER_ASK: Final = 4
F_TICKER_MARK: Final = 5
F_SIGMA: Final = 6  # the quoting inputs captured when the latest ticker arrived
F_MULT: Final = 7
F_AN_SIGMA: Final = 8  # the analyzer's current quoting inputs
F_AN_MULT: Final = 9
F_KAPPA: Final = 10  # NaN: ask the estimator again
F_BOOK_BID: Final = 11
F_BOOK_ASK: Final = 12
F_AN_LAST_PRICE: Final = 13
F_POS: Final = 14  # FifoPosition._position
F_POS_COMP: Final = 15  # its compensation
F_REC_POS: Final = 16  # the recorder's position, cash, fees, spread capture
F_REC_CASH: Final = 17
F_REC_FEES: Final = 18
F_REC_SPREAD: Final = 19
F_OFFERED: Final = 20
F_QMEMO: Final = 21  # 7 cells: the last quote's inputs (bid, ask, reference, position, sigma, multiplier, kappa)
F_SIZE: Final = 28

# -- pi / pf: parameters --------------------------------------------------------------------------------------
P_FEED: Final = 0
P_ENTRY_LAT: Final = 1
P_CANCEL_LAT: Final = 2
P_RESPONSE_LAT: Final = 3
P_SLIPPAGE: Final = 4
P_PRICE_DIV: Final = 5
P_AMOUNT_DIV: Final = 6
P_MIN_LOTS: Final = 7
P_MODEL: Final = 8  # 0 Avellaneda-Stoikov, 1 GLFT
P_KAPPA_FIXED: Final = 9  # 1: kappa configured (pf[Q_FIXED_KAPPA]), no estimator
P_WAIT_NS: Final = 10
P_BOOK_AGE_NS: Final = 11
P_EST_WINDOW: Final = 12
P_EST_MIN: Final = 13
P_AN_INTERVAL: Final = 14
P_BAND_FROM_MARK: Final = 15
P_SAMPLE_STEP: Final = 16
P_RECORD: Final = 17
P_SIZE: Final = 20

Q_TICK: Final = 0
Q_VTICK: Final = 1
Q_MAKER_BPS: Final = 2
Q_TAKER_BPS: Final = 3
Q_FIXED_KAPPA: Final = 4
Q_K_MIN: Final = 5
Q_K_MAX: Final = 6
Q_K_FALLBACK: Final = 7
Q_SIZE: Final = 8

# -- order slots ---------------------------------------------------------------------------------------------
OC_CID: Final = 0
OC_BUY: Final = 1  # 1 buy, 0 sell
OC_STATUS: Final = 2  # the tracker's: ST_NONE (closed), ST_PENDING, ST_OPEN, ST_PARTIAL
OC_FLIGHT: Final = 3  # FL_*
OC_HAS_AMEND: Final = 4
OC_RESTING: Final = 5  # the engine holds it
OC_TICKS: Final = 6  # the engine's price, lots, filled lots, queue ahead (-1 unknown), time priority
OC_LOTS: Final = 7
OC_FILLED: Final = 8
OC_QUEUE: Final = 9
OC_PRIO: Final = 10
OI_COLS: Final = 11

OF_PRICE: Final = 0  # the tracker's price, amount, filled amount, sum of fills seen, amend amount
OF_AMOUNT: Final = 1
OF_FILLED: Final = 2
OF_FILLS: Final = 3
OF_AMEND: Final = 4
OF_OFFERED: Final = 5  # what the order offered so far (the fill ratio's denominator)
OF_COLS: Final = 6

ST_NONE: Final = 0
ST_PENDING: Final = 1
ST_OPEN: Final = 2
ST_PARTIAL: Final = 3
ST_FILLED: Final = 4
ST_CANCELLED: Final = 5
ST_CANCELLED_PARTIAL: Final = 6

FL_NONE: Final = 0
FL_INSERT: Final = 1
FL_AMEND: Final = 2
FL_CANCEL: Final = 3

# request kinds (pending queue and the request log: reference.INSERT / AMEND / CANCEL)
RQ_INSERT: Final = 0
RQ_AMEND: Final = 1
RQ_CANCEL: Final = 2

# pending requests: [arrival, seq, kind, cid, ticks, lots]
PQ_ARRIVAL, PQ_SEQ, PQ_KIND, PQ_CID, PQ_TICKS, PQ_LOTS = 0, 1, 2, 3, 4, 5
PQ_COLS: Final = 6

# answers: [due, at, is_reject, cid, status, reason, ticks, lots, filled lots, fill lots, fill ticks]
B_DUE, B_AT, B_REJECT, B_CID, B_STATUS, B_REASON, B_TICKS, B_LOTS, B_FILLED, B_FILL_LOTS, B_FILL_TICKS = range(11)
OB_COLS: Final = 11
R_INSERT: Final = 0
R_AMEND: Final = 1
R_CANCEL: Final = 2
R_FILL: Final = 3

# kappa sampler queues: prints [ts, ticks, lots, aggressor] (+ distance in kd), own fills [ts, ticks, lots, aggressor]
K_TS, K_TICKS, K_LOTS, K_AGGRESSOR = 0, 1, 2, 3
K_COLS: Final = 4
PARTIALS: Final = 64  # ExactSum partials (at most ~40 for finite doubles); the table has twice as many cells:
# the second half is where the estimate re-adds them (math.fsum), so reading it allocates nothing

# outputs: fills [ts, side, maker] + [price, amount, fee, mid, mid_1s, mid_10s, mid_60s]; requests [ts, kind, side,
# cid] + [price, amount]; samples [ts] + SAMPLE_DTYPE's float columns
FI_COLS: Final = 3
FF_PRICE, FF_AMOUNT, FF_FEE, FF_MID, FF_MARKOUT = 0, 1, 2, 3, 4
FF_COLS: Final = 7
RI_COLS: Final = 4
RF_COLS: Final = 2
SF_COLS: Final = 10

# replay results
#: A row kind of the loop's own (not an event): deliver every request and answer still in flight, each at its time.
IN_FLIGHT: Final = 2
DONE: Final = 0
NEED_ROOM: Final = 1  # a buffer is short of room for one more event: grow it and call again from ``si[S_EVENTS]``
ERR_QUOTE: Final = 2  # the quote kernel refused its inputs (the code in si[S_ERROR])
ERR_FULL: Final = 3  # a fixed table (order slots, requests in flight, answers) overflowed

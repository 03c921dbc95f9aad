"""Migration 5: a quote snapshot is keyed by what it shows, and each clock gets its own column.

``quotes`` was keyed (instrument_name, ts_ns, seq) with ``seq`` counted per process: after a restart a different
snapshot at an already stored time got seq 0 again and was dropped as a duplicate. It is now keyed (instrument_name,
ts_ns, snapshot_id), ``snapshot_id`` being the first 8 bytes (big-endian, signed) of SHA-256 over the big-endian
IEEE-754 bytes of bid_price, bid_amount, ask_price, ask_amount, mark_price, each NaN (or NULL) as the canonical
NaN 0x7ff8000000000000 (:func:`~thalex_modular.platform.adapters.storage.rows.quote_snapshot_id`; the SQL below
and the embedded store's function compute the same). Stored rows get their id here; two stored rows of one
snapshot (the same content at the same time) keep the lower seq.

``ts_exchange_ns`` (new, NULL when the venue sent no time) and ``ts_local_ns`` hold each clock on its own. A stored
row whose ``ts_ns`` equals its ``ts_local_ns`` was filed at its receive time (the ticker lacked ``mark_timestamp``),
so it gets no exchange time.
"""

from __future__ import annotations

from ..schema import QUOTES_V5_COLUMNS, create_table_sql

_VALUES = ("bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price")
#: Registered on every embedded connection (:mod:`..embedded`) under this name.
EMBEDDED_ID_FUNCTION = "thalex_quote_snapshot_id"


def snapshot_id_sql() -> str:
    """PostgreSQL: the snapshot id of a ``quotes`` row, as :func:`..rows.quote_snapshot_id` computes it."""
    parts = " || ".join(
        f"float8send(CASE WHEN {c} IS NULL OR {c} = 'NaN' THEN 'NaN'::float8 ELSE {c} END)" for c in _VALUES
    )
    return f"('x' || encode(substr(sha256({parts}), 1, 8), 'hex'))::bit(64)::bigint"


_EXCHANGE_TIME = "CASE WHEN ts_ns = ts_local_ns THEN NULL ELSE ts_ns END"


def postgres(timescale: bool) -> list[str]:
    """The same on TimescaleDB and plain PostgreSQL (a hypertable's key may change if it keeps ts_ns)."""
    return [
        "ALTER TABLE quotes ADD COLUMN IF NOT EXISTS ts_exchange_ns BIGINT",
        "ALTER TABLE quotes ADD COLUMN IF NOT EXISTS snapshot_id BIGINT",
        f"UPDATE quotes SET ts_exchange_ns = {_EXCHANGE_TIME}, snapshot_id = {snapshot_id_sql()} "
        "WHERE snapshot_id IS NULL",
        "DELETE FROM quotes a USING quotes b WHERE a.instrument_name = b.instrument_name AND a.ts_ns = b.ts_ns "
        "AND a.snapshot_id = b.snapshot_id AND a.seq > b.seq",
        "ALTER TABLE quotes ALTER COLUMN snapshot_id SET NOT NULL",
        "ALTER TABLE quotes DROP CONSTRAINT IF EXISTS quotes_pkey",
        "ALTER TABLE quotes ADD PRIMARY KEY (instrument_name, ts_ns, snapshot_id)",
    ]


def embedded() -> list[str]:
    """DuckDB cannot change a primary key: the table is rebuilt (in the migration's transaction)."""
    old = ", ".join(("instrument_name", "ts_ns", "seq", *_VALUES, "ts_local_ns"))
    return [
        create_table_sql("quotes", name="quotes_v5", columns=QUOTES_V5_COLUMNS),
        f"INSERT INTO quotes_v5 SELECT {old}, {_EXCHANGE_TIME}, {EMBEDDED_ID_FUNCTION}({', '.join(_VALUES)}) "
        "FROM quotes ORDER BY instrument_name, ts_ns, seq ON CONFLICT DO NOTHING",
        "DROP TABLE quotes",
        "ALTER TABLE quotes_v5 RENAME TO quotes",
    ]

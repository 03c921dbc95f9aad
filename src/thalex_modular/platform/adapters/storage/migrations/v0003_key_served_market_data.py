"""Migration 3: drop the BRIN indexes of ``trades`` and ``quotes`` (PostgreSQL, both layouts).

Every query of these tables names an instrument, so their key index (instrument_name, ts_ns, …) serves it; the
BRIN index was maintained on each inserted row (about 15 % of the append COPY's time, measured) for no query, and
on the freshly appended, not yet summarized pages it made the planner pick a scan of that whole tail. A time range
over all instruments still reads only the day partitions (native) or chunks (TimescaleDB) of the range. The
other time-series tables keep theirs. Nothing to do on the embedded store.
"""

from __future__ import annotations

from ..schema import PARTITIONED


def postgres(timescale: bool) -> list[str]:
    """The same on TimescaleDB and plain PostgreSQL: dropping a partitioned or hypertable index drops its parts."""
    return [f"DROP INDEX IF EXISTS {table}_ts_brin" for table in PARTITIONED]


def embedded() -> list[str]:
    return []

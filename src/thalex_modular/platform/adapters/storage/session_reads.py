"""Reads of a session's own records (orders, fills, position and equity snapshots) that both adapters share.

Each adapter supplies only ``_fetch`` (run one query, return row tuples). Records come back as the record Structs
(few rows, strings: not columnar), oldest first or newest first, at most ``limit`` of them: the API's "recent orders"
is ``newest_first=True, limit=50`` over an open range; an equity curve is the range oldest first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from thalex_modular.platform.domain.storage import (
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    Record,
    check_limit,
    check_range,
)

from . import schema

R = TypeVar("R", bound=Record)

#: Tie-breakers after ts_ns, so a read is deterministic (and a limit cuts the same rows every time).
_ORDER: Final = {
    "orders": ("ts_ns", "ts_local_ns", "order_id", "change_reason", "status"),
    "fills": ("ts_ns", "trade_id"),
    "positions": ("ts_ns",),
    "equity": ("ts_ns",),
}


def _select_list(table: str) -> str:
    """The table's columns in record order; a nullable float column reads NULL as NaN (DuckDB stores NaN as NULL)."""
    return ", ".join(
        f"coalesce({name}, {schema.NAN_SQL}) AS {name}" if sql_type == schema.NULLABLE_FLOAT else name
        for name, sql_type in schema.COLUMNS[table]
    )


def session_read_sql(table: str, newest_first: bool) -> str:
    """``$1`` source, then ``$2`` instrument (not for ``equity``), then start_ns, end_ns, limit (NULL: no limit)."""
    by_instrument = table != "equity"
    where = "source = $1 AND instrument_name = $2 AND ts_ns >= $3 AND ts_ns < $4" if by_instrument else (
        "source = $1 AND ts_ns >= $2 AND ts_ns < $3")
    direction = " DESC" if newest_first else ""
    order = ", ".join(column + direction for column in _ORDER[table])
    limit = "$5" if by_instrument else "$4"
    return f"SELECT {_select_list(table)} FROM {table} WHERE {where} ORDER BY {order} LIMIT {limit}"


_SQL: Final = {(table, newest): session_read_sql(table, newest) for table in _ORDER for newest in (False, True)}


class SessionReads(ABC):
    """``read_orders`` / ``read_fills`` / ``read_positions`` / ``read_equity`` over ``[start_ns, end_ns)``."""

    @abstractmethod
    async def _fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]: ...

    async def _records(
        self, where: str, table: str, make: Callable[..., R], keys: tuple[str, ...], start_ns: int, end_ns: int,
        limit: int | None, newest_first: bool,
    ) -> list[R]:
        check_range(where, start_ns, end_ns)
        check_limit(where, limit)
        rows = await self._fetch(_SQL[(table, bool(newest_first))], (*keys, start_ns, end_ns, limit))
        return [make(*row) for row in rows]

    async def read_orders(
        self, source: str, instrument_name: str, start_ns: int, end_ns: int, *, limit: int | None = None,
        newest_first: bool = False,
    ) -> list[OrderRecord]:
        """The order log (every update of our orders) of session ``source`` and one instrument with exchange time
        in [start_ns, end_ns), ordered by (ts_ns, ts_local_ns, order id, ...), or the reverse; at most ``limit``.

        Raises:
            InvalidValue: an inverted range or a limit that is not a positive int.
        """
        return await self._records("read_orders", "orders", OrderRecord, (source, instrument_name), start_ns,
                                   end_ns, limit, newest_first)

    async def read_fills(
        self, source: str, instrument_name: str, start_ns: int, end_ns: int, *, limit: int | None = None,
        newest_first: bool = False,
    ) -> list[FillRecord]:
        """Our fills (fee USD) of session ``source`` and one instrument, as :meth:`read_orders`."""
        return await self._records("read_fills", "fills", FillRecord, (source, instrument_name), start_ns, end_ns,
                                   limit, newest_first)

    async def read_positions(
        self, source: str, instrument_name: str, start_ns: int, end_ns: int, *, limit: int | None = None,
        newest_first: bool = False,
    ) -> list[PositionRecord]:
        """Position snapshots of session ``source`` and one instrument, as :meth:`read_orders` (NaN where a value was
        unknown)."""
        return await self._records("read_positions", "positions", PositionRecord, (source, instrument_name),
                                   start_ns, end_ns, limit, newest_first)

    async def read_equity(
        self, source: str, start_ns: int, end_ns: int, *, limit: int | None = None, newest_first: bool = False
    ) -> list[EquityRecord]:
        """Equity snapshots (USD) of ``source``, as :meth:`read_orders`."""
        return await self._records("read_equity", "equity", EquityRecord, (source,), start_ns, end_ns, limit,
                                   newest_first)

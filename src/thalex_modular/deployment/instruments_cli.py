"""``platform instruments [--network local|test|prod] [--kind perpetual|future|option]``: what the venue lists.

One public session (no login): ``public/instruments``, printed as a table of name, kind, tick size (USD), volume tick
and minimum order amount (in the underlying), expiry; ``--json`` prints the same as a JSON list.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from thalex_modular.platform.adapters.exchanges.thalex import ThalexConfig, ThalexError, ThalexSession
from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_instruments
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind

from .cli_errors import CliError, UsageError
from .data_record import DEFAULT_EMULATOR_URL, thalex_config
from .endpoints import EndpointUnreachable, probe
from .summary import add_json_flag, emit_summary

__all__ = ["register"]

KINDS = (InstrumentKind.PERPETUAL.value, InstrumentKind.FUTURE.value, InstrumentKind.OPTION.value)
_COLUMNS = ("name", "kind", "tick_size_usd", "volume_tick_size", "min_order_amount", "expiry_utc")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("instruments", help="list the venue's instruments with tick sizes and minimum sizes")
    parser.add_argument("--network", choices=["local", "test", "prod"], default="test",
                        help="local = the emulator at --emulator-url (default: test)")
    parser.add_argument("--emulator-url", default=None, help=f"emulator websocket URL (default {DEFAULT_EMULATOR_URL})")
    parser.add_argument("--kind", choices=KINDS, default=None, help="only this kind")
    add_json_flag(parser)
    parser.set_defaults(handler=run_instruments)


def run_instruments(args: argparse.Namespace) -> int:
    try:
        config = thalex_config(args.network, args.emulator_url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    instruments = asyncio.run(fetch_instruments(config))
    chosen = sorted((i for i in instruments if args.kind is None or i.kind.value == args.kind),
                    key=lambda i: (KINDS.index(i.kind.value) if i.kind.value in KINDS else 9, i.instrument_name))
    rows = [_row(i) for i in chosen]
    widths = [max([len(c), *(len(r[c]) for r in rows)]) for c in _COLUMNS]
    lines = ["  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True))]
    lines += ["  ".join(r[c].ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)) for r in rows]
    lines.append(f"{len(rows)} instruments on {config.url}")
    emit_summary(args, lines, {"url": config.url, "instruments": rows})
    return 0


async def fetch_instruments(config: ThalexConfig) -> list[Instrument]:
    """The venue's instruments (a public session, closed again).

    Raises:
        CliError: the venue cannot be reached or does not answer (URL and cause named).
    """
    try:
        await probe(config.url)
    except EndpointUnreachable as exc:
        raise CliError(str(exc)) from None
    session = ThalexSession(config, LiveClock())
    try:
        await session.start(timeout_s=config.connect_timeout_s)
        return decode_instruments(await session.call("public/instruments"))
    except (ThalexError, TimeoutError, OSError) as exc:
        raise CliError(f"{config.url}: public/instruments failed: {type(exc).__name__}: {exc or 'no answer'}"
                       ) from None
    finally:
        await session.stop()


def _row(i: Instrument) -> dict[str, str]:
    expiry = "" if i.expiry_ns is None else datetime.fromtimestamp(i.expiry_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%MZ")
    return {"name": i.instrument_name, "kind": i.kind.value, "tick_size_usd": f"{i.tick_size:.12g}",
            "volume_tick_size": f"{i.volume_tick_size:.12g}", "min_order_amount": f"{i.min_order_amount:.12g}",
            "expiry_utc": expiry}

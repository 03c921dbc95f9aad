"""Where a deployment's processes run: the API replica off the instruments' cores (docs/deployment.md, Placement).

``placement.api_cpus`` / ``placement.instrument_cpus`` (``platform deploy --api-cpus 1 --instrument-cpus 0``) pin
the API replica (its job registry too) and each instrument actor to those CPUs of their node, every thread of the
process (``sched_setaffinity`` per thread: on Linux it acts on one thread, and threads started later inherit their
creator's set). ``placement.api_resources`` (``--api-resource NAME``) makes the replica ask Ray for a custom
resource, so it only goes on a node started with it (``ray start --resources '{"NAME": 1}'``), e.g. a node of its
own. Empty: anywhere, as before.

CPU lists take the kernel's format (``0``, ``0-1``, ``0,2-3``) or a list of ints. They are checked against the CPUs
this process may run on (``sched_getaffinity``) where they are applied, and by ``deploy`` on its own machine before
anything starts: a CPU the machine lacks is an error naming the setting, the CPUs asked for and those there are.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["PlacementError", "PlacementSettings", "check_cpus", "cpu_list", "describe_cpus", "pin_process"]


#: The CPUs this process could run on when this module was imported (before any pinning here).
_AVAILABLE = frozenset(os.sched_getaffinity(0))


class PlacementError(ValueError):
    """A placement that cannot be applied here (the message names the setting and the CPUs)."""


def cpu_list(value: Any) -> tuple[int, ...]:
    """``"0,2-3"`` (the kernel's cpulist format), an int or a list of ints → sorted unique CPU numbers.

    Raises:
        ValueError: not a CPU list (what was wrong in it).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        items: Iterable[Any] = [value]
    elif isinstance(value, str):
        items = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            low, dash, high = part.partition("-")
            if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
                raise ValueError(f"not a CPU list: {value!r} (e.g. 1, 0-1, 0,2-3)")
            first, last = int(low), int(high) if dash else int(low)
            if last < first:
                raise ValueError(f"not a CPU list: {value!r} ({part} runs backwards)")
            items.extend(range(first, last + 1))
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ValueError(f"not a CPU list: {value!r} (e.g. 1, 0-1, 0,2-3)")
    cpus = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise ValueError(f"not a CPU number: {item!r}")
        cpus.add(item)
    return tuple(sorted(cpus))


CpuList = Annotated[tuple[int, ...], BeforeValidator(cpu_list)]


class PlacementSettings(BaseModel):
    """See the module docstring. ``api_cpus``: the API replica's CPUs; ``instrument_cpus``: every instrument actor's;
    ``api_resources``: Ray resources the API replica asks for (``{"api": 1}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_cpus: CpuList = ()
    instrument_cpus: CpuList = ()
    api_resources: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)


def describe_cpus(cpus: Iterable[int]) -> str:
    """``0-3,6`` (the kernel's format)."""
    ordered = sorted(cpus)
    runs: list[str] = []
    for cpu in ordered:
        if runs and cpu == int(runs[-1].split("-")[-1]) + 1:
            runs[-1] = f"{runs[-1].split('-')[0]}-{cpu}"
        else:
            runs.append(str(cpu))
    return ",".join(runs) or "none"


def check_cpus(cpus: Sequence[int], setting: str) -> None:
    """Raises: PlacementError: a CPU of ``cpus`` is not one this process may run on (the message names
    ``setting``)."""
    allowed = _AVAILABLE
    missing = sorted(set(cpus) - allowed)
    if missing:
        raise PlacementError(f"{setting}: CPU {describe_cpus(missing)} is not available on this machine "
                             f"(asked for {describe_cpus(cpus)}; it has {describe_cpus(allowed)})")


def pin_process(cpus: Sequence[int], setting: str) -> None:
    """Every thread of this process on ``cpus`` (nothing when empty).

    Raises:
        PlacementError: a CPU that is not available here (nothing changed).
    """
    if not cpus:
        return
    check_cpus(cpus, setting)
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        except OSError as exc:  # e.g. a cgroup cpuset narrower than the affinity mask
            raise PlacementError(f"{setting}: cannot run on CPU {describe_cpus(cpus)}: {exc}") from None


#: Instrument actors run at this niceness. Ray starts every worker at 15, the trading actors as well as backtests and
#: sweeps; the API and its jobs run at 19. Lowering a niceness needs CAP_SYS_NICE (or RLIMIT_NICE).
INSTRUMENT_NICENESS: Final = 0


def renice_process(niceness: int) -> str | None:
    """Every thread of this process at ``niceness`` (Linux counts it per thread; threads started later inherit it).
    Returns why it could not (no privilege to raise a priority), None when done."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), niceness)
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        except PermissionError as exc:
            return f"cannot set niceness {niceness} ({exc.strerror}); it stays at {os.getpriority(os.PRIO_PROCESS, 0)}"
    return None


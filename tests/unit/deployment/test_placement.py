"""Placement: CPU lists parsed and checked against the machine, and a process pinned thread by thread (in a child
process of its own, so this test process keeps its CPUs)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any

import pytest

from thalex_modular.deployment.config import ConfigError, load_run_config
from thalex_modular.deployment.placement import PlacementError, check_cpus, cpu_list, describe_cpus, pin_process


def test_cpu_lists_take_the_kernels_format_or_numbers_and_a_bad_one_says_what() -> None:
    assert cpu_list("0,2-3") == (0, 2, 3)
    assert cpu_list(" 1 ") == (1,)
    assert cpu_list([3, 1, 1]) == (1, 3)
    assert cpu_list(0) == (0,)
    assert describe_cpus([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    for bad, said in (("a", "not a CPU list: 'a'"), ("3-1", "runs backwards"), ("1-", "not a CPU list"),
                      (-1, "not a CPU number: -1"), ([True], "not a CPU number")):
        with pytest.raises(ValueError, match=said):
            cpu_list(bad)


def test_the_run_config_reads_placement_and_names_a_bad_field() -> None:
    config = load_run_config(None, {}, {"placement.api_cpus": "1", "placement.instrument_cpus": [0],
                                        "placement.api_resources": {"api": 1}})
    assert (config.placement.api_cpus, config.placement.instrument_cpus) == ((1,), (0,))
    assert config.placement.api_resources == {"api": 1.0}
    assert load_run_config(None, {}, {}).placement.api_cpus == ()
    with pytest.raises(ConfigError, match=r"placement\.instrument_cpus: .*not a CPU list: 'x'"):
        load_run_config(None, {}, {"placement.instrument_cpus": "x"})
    with pytest.raises(ConfigError, match=r"placement\.api_resources\.api"):
        load_run_config(None, {}, {"placement.api_resources": {"api": 0}})


def test_a_cpu_the_machine_lacks_is_an_error_naming_the_setting_and_the_cpus() -> None:
    there = describe_cpus(os.sched_getaffinity(0))
    with pytest.raises(PlacementError) as caught:
        check_cpus((0, 4095), "placement.api_cpus")
    assert str(caught.value) == (f"placement.api_cpus: CPU 4095 is not available on this machine (asked for 0,4095; "
                                 f"it has {there})")
    check_cpus(tuple(os.sched_getaffinity(0)), "placement.api_cpus")


def _pin_and_report(cpus: tuple[int, ...], out: Any) -> None:
    ready, done = threading.Event(), threading.Event()

    def before() -> None:  # a thread that exists before the pinning
        ready.set()
        done.wait()

    early = threading.Thread(target=before)
    early.start()
    ready.wait()
    pin_process(cpus, "placement.instrument_cpus")
    late: list[set[int]] = []
    later = threading.Thread(target=lambda: late.append(os.sched_getaffinity(0)))  # started after: inherits
    later.start()
    later.join()
    threads = {int(tid): sorted(os.sched_getaffinity(int(tid))) for tid in os.listdir("/proc/self/task")}
    done.set()
    early.join()
    out.put((threads, sorted(late[0])))


def test_pinning_a_process_pins_every_thread_it_has_and_those_it_starts_later() -> None:
    cpu = min(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_pin_and_report, args=((cpu,), out))
    child.start()
    threads, late = out.get(timeout=60)
    child.join(30)
    assert child.exitcode == 0
    assert len(threads) >= 2 and all(cpus == [cpu] for cpus in threads.values()), threads
    assert late == [cpu]
    with pytest.raises(PlacementError, match="CPU 4095"):
        pin_process((4095,), "placement.api_cpus")
    pin_process((), "placement.api_cpus")  # empty: nothing changes

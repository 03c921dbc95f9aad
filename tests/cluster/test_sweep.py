"""`platform sweep` on the session's two-node Ray cluster: trials run on both nodes; the best config written out
reproduces its trial in `platform backtest`; a sweep whose driver is killed resumes from its journal without
re-running finished trials; a trial whose worker is killed is retried and the study goes on.

History: a few thousand synthetic events in a temporary embedded store (trials of about a second)."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from thalex_modular.deployment import backtest_cli, sweep_cli
from thalex_modular.deployment.cli import main
from thalex_modular.deployment.db_target import resolve_store
from thalex_modular.platform.adapters.storage import EmbeddedStorage
from thalex_modular.platform.use_cases.backtest.source import HistoryRange
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, history_records, tick_history
from thalex_modular.sweeps.history import Window, share
from thalex_modular.sweeps.storage import open_storage

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
EVENTS = 3_000
INSTRUMENT = "BTC-PERPETUAL"
SPACE = Path(__file__).parents[2] / "examples" / "sweep_space.toml"
TRIAL_NAME = "ray::sweep_trial"


#: The kill tests' history: long enough that a trial runs for a while. The fast driver replays 3,000 events in a
#: few ms: a worker seen running a trial could finish it before the kill lands, and a whole study could end before
#: its driver is killed.
LONG_EVENTS = 200_000


def _history_store(path: Path, events_wanted: int) -> tuple[Path, int]:
    """An embedded store with ``events_wanted`` generated events; returns its path and the end of the range (s)."""
    events = np.concatenate(list(tick_history(TickHistoryConfig(seed=9, start_ns=START_S * 10**9), events_wanted)))

    async def load() -> None:
        storage = EmbeddedStorage(path)
        await storage.open()
        await storage.write(history_records(INSTRUMENT, events, 2_000_000))
        await storage.close()

    asyncio.run(load())
    return path, int(events["ts_ns"][-1]) // 10**9 + 1


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """An embedded store with the history; returns its path and the end of the range (s)."""
    return _history_store(tmp_path_factory.mktemp("sweep-store") / "store.duckdb", EVENTS)


@pytest.fixture(scope="module")
def long_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    return _history_store(tmp_path_factory.mktemp("sweep-long-store") / "store.duckdb", LONG_EVENTS)


def _parse(verb_module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="platform")
    verb_module.register(parser.add_subparsers(dest="verb", required=True))  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def _sweep_argv(store: tuple[Path, int], out: Path, trials: int, *extra: str) -> list[str]:
    path, end_s = store
    return ["sweep", "--instrument", INSTRUMENT, "--from", str(START_S), "--to", str(end_s), "--trials", str(trials),
            "--space", str(SPACE), "--db", f"duckdb://{path}", "--out", str(out), *extra]


def _sweep(argv: list[str]) -> str:
    args = _parse(sweep_cli, argv)
    out = io.StringIO()
    assert args.handler(args, out) == 0
    return out.getvalue()


def _study(journal: Path) -> optuna.Study:
    return optuna.load_study(study_name=f"sweep-{INSTRUMENT}", storage=open_storage(f"journal:{journal}"))


def test_a_sweep_runs_on_both_nodes_and_its_best_config_reproduces_in_backtest(
    ray_cluster: object, store: tuple[Path, int], tmp_path: Path,
) -> None:
    # Arrange
    journal = tmp_path / "study.journal"
    # Act: 6 trials, 4 at once over the two nodes' 4 CPUs
    printed = _sweep(_sweep_argv(store, tmp_path / "out", 6, "--parallel", "4", "--storage", f"journal:{journal}"))
    # Assert: both nodes ran trials; the walk-forward line and the outputs are there
    study = _study(journal)
    complete = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(complete) == 6
    assert len({t.user_attrs["node_id"] for t in complete}) == 2
    assert re.search(r"best trial \d+: pnl in-sample=\S+ out-of-sample=\S+", printed)
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Optimisation history" in report and "Parallel coordinates" in report and '<script src="http' not in report
    # Act: the best config in `platform backtest` over the training window
    best = study.best_trial
    header = (tmp_path / "out" / "best.toml").read_text().splitlines()[2]
    reproduce = header.split("reproduce: platform ")[1].split()
    reproduce[-1] = str(tmp_path / "out" / "best.toml")
    args = _parse(backtest_cli, [*reproduce, "--db", f"duckdb://{store[0]}"])
    backtest_out = io.StringIO()
    target = resolve_store(args.db, args.data_dir, must_exist=True)
    assert asyncio.run(backtest_cli._run(args, backtest_cli.build_config(args)[1], target, backtest_out)) == 0
    # Assert: the same run id (config, range, seed) and exactly the same figures
    text = backtest_out.getvalue()
    assert f"run_id={best.user_attrs['run_id']}" in text
    assert f"pnl_usd={best.user_attrs['metrics']['pnl_usd']:.2f}" in text.splitlines()[-1]
    assert best.user_attrs["metrics"]["pnl_usd"] == best.value
    # ... and the file is a run config `platform run` and `deploy` accept
    assert main(["config", "check", str(tmp_path / "out" / "best.toml")]) == 0


def test_history_is_shared_through_the_object_store_without_a_copy(ray_cluster: object) -> None:
    import ray

    chunks = list(tick_history(TickHistoryConfig(seed=2), 2_000, chunk_events=500))
    window = share(Window(HistoryRange(INSTRUMENT, chunks[0]["ts_ns"][0], chunks[-1]["ts_ns"][-1] + 1), chunks, None))

    @ray.remote(num_cpus=1)
    def inspect(received: list[np.ndarray]) -> list[tuple[bool, bool]]:
        return [(c.flags.writeable, c.flags.owndata) for c in received]

    # a chunk a task receives is a read-only view of the object store's buffer, not a copy of its own
    assert ray.get(inspect.remote(window.ref)) == [(False, False)] * len(chunks)


PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _finished(url: str, name: str) -> list[tuple[int, float]]:
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:  # the study is not created yet
        return []
    return [(t.number, t.value) for t in study.get_trials(states=(TrialState.COMPLETE,))]


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_a_killed_driver_resumes_from_its_storage_without_rerunning_finished_trials(
    ray_cluster: object, long_store: tuple[Path, int], tmp_path: Path, kind: str,
) -> None:
    # Arrange: a driver in its own process, on the session's cluster, with trials long enough to kill it mid-study
    url = f"journal:{tmp_path / 'study.journal'}" if kind == "journal" else PG_URL
    name = f"resume-{kind}-{os.getpid()}-{time.time_ns()}"
    argv = _sweep_argv(long_store, tmp_path / "out", 8, "--parallel", "2", "--no-prune", "--storage", url,
                       "--study-name", name)
    address = ray_cluster.address  # type: ignore[attr-defined]
    driver = subprocess.Popen([sys.executable, "-m", "thalex_modular", *argv, "--address", address],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Act: kill it once two trials are finished
        deadline = time.monotonic() + 90
        while len(_finished(url, name)) < 2 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert driver.poll() is None, "the driver ended before it was killed"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        before = _finished(url, name)
        assert 2 <= len(before) < 8
        printed = _sweep(argv)
        # Assert: the finished trials are kept as they were, and only the rest ran
        after = _finished(url, name)
        assert len(after) == 8
        assert set(before) <= set(after)
        assert f"ran {8 - len(before)} now ({len(before)} resumed)" in printed
    finally:
        if kind == "postgresql":
            optuna.delete_study(study_name=name, storage=open_storage(url))


def _trial_workers() -> list[int]:
    """PIDs of this machine's Ray workers now running a sweep trial, among this test process's descendants."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if not cmdline.startswith(TRIAL_NAME.encode()):
                continue
            pid = int(entry)
            while pid > 1:  # walk up the parents to this process
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if pid == me:
                    found.append(int(entry))
                    break
        except (OSError, ValueError):
            continue
    return found


def test_a_trial_whose_worker_is_killed_is_retried_and_the_study_goes_on(
    ray_cluster: object, long_store: tuple[Path, int], tmp_path: Path,
) -> None:
    # Arrange: trials long enough to be killed in the middle
    journal = tmp_path / "study.journal"
    argv = _sweep_argv(long_store, tmp_path / "out", 4, "--parallel", "2", "--no-prune", "--storage",
                       f"journal:{journal}")
    printed: list[str] = []
    sweep = threading.Thread(target=lambda: printed.append(_sweep(argv)))
    # Act: kill the first worker seen running a trial
    sweep.start()
    killed = None
    deadline = time.monotonic() + 90
    while killed is None and sweep.is_alive() and time.monotonic() < deadline:
        workers = _trial_workers()
        if workers:
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    sweep.join(timeout=180)
    # Assert: a worker was killed mid-trial, yet every trial completed (Ray re-ran the killed one)
    assert killed is not None, "no trial was seen running"
    assert printed, "the sweep did not finish"
    study = _study(journal)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert all(t.user_attrs["pid"] != killed for t in study.trials)


def test_two_objectives_give_a_pareto_front_validated_out_of_sample(
    ray_cluster: object, store: tuple[Path, int], tmp_path: Path,
) -> None:
    # Act: net PnL against max drawdown, the study in memory
    out = tmp_path / "out"
    printed = _sweep(_sweep_argv(store, out, 4, "--parallel", "4", "--objective", "pnl,drawdown"))
    # Assert: one line and one config per front trial, in-sample and out-of-sample side by side
    front = re.findall(r"best trial (\d+): pnl/drawdown in-sample=\S+ out-of-sample=(\S+)", printed)
    assert front and all(oos != "n/a" for _, oos in front)
    assert sorted(p.name for p in out.glob("*.toml")) == sorted(
        ["best.toml", *(f"pareto-{n}.toml" for n, _ in front[1:])])
    report = (out / "report.html").read_text()
    assert "Pareto front" in report and "drawdown out-of-sample" in report


def test_parameters_the_run_config_refuses_fail_their_trial_and_the_study_goes_on(
    ray_cluster: object, store: tuple[Path, int], tmp_path: Path,
) -> None:
    # Arrange: half of the gamma range is refused by the run config (gamma must be > 0)
    space = tmp_path / "space.toml"
    space.write_text('[params."strategy.gamma"]\ntype = "float"\nlow = -0.01\nhigh = 0.01\n')
    journal = tmp_path / "study.journal"
    argv = _sweep_argv(store, tmp_path / "out", 6, "--parallel", "4", "--storage", f"journal:{journal}")
    argv[argv.index("--space") + 1] = str(space)
    # Act
    _sweep(argv)
    # Assert: refused trials are FAILED with the reason, the others ran
    trials = _study(journal).trials
    failed = [t for t in trials if t.state is TrialState.FAIL]
    assert len(trials) == 6 and failed and len(failed) < 6
    assert all("strategy.gamma" in t.user_attrs["error"] for t in failed)
    assert all(t.params["strategy.gamma"] <= 0 for t in failed)

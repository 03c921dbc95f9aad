"""Sweep scaling: the same study (TPE with a fixed seed, no pruning, the same trials) on 1 worker, then on 2, on a
local Ray of 2 CPUs. Each trial is a backtest of about a second on a generated history shared through the object
store. Prints ``name=value``:

* ``sweep_trials_per_min_1``, ``sweep_trials_per_min_2``: finished trials per minute of wall time;
* ``sweep_speedup_2``: the second over the first (target >= 1.8);
* ``trial_overhead_ms``: on 1 worker, wall time per trial minus the backtest's own time inside the task (Ray
  scheduling, argument and result transfer, Optuna ask/tell); target <= 50;
* ``trial_backtest_s``, ``trial_backtest_s_2``: the mean backtest time of a trial on 1 and on 2 workers (equal when
  the machine has two free cores; larger on 2 workers when the cores are shared with other work).

Both start after a warm-up round, so each worker process has compiled its kernels; each is run ``--repeats``
times, alternated, and its fastest run kept (other load on a shared machine comes and goes).
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import optuna

from thalex_modular.platform.use_cases.backtest import HistoryRange, backtest_instrument
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, tick_history
from thalex_modular.sweeps.configs import TrialConfigs
from thalex_modular.sweeps.history import Window, share
from thalex_modular.sweeps.objectives import parse_objectives
from thalex_modular.sweeps.space import load_space
from thalex_modular.sweeps.study import SweepPlan, SweepProgress, run_sweep

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file written to ~/.ray by a benchmark

NAME = "BTC-PERPETUAL"
HISTORY = TickHistoryConfig(seed=17, start_ns=1_735_689_600 * 10**9)
FEED_NS = 2_000_000
SPACE = Path(__file__).parents[1] / "examples" / "sweep_space.toml"


def _study(seed: int) -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))


def _run(plan: SweepPlan, window: object, seed: int) -> SweepProgress:
    return run_sweep(_study(seed), plan, window).progress  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16, help="trials per run (default 16)")
    parser.add_argument("--events", type=int, default=10_000, help="events per trial's history (default 10000)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternated; the fastest kept")
    a = parser.parse_args()

    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    chunks = list(tick_history(HISTORY, a.events))
    end_ns = int(chunks[-1]["ts_ns"][-1]) + 1
    configs = TrialConfigs(None, NAME, backtest_instrument(NAME))
    plan = SweepPlan(load_space(SPACE), parse_objectives("pnl"), configs, a.trials, 1, a.seed, prune=False)
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
             log_to_driver=False)
    try:
        window = share(Window(HistoryRange(NAME, HISTORY.start_ns, end_ns), chunks, FEED_NS))
        _run(SweepPlan(plan.space, plan.objectives, configs, 4, 2, a.seed, prune=False), window, a.seed)  # warm-up
        plan_2 = SweepPlan(plan.space, plan.objectives, configs, a.trials, 2, a.seed, prune=False)
        runs_1, runs_2 = [], []
        for _ in range(a.repeats):  # alternated, the fastest of each kept: other load on the machine comes and goes
            runs_1.append(_run(plan, window, a.seed))
            runs_2.append(_run(plan_2, window, a.seed))
        one = min(runs_1, key=lambda p: p.wall_s)
        two = min(runs_2, key=lambda p: p.wall_s)
    finally:
        ray.shutdown()
    per_min_1 = one.done / one.wall_s * 60
    per_min_2 = two.done / two.wall_s * 60
    backtest_s = statistics.fmean(one.backtest_s)
    print(f"trial_backtest_s={backtest_s:.3f}")
    print(f"trial_backtest_s_2={statistics.fmean(two.backtest_s):.3f}")
    print(f"sweep_trials_per_min_1={per_min_1:.1f}")
    print(f"sweep_trials_per_min_2={per_min_2:.1f}")
    print(f"sweep_speedup_2={per_min_2 / per_min_1:.2f}")
    print(f"trial_overhead_ms={(one.wall_s / one.done - backtest_s) * 1000:.1f}")
    print(f"sweep_trials={a.trials} sweep_events_per_trial={a.events} "
          f"sweep_wall_s_1={[round(p.wall_s, 1) for p in runs_1]} "
          f"sweep_wall_s_2={[round(p.wall_s, 1) for p in runs_2]}")


if __name__ == "__main__":
    main()

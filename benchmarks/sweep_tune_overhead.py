"""Per-trial overhead of the two ways to run an Optuna study on Ray (docs/sweeps.md says which was chosen and why):
Optuna ask/tell over Ray tasks (what `platform sweep` does) and Ray Tune with its Optuna searcher.

Both run the same study (TPE, fixed seed) of ``--trials`` trials one at a time, each trial a fixed ``--trial-s``
sleep, so wall time per trial minus the sleep is the machinery's overhead. Prints ``name=value``:
``ask_tell_trial_overhead_ms``, ``tune_trial_overhead_ms`` (``unavailable`` without ``ray[tune]``, which the project
does not install: ``pip install "ray[tune]"`` to measure it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import optuna

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file written to ~/.ray by a benchmark


def _trial(x: float, sleep_s: float) -> float:
    time.sleep(sleep_s)
    return -((x - 0.3) ** 2)


def ask_tell(trials: int, sleep_s: float, seed: int) -> float:
    import ray

    task = ray.remote(_trial).options(num_cpus=1)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, ray.get(task.remote(trial.suggest_float("x", 0.0, 1.0), sleep_s)))
    return (time.perf_counter() - started) / trials - sleep_s


def tune(trials: int, sleep_s: float, seed: int) -> float | None:
    try:
        from ray import tune as ray_tune
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        return None

    def trainable(config: dict[str, Any]) -> dict[str, float]:
        return {"score": _trial(config["x"], sleep_s)}

    with tempfile.TemporaryDirectory() as tmp:
        tuner = ray_tune.Tuner(
            ray_tune.with_resources(trainable, {"cpu": 1}),
            param_space={"x": ray_tune.uniform(0.0, 1.0)},
            tune_config=ray_tune.TuneConfig(
                search_alg=OptunaSearch(metric="score", mode="max", seed=seed), num_samples=trials,
                max_concurrent_trials=1,
            ),
            run_config=ray_tune.RunConfig(storage_path=tmp, verbose=0),
        )
        started = time.perf_counter()
        tuner.fit()
        return (time.perf_counter() - started) / trials - sleep_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--trial-s", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=3)
    a = parser.parse_args()
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
             log_to_driver=False)
    try:
        ask_tell(2, 0.0, a.seed)  # warm the worker
        at = ask_tell(a.trials, a.trial_s, a.seed)
        tu = tune(a.trials, a.trial_s, a.seed)
    finally:
        ray.shutdown()
    print(f"ask_tell_trial_overhead_ms={at * 1000:.1f}")
    print(f"tune_trial_overhead_ms={'unavailable' if tu is None else f'{tu * 1000:.1f}'}")


if __name__ == "__main__":
    main()

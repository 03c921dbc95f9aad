"""A trial outside Ray: the same result as `run_backtest` when it runs to the end, and a stop at its first
intermediate result when Optuna's pruner finds it hopeless against the finished trials it was given."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    HistoryRange,
    backtest_instrument,
    run_backtest,
)
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, tick_history
from thalex_modular.sweeps.objectives import parse_objectives
from thalex_modular.sweeps.trial import PruneSpec, evaluate

HISTORY = TickHistoryConfig(seed=5)
FEED_NS = 2_000_000


def _config() -> tuple[BacktestConfig, list]:  # type: ignore[type-arg]
    chunks = list(tick_history(HISTORY, 3_000, chunk_events=700))
    end_ns = int(chunks[-1]["ts_ns"][-1]) + 1
    return BacktestConfig(backtest_instrument("BTC-PERPETUAL"),
                          HistoryRange("BTC-PERPETUAL", HISTORY.start_ns, end_ns)), chunks


def test_a_trial_run_to_its_end_is_the_backtest() -> None:
    config, chunks = _config()
    objectives = parse_objectives("pnl,drawdown")
    outcome = evaluate(config, chunks, 3, FEED_NS, objectives, steps=4)
    reference = run_backtest(config, chunks, seed=3, feed_latency_ns=FEED_NS)
    assert outcome.metrics == reference.metrics
    assert outcome.values == (reference.metrics.pnl_usd, reference.metrics.max_drawdown_usd)
    assert outcome.run_id == reference.run_id and not outcome.pruned
    assert [step for step, _ in outcome.intermediates] == [0, 1, 2]


def test_a_hopeless_trial_is_pruned_at_its_first_intermediate_result() -> None:
    config, chunks = _config()
    better = [
        create_trial(state=TrialState.COMPLETE, value=1e9, params={"x": 0.5},
                     distributions={"x": FloatDistribution(0, 1)}, intermediate_values={0: 1e9, 1: 1e9, 2: 1e9})
        for _ in range(5)
    ]
    prune = PruneSpec(optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
                      optuna.study.StudyDirection.MAXIMIZE, better)
    outcome = evaluate(config, chunks, 3, FEED_NS, parse_objectives("pnl"), steps=4, prune=prune)
    assert outcome.pruned and outcome.values is None
    assert len(outcome.intermediates) == 1

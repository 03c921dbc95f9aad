"""The API's schema for backtest and sweep jobs: what a client posts (checked field by field, a 422 naming the
field) and what it reads back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BacktestRequest", "Job", "SweepRequest"]

_TIME = ("UTC: an ISO 8601 date or date-time (2024-11-28, 2024-11-28T12:30:00Z) or Unix seconds; `to` is "
         "exclusive")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    instrument: str = Field(pattern=r"^(BTC|ETH)-[A-Z0-9]+$", max_length=64,
                            description="a BTC or ETH perpetual or future, e.g. BTC-PERPETUAL, BTC-27DEC24 (its "
                                        "history must be stored)")
    from_: str | int = Field(alias="from", description=f"start, {_TIME}")
    to: str | int = Field(description=f"end, {_TIME}")
    mode: Literal["tick", "bar"] = Field("tick", description="tick: stored quotes and trades; bar: 1m OHLCV")
    config: dict[str, Any] = Field(default_factory=dict, max_length=100,
                                   description="run config overrides by dotted name, e.g. {\"strategy.gamma\": 0.01}")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class BacktestRequest(_Request):
    """A backtest of stored history, as ``platform backtest`` runs it."""


class SweepRequest(_Request):
    """An Optuna sweep of backtests, as ``platform sweep`` runs it (walk-forward: the last ``oos_share`` of the range
    is held out and the best trial re-run on it)."""

    space: dict[str, Any] = Field(description="the search space, as the space file's contents: "
                                              "{\"params\": {\"strategy.gamma\": {\"type\": \"float\", \"low\": ..., "
                                              "\"high\": ...}}} (examples/sweep_space.toml)")
    trials: int = Field(ge=1, le=1_000)
    objective: str = Field("pnl", max_length=200,
                           description="pnl, sharpe, mqp, drawdown, inventory_std; comma-separated: a Pareto front")
    parallel: int | None = Field(None, ge=1, le=256, description="trials at once (default: the cluster's CPUs)")
    steps: int = Field(4, ge=1, le=50, description="intermediate results per trial, for pruning")
    prune: bool = True
    oos_share: float = Field(0.25, ge=0.0, lt=1.0)


class Job(BaseModel):
    """A backtest or sweep started through the API. ``progress`` runs from 0 to 1; ``detail`` holds what the job
    reported so far (a backtest: events replayed; a sweep: trials done, pruned, failed and the best so far);
    ``result`` the figures once done (a backtest: ``run_id``, ``metrics``, ``summary``; a sweep: the best trials with
    their in-sample and out-of-sample values and ``trial_niceness``; both: ``worker``, the niceness and CPUs the job
    ran at); ``report`` the HTML report's path once done; ``error`` why it failed (an interrupted job: its registry
    ended while it ran)."""

    id: str
    kind: Literal["backtest", "sweep"]
    state: Literal["queued", "running", "done", "failed"]
    request: dict[str, Any]
    created_ns: int
    finished_ns: int | None = None
    progress: float = Field(ge=0.0, le=1.0)
    detail: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    report: str | None = None

"""The search space of a sweep: which run-config keys a trial varies, and over what.

A space file (TOML, YAML or JSON; chosen by extension) holds one table per parameter under ``params``, keyed by the
run config's dotted name (the same names as ``platform run --config``)::

    [params."strategy.gamma"]
    type = "float"            # float | int | categorical
    low = 0.0005
    high = 0.02
    log = true                # optional: sample on a log scale
    # step = 0.001            # optional (float/int): a grid

    [params."strategy.model"]
    type = "categorical"
    choices = ["avellaneda_stoikov", "glft"]

``examples/sweep_space.toml`` is a documented example (docs/sweeps.md).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from thalex_modular.deployment.config import RunConfig

__all__ = ["SearchSpace", "SpaceError", "load_space", "space_of"]

KINDS: Final = ("float", "int", "categorical")


class SpaceError(ValueError):
    """A search space file that cannot be used; the message names the file and the parameter."""


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """Dotted run-config key -> Optuna distribution."""

    distributions: Mapping[str, BaseDistribution]

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """One point of the space, sampled by the study's sampler (``trial.params`` afterwards)."""
        return {name: _suggest(trial, name, dist) for name, dist in self.distributions.items()}


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    assert isinstance(dist, CategoricalDistribution)
    return trial.suggest_categorical(name, dist.choices)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpaceError(f"cannot read the space file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            import yaml  # type: ignore[import-untyped]

            data = yaml.safe_load(text)
            return data if isinstance(data, dict) else {}
        if path.suffix == ".json":
            data = json.loads(text)
            return data if isinstance(data, dict) else {}
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise SpaceError(f"the space file {path} does not parse: {exc}") from None
    raise SpaceError(f"the space file {path}: unknown format {path.suffix!r} (use .toml, .yaml, .yml or .json)")


def _distribution(where: str, spec: Any) -> BaseDistribution:
    if not isinstance(spec, dict):
        raise SpaceError(f"{where}: expected a table with `type`, was {spec!r}")
    kind = spec.get("type")
    if kind not in KINDS:
        raise SpaceError(f"{where}: `type` must be one of {list(KINDS)}, was {kind!r}")
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log", "step"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise SpaceError(f"{where}: unknown keys {unknown} for type {kind!r} (allowed: {sorted(allowed)})")
    try:
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise SpaceError(f"{where}: `choices` must be a non-empty list, was {choices!r}")
            return CategoricalDistribution(choices)
        if "low" not in spec or "high" not in spec:
            raise SpaceError(f"{where}: {kind} needs `low` and `high`")
        if kind == "int":
            return IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                                   step=int(spec.get("step", 1)))
        step = spec.get("step")
        return FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                                 step=None if step is None else float(step))
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SpaceError):
            raise
        raise SpaceError(f"{where}: {exc}") from None


def _check_key(where: str, key: str) -> None:
    section, _, field = key.partition(".")
    model = RunConfig.model_fields.get(section)
    if model is None:
        raise SpaceError(f"{where}: {section!r} is no run-config key (known: {sorted(RunConfig.model_fields)})")
    sub = model.annotation
    fields = getattr(sub, "model_fields", None)
    if field and (fields is None or field not in fields):
        known = sorted(fields) if fields else []
        raise SpaceError(f"{where}: {key!r} is no run-config key (the [{section}] keys: {known})")


def load_space(path: Path) -> SearchSpace:
    """The space of ``path``.

    Raises:
        SpaceError: unreadable file, unknown key, bad distribution (naming the file and the parameter).
    """
    return space_of(_read(path), str(path))


def space_of(data: dict[str, Any], source: str) -> SearchSpace:
    """The space of a space file's parsed contents (``{"params": {...}}``); ``source`` names it in errors.

    Raises:
        SpaceError: unknown key, bad distribution (naming ``source`` and the parameter).
    """
    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise SpaceError(f"the space file {source} has no [params] tables (see examples/sweep_space.toml)")
    out: dict[str, BaseDistribution] = {}
    for key, spec in params.items():
        where = f"{source}: params.{key}"
        _check_key(where, key)
        out[key] = _distribution(where, spec)
    return SearchSpace(out)

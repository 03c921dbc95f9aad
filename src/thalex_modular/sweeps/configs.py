"""A trial's configuration: the base run config with the trial's parameters on top; and the best one written out
as a TOML run config that ``platform run``, ``deploy`` and ``backtest`` read (``--config FILE``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thalex_modular.deployment.config import (
    RunConfig,
    _merge as merge_tables,  # the loader's own layering
    load_run_config,
    read_config_file,
)
from thalex_modular.deployment.core_settings import core_parameters, sim_match_config
from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.use_cases.backtest.config import BacktestConfig
from thalex_modular.platform.use_cases.backtest.source import NANOS_PER_SECOND, HistoryRange, Mode

__all__ = ["TrialConfigs", "nested", "write_toml"]


def nested(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"strategy.gamma": 0.01}`` -> ``{"strategy": {"gamma": 0.01}}``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


@dataclass(frozen=True, slots=True)
class TrialConfigs:
    """Builds every trial's configs from the same base: defaults <- ``base_path`` <- ``THALEX_*`` env <- the
    instrument <- the trial's parameters (the layers of ``platform backtest --config``)."""

    base_path: Path | None
    instrument_name: str
    instrument: Instrument
    mode: Mode = "tick"

    def run_config(self, params: Mapping[str, Any]) -> RunConfig:
        """Raises: ConfigError: the parameters make an invalid config (the message names the field)."""
        return load_run_config(self.base_path, os.environ, {"instrument": self.instrument_name, **params})

    def backtest(self, params: Mapping[str, Any], start_ns: int, end_ns: int) -> BacktestConfig:
        """The backtest of ``params`` over ``[start_ns, end_ns)``, as ``platform backtest`` builds it."""
        rc = self.run_config(params)
        history = HistoryRange(rc.instrument, start_ns, end_ns, self.mode, rc.backtest.chunk_s * NANOS_PER_SECOND,
                               rc.backtest.bar_volume_share)
        return BacktestConfig(self.instrument, history, core_parameters(rc), sim_match_config(rc.shadow))

    def file_data(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The base file's tables with the instrument and ``params`` on top (what the written config holds)."""
        base = read_config_file(self.base_path) if self.base_path is not None else {}
        return merge_tables(base, nested({"instrument": self.instrument_name, **params}))


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: TOML has no {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise ValueError(f"{where}: cannot write a {type(value).__name__} to TOML")


def _toml_lines(data: Mapping[str, Any], prefix: str) -> list[str]:
    lines = [f"{k} = {_toml_value(v, prefix + k)}" for k, v in data.items()
             if v is not None and not isinstance(v, Mapping)]
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{prefix}{key}]", *_toml_lines(value, f"{prefix}{key}.")]
    return lines


def write_toml(data: Mapping[str, Any], path: Path, header: str = "") -> None:
    """``data`` (nested tables of scalars and lists) as a TOML file; ``header`` as leading comment lines."""
    comments = [f"# {line}" if line else "#" for line in header.splitlines()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*comments, *_toml_lines(data, "")]).lstrip("\n") + "\n")

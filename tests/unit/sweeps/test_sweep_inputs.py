"""The sweep's inputs and outputs without Ray: the space file, the objectives, the storage URL, the written TOML
config (read back by the run config loader), the replay's slicing, and `platform sweep`'s usage errors (exit 2)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import optuna
import pytest

from thalex_modular.deployment.cli import main
from thalex_modular.deployment.config import load_run_config
from thalex_modular.platform.use_cases.backtest import backtest_instrument
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, tick_history
from thalex_modular.sweeps.configs import TrialConfigs, write_toml
from thalex_modular.sweeps.objectives import parse_objectives
from thalex_modular.sweeps.space import SpaceError, load_space
from thalex_modular.sweeps.storage import StorageUrlError, open_storage
from thalex_modular.sweeps.trial import slices
from thalex_modular.sweeps.walk_forward import split_ns

EXAMPLE = Path(__file__).parents[3] / "examples" / "sweep_space.toml"


def test_the_example_space_loads_and_samples_inside_its_bounds() -> None:
    space = load_space(EXAMPLE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        params = space.suggest(study.ask())
        assert 0.0005 <= params["strategy.gamma"] <= 0.05
        assert params["strategy.model"] in ("avellaneda_stoikov", "glft")
        assert isinstance(params["strategy.min_spread_ticks"], int)
        assert params["strategy.min_edge_bps"] * 2 == round(params["strategy.min_edge_bps"] * 2)


@pytest.mark.parametrize(("text", "message"), [
    ('[params."strategy.gama"]\ntype = "float"\nlow = 0\nhigh = 1\n', "'strategy.gama' is no run-config key"),
    ('[params."strategy.gamma"]\ntype = "normal"\n', "`type` must be one of"),
    ('[params."strategy.gamma"]\ntype = "float"\nlow = 1\n', "needs `low` and `high`"),
    ('[params."strategy.gamma"]\ntype = "float"\nlow = 2\nhigh = 1\n', "params.strategy.gamma"),
    ('[params."strategy.model"]\ntype = "categorical"\nchoices = []\n', "non-empty list"),
    ("title = 'x'\n", "has no [params] tables"),
])
def test_a_bad_space_file_is_refused_naming_the_file_and_the_parameter(tmp_path: Path, text: str,
                                                                        message: str) -> None:
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        load_space(path)
    assert str(path) in str(info.value)


def test_objectives_parse_with_their_directions_and_nan_is_never_best() -> None:
    pnl, drawdown = parse_objectives("pnl, drawdown")
    assert (pnl.direction, drawdown.direction) == ("maximize", "minimize")
    with pytest.raises(ValueError, match="unknown objective 'pnl_usd'"):
        parse_objectives("pnl_usd")
    with pytest.raises(ValueError, match="named twice"):
        parse_objectives("pnl,pnl")

    class Nan:
        pnl_usd = math.nan
        max_drawdown_usd = math.nan

    assert pnl.value(Nan()) == -math.inf  # type: ignore[arg-type]
    assert drawdown.value(Nan()) == math.inf  # type: ignore[arg-type]


def test_storage_urls(tmp_path: Path) -> None:
    assert isinstance(open_storage(None), optuna.storages.InMemoryStorage)
    assert isinstance(open_storage(f"journal:{tmp_path / 's.journal'}"), optuna.storages.JournalStorage)
    assert isinstance(open_storage(str(tmp_path / "s.log")), optuna.storages.JournalStorage)
    assert isinstance(open_storage(f"sqlite:///{tmp_path / 's.db'}"), optuna.storages.RDBStorage)
    with pytest.raises(StorageUrlError, match="expected journal:PATH"):
        open_storage("mysql://u:secret@h/db")
    with pytest.raises(StorageUrlError, match="does not exist"):
        open_storage(f"journal:{tmp_path / 'missing' / 's.journal'}")


def test_a_study_in_postgresql_persists_across_storages() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    name = f"sweep-test-{np.random.default_rng().integers(1 << 40)}"
    study = optuna.create_study(storage=open_storage(url), study_name=name)
    try:
        study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 1.5)
        again = optuna.load_study(study_name=name, storage=open_storage(url))
        assert [t.value for t in again.trials] == [1.5]
    finally:
        optuna.delete_study(study_name=name, storage=open_storage(url))


def test_the_written_config_is_a_run_config_with_the_trial_parameters(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("THALEX_")]:  # e.g. the cluster tests' login key
        monkeypatch.delenv(name)
    base = tmp_path / "base.toml"
    base.write_text('mode = "shadow"\n[strategy]\ngamma = 0.01\nlevel_amounts_underlying = [0.01, 0.02]\n'
                    '[shadow]\nmaker_fee_bps = 0.5\n')
    configs = TrialConfigs(base, "BTC-PERPETUAL", backtest_instrument("BTC-PERPETUAL"))
    params = {"strategy.gamma": 0.0031, "strategy.model": "glft", "strategy.min_spread_ticks": 6}
    out = tmp_path / "best.toml"
    write_toml(configs.file_data(params), out, "a header\nsecond line")
    loaded = load_run_config(out)
    assert out.read_text().startswith("# a header\n# second line\n")
    assert loaded.strategy.gamma == 0.0031 and loaded.strategy.model == "glft"
    assert loaded.strategy.min_spread_ticks == 6 and loaded.strategy.level_amounts_underlying == (0.01, 0.02)
    assert loaded.shadow.maker_fee_bps == 0.5
    assert loaded == configs.run_config(params)


def test_slices_cut_the_history_into_equal_runs_without_copies() -> None:
    chunks = list(tick_history(TickHistoryConfig(seed=1), 1_000, chunk_events=300))
    parts = list(slices(chunks, 4))
    assert [sum(len(c) for c in p) for p in parts] == [250, 250, 250, 250]
    joined = np.concatenate([c for p in parts for c in p])
    assert joined.tobytes() == np.concatenate(chunks).tobytes()
    assert all(any(np.shares_memory(c, whole) for whole in chunks) for p in parts for c in p)


def test_the_out_of_sample_window_is_the_last_share() -> None:
    assert split_ns(0, 1_000, 0.25) == 750
    assert split_ns(0, 1_000, 0.0) == 1_000
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        split_ns(0, 1_000, 1.0)


@pytest.mark.parametrize(("extra", "message"), [
    (["--trials", "0"], "invalid `--trials`"),
    (["--objective", "profit"], "unknown objective 'profit'"),
    (["--storage", "redis://h"], "invalid `--storage`"),
    (["--oos-share", "1.5"], "invalid `--oos-share`"),
    (["--space", "/nonexistent/space.toml"], "cannot read the space file"),
    (["--to", "2025-01-01"], "invalid `--to`"),
])
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], extra: list[str],
                                          message: str) -> None:
    argv = ["sweep", "--instrument", "BTC-PERPETUAL", "--from", "2025-01-01", "--to", "2025-01-02", "--trials", "3",
            "--space", str(EXAMPLE), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

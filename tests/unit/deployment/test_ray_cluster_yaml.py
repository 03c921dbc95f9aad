"""ray_cluster.yaml: Ray's own offline validation of a cluster config, and the package installs from what it mounts."""

from __future__ import annotations

import copy
import json
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import ray
import yaml  # type: ignore[import-untyped]
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "ray_cluster.yaml"


def load() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return config


def install_command(config: dict[str, Any]) -> list[str]:
    """The setup command that installs this package (``pip install ... -e PATH ...``)."""
    commands = [shlex.split(c) for c in config["setup_commands"] if "pip install" in c and " -e " in c]
    assert len(commands) == 1, config["setup_commands"]
    return commands[0]


def test_ray_validates_the_cluster_config() -> None:
    # Arrange
    config = load()

    # Act: what `ray up` does to a config before it launches anything (defaults filled in, then the schema)
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)

    # Assert: a head type and autoscaling worker types; the head starts Ray with the dashboard and the autoscaler
    types = prepared["available_node_types"]
    head = prepared["head_node_type"]
    workers = {name: t for name, t in types.items() if name != head}
    assert head in types and len(workers) >= 2
    assert all(t["min_workers"] < t["max_workers"] for t in workers.values())
    start = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in start and "--include-dashboard=true" in start
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in start
    assert "--address=$RAY_HEAD_IP" in " ".join(config["worker_start_ray_commands"])


def test_every_mounted_path_exists_in_the_repository() -> None:
    mounts = load()["file_mounts"]
    assert mounts
    for remote, local in mounts.items():
        assert (ROOT / local).exists(), f"{remote}: {local} is not in the repository"


def test_the_package_installs_from_the_paths_the_config_mounts(tmp_path: Path) -> None:
    # Arrange: a node's home as `ray up` leaves it: each mount copied to its remote path
    config = load()
    home = tmp_path / "home"
    for remote, local in config["file_mounts"].items():
        target = home / remote.removeprefix("~/")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ROOT / local
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target)
    command = install_command(config)
    package = command[command.index("-e") + 1]
    assert package.startswith("~/")

    tree = home / package.removeprefix("~/")
    pip = [sys.executable, "-m", "pip", "--quiet"]

    # Act: what the setup command installs, resolved by pip from that tree (metadata built, nothing installed), and
    # the wheel of the same tree (are the sources there?)
    report = tmp_path / "report.json"
    resolved = subprocess.run(
        [*pip, "install", "--dry-run", "--no-deps", "--no-build-isolation", "--report", str(report), "-e", str(tree)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheels"), str(tree)],
        capture_output=True, text=True, timeout=60, check=False,
    )

    # Assert: this package at the version of the repository's pyproject, its README as the description, and the
    # module behind the `platform` command in the wheel
    assert resolved.returncode == 0, resolved.stderr
    assert built.returncode == 0, built.stderr
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    metadata = [item["metadata"] for item in json.loads(report.read_text())["install"]]
    assert [(m["name"], m["version"]) for m in metadata] == [(project["name"], project["version"])]
    assert metadata[0]["description"] == (ROOT / "README.md").read_text()
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    module = project["scripts"]["platform"].split(":")[0]
    assert module.replace(".", "/") + ".py" in names


def test_the_cluster_runs_the_ray_version_of_this_checkout() -> None:
    # the launcher, the head and the workers must run one Ray version: the pin equals the Ray these tests ran on
    pins = [arg for arg in install_command(load()) if arg.startswith("ray[")]
    assert pins == [f"ray[serve]=={ray.__version__}"]

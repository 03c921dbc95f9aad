"""`platform deploy / status / stop` as a user runs them, in subprocesses: every bad input a clear error with exit
code 2 and nothing started. A deployment that starts, answers `status` and is stopped with nothing of ours left
running is test_run_script's (it deploys through scripts/run.sh, as the README says)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from exchange_kit import EmulatorFactory


async def platform(*args: str, state_dir: Path, env: dict[str, str] | None = None,
                   timeout_s: float = 180.0) -> tuple[int, str, str]:
    """Run ``platform ARGS`` like a user (a subprocess; this test's event loop keeps serving meanwhile)."""
    environment = {**os.environ, "THALEX_STATE_DIR": str(state_dir), **(env or {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "thalex_modular", *args, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _processes_with(text: str, environment: str | None = None) -> list[int]:
    """PIDs whose command line contains ``text`` (and, if given, whose environment holds ``environment``: the other
    clusters on a shared machine are not ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text not in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    continue
                if environment is not None and environment.encode() not in (entry / "environ").read_bytes().split(
                        b"\0"):
                    continue
                found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_bad_input_is_a_clear_error_exit_2_with_nothing_started(
    tmp_path: Path, start_emulator: EmulatorFactory
) -> None:
    server = await start_emulator()
    base = ("deploy", "--mode", "shadow", "--network", "local", "--emulator-url", server.url, "--no-dashboard")
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[risk]\nmax_position_underlying = -1\n")
    no_credentials = {"THALEX_KEY_ID": "", "THALEX_PRIVATE_KEY_PATH": ""}
    cases = [
        # first, as it takes longest (it starts a Ray head): a store that refuses the Persistence actor fails the
        # deploy, which removes what it started
        ((*base, "--instruments", "BTC-PERPETUAL", "--db", "postgresql://127.0.0.1:5432/no_such_database_here"), {},
         "no_such_database_here"),
        ((*base, "--instruments", "BTC-PERPETUAL,BTC-NOPE"), {}, "BTC-NOPE"),
        ((*base, "--instruments", "BTC-PERPETUAL", "--address", "127.0.0.1:1"), {}, "127.0.0.1:1"),
        ((*base, "--instruments", "BTC-PERPETUAL", "--config", str(bad_config)), {}, "risk.max_position_underlying"),
        ((*base, "--instruments", "BTC-PERPETUAL,BTC-PERPETUAL"), {}, "more than once"),
        # placement: CPUs this machine lacks, or not a CPU list
        ((*base, "--instruments", "BTC-PERPETUAL", "--api-cpus", "4095"), {},
         "placement.api_cpus (--api-cpus): CPU 4095 is not available on this machine"),
        ((*base, "--instruments", "BTC-PERPETUAL", "--instrument-cpus", "0-x"), {},
         "placement.instrument_cpus: Value error, not a CPU list: '0-x'"),
        (("deploy", "--mode", "live", "--network", "local", "--emulator-url", server.url, "--instruments",
          "BTC-PERPETUAL"), no_credentials, "THALEX_KEY_ID"),
        # a password never travels to a cluster as an argument, nor is it shown
        ((*base, "--instruments", "BTC-PERPETUAL", "--address", "127.0.0.1:1", "--db",
          "postgresql://me:s3cret@127.0.0.1:5432/test"), {}, "THALEX_DB_DSN"),
        (("stop",), {}, "no deployment is running"),
        (("status",), {}, "no deployment is running"),
    ]
    # the cases are independent (each its own state directory), so three run at a time: the long one waits on a Ray
    # head while the others run; more at once only share the two cores. What a case left behind is still there when
    # they have all ended
    state_dirs = [tmp_path / f"case{i}" for i in range(len(cases))]
    running = asyncio.Semaphore(3)

    async def run(args: tuple[str, ...], env: dict[str, str], state_dir: Path) -> tuple[int, str, str]:
        state_dir.mkdir()
        async with running:
            return await platform(*args, state_dir=state_dir, env=env)

    results = await asyncio.gather(*(run(args, env, state_dir)
                                     for (args, env, _), state_dir in zip(cases, state_dirs, strict=True)))
    for (args, _, needle), (code, _, err), state_dir in zip(cases, results, state_dirs, strict=True):
        assert code == 2, (args, err)
        assert needle in err, (args, err)
        assert "Traceback" not in err and "s3cret" not in err
        assert not (state_dir / "deployment.json").exists(), args
    # no Ray head that one of the cases started (each started with its state directory in its environment)
    for state_dir in state_dirs:
        assert _processes_with("ray start --head", f"THALEX_STATE_DIR={state_dir}") == [], state_dir

"""Running `platform` as a user runs it: a subprocess of the worktree's console script, its exit code and output.

Every run gets its own data directory (``XDG_DATA_HOME`` in the test's tmp_path) and no ``THALEX_*`` variables, so
"nothing was stored or created" can be checked by listing folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PLATFORM = Path(sys.executable).parent / "platform"
UNREACHABLE_URL = "ws://127.0.0.1:1/ws/api/v2"


@dataclass
class Cli:
    """Runs ``platform`` in ``cwd`` with ``XDG_DATA_HOME`` = ``data_home``."""

    cwd: Path
    data_home: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THALEX_")}
        env["XDG_DATA_HOME"] = str(self.data_home)
        env["COLUMNS"] = "200"  # argparse wraps its messages at the terminal width
        return env | (extra or {})

    def __call__(self, *argv: str, env: dict[str, str] | None = None, timeout_s: float = 60.0
                 ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PLATFORM), *argv], cwd=self.cwd, env=self.env(env), capture_output=True,
                              text=True, timeout=timeout_s)

    @property
    def default_data_dir(self) -> Path:
        return self.data_home / "thalex-modular"


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr

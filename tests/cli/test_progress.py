"""Issue 19 item 11: one progress library (tqdm) for every long job: on a terminal a redrawn line with the rate (and
ETA when the total is known); without one no redraws, one final line with count, time and rate."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from cli_kit import PLATFORM, Cli

ROWS = "".join(f"deribit,BTC-PERPETUAL,{1_700_000_000_000_000 + i},{1_700_000_000_000_000 + i},t{i},buy,1.5,0.1\n"
               for i in range(2000))


def trades(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n" + ROWS)
    return path


def test_without_a_terminal_one_final_line(cli: Cli, tmp_path: Path) -> None:
    result = cli("data", "import", "--kind", "trades", str(trades(tmp_path)), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 0
    assert "\r" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("import trades:")]
    assert line.startswith("import trades: 2,000 rows in ") and line.endswith(" rows/s)")


def test_on_a_terminal_a_tqdm_bar_with_the_rate(cli: Cli, tmp_path: Path) -> None:
    # Arrange: stderr is a pseudo-terminal of 120 columns
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    # Act
    proc = subprocess.run([str(PLATFORM), "data", "import", "--kind", "trades", str(trades(tmp_path)), "--data-dir",
                           str(tmp_path / "d")], stderr=slave, stdout=subprocess.PIPE, text=True, env=cli.env(),
                          timeout=60)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal is closed once read to its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    # Assert: tqdm's line (label, count, rate) and no final plain line
    text = drawn.decode()
    assert proc.returncode == 0
    assert "import trades: 2000 rows" in text and "rows/s]" in text and "\r" in text
    assert "rows in " not in text

import os
import sys
from pathlib import Path

# tests.stubs importable as `stubs` from every test directory
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

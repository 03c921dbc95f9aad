import sys
from pathlib import Path

# sim_harness importable from the tests in this directory
sys.path.insert(0, str(Path(__file__).parent))

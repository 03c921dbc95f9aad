import sys
from pathlib import Path

# tracking_factories importable from the tests of this directory
sys.path.insert(0, str(Path(__file__).parent))

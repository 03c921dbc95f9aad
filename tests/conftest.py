import os
import sys
from pathlib import Path

from hypothesis import settings

# tests.stubs importable as `stubs` from every test directory
sys.path.insert(0, str(Path(__file__).parent))
# Ray (RAY_NOTES): no usage stats, no token auth, and everything on loopback; set before anything imports ray
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# every call of a kernel's dispatch-free entry checks its argument types (production skips the check)
os.environ.setdefault("THALEX_CHECK_KERNEL_TYPES", "1")

# CI runs the same hypothesis examples every time (a gate must not flip on a new random draw); local runs
# keep exploring new examples, and a failure found there is what a new regression test is made of.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

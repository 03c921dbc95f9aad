"""Thalex Modular: market making on Thalex (live, shadow, backtest)."""

from thalex_modular.kernel_cache import use_kernel_cache_dir

use_kernel_cache_dir()

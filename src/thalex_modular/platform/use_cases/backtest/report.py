"""The HTML report of a backtest: figures table and plots (equity, inventory, quotes vs mid, fills, markouts).

plotly with its JavaScript inlined (``include_plotlyjs=True``): one self-contained file that opens offline.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .result import BacktestResult

#: Most points drawn per line (the samples are thinned evenly beyond this; the figures use every sample).
MAX_PLOT_POINTS = 20_000


def _thin(table: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    step = max(1, math.ceil(len(table) / MAX_PLOT_POINTS))
    return table[::step]


def _times(ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    return ts_ns.astype("datetime64[ns]")


def build_figure(result: BacktestResult) -> go.Figure:
    """Five stacked panels sharing the time axis (the last, markouts, has the horizon as its axis)."""
    s = _thin(result.samples)
    f = result.fills
    fig = make_subplots(
        rows=5, cols=1, vertical_spacing=0.05,
        subplot_titles=("Equity (USD, net of fees)", "Inventory (underlying)", "Our quotes vs mid (USD)",
                        "Fills (USD)", "Markouts (bps of fill price, amount-weighted)"),
        row_heights=[0.22, 0.16, 0.26, 0.2, 0.16],
    )
    t = _times(s["ts_ns"])
    fig.add_trace(go.Scattergl(x=t, y=s["equity_usd"], name="equity", line={"width": 1}), row=1, col=1)
    fig.add_trace(go.Scattergl(x=t, y=s["position"], name="inventory", line={"width": 1}), row=2, col=1)
    fig.add_trace(go.Scattergl(x=t, y=s["mid"], name="mid", line={"width": 1, "color": "#444"}), row=3, col=1)
    fig.add_trace(go.Scattergl(x=t, y=s["bid_price"], name="our bid", line={"width": 1, "color": "#2a7"}),
                  row=3, col=1)
    fig.add_trace(go.Scattergl(x=t, y=s["ask_price"], name="our ask", line={"width": 1, "color": "#c33"}),
                  row=3, col=1)
    for side, name, color in ((1, "bought", "#2a7"), (-1, "sold", "#c33")):
        mine = _thin(f[f["side"] == side])
        fig.add_trace(go.Scattergl(
            x=_times(mine["ts_ns"]), y=mine["price"], mode="markers", name=name,
            marker={"size": 4, "color": color}, text=[f"{a:g}" for a in mine["amount"]],
        ), row=4, col=1)
    m = result.metrics
    horizons = ["1 s", "10 s", "60 s"]
    values = [m.markout_1s_bps, m.markout_10s_bps, m.markout_60s_bps]
    fig.add_trace(go.Bar(x=horizons, y=[v if math.isfinite(v) else None for v in values], name="markout"),
                  row=5, col=1)
    fig.update_layout(height=1400, title=f"Backtest {result.run_id}", showlegend=True, template="plotly_white")
    return fig


def _metrics_table(result: BacktestResult) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{'n/a' if not math.isfinite(v) else f'{v:,.6g}'}</td></tr>"
        for k, v in result.metrics.as_dict().items()
    )
    return f"<table>{rows}</table>"


def write_report(result: BacktestResult, path: Path) -> None:
    """Write the report to ``path`` (one HTML file, no network needed to open it)."""
    plot = build_figure(result).to_html(full_html=False, include_plotlyjs=True)
    config = html.escape(str(result.config))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Backtest {html.escape(result.run_id)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:2px 8px}td:last-child{text-align:right}</style></head><body>"
        f"<h1>Backtest {html.escape(result.run_id)}</h1><p>seed {result.seed}; {html.escape(result.summary_line())}"
        f"</p><details><summary>config</summary><pre>{config}</pre></details>"
        f"<h2>Figures</h2><p>{html.escape(result.funding_note)}</p>{_metrics_table(result)}"
        f"<h2>Plots</h2>{plot}</body></html>"
    )
    path.write_text(page, encoding="utf-8")

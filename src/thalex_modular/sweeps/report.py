"""The sweep's HTML report, offline (plotly.js inlined once): Optuna's plots (history, parameter importances,
parallel coordinates, the Pareto front of a multi-objective study) and the walk-forward table, in-sample beside
out-of-sample."""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import optuna.visualization as vis
from optuna.trial import TrialState

from .objectives import Objective
from .walk_forward import WalkForwardRow

__all__ = ["write_report"]


def _figures(study: optuna.Study, objectives: Sequence[Objective]) -> list[tuple[str, Any]]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    multi = len(objectives) > 1
    target = (lambda t: t.values[0]) if multi else None
    name = objectives[0].name
    figures: list[tuple[str, Any]] = [
        ("Optimisation history", vis.plot_optimization_history(study, target=target, target_name=name)),
    ]
    if len(complete) >= 2:
        figures.append(("Parallel coordinates", vis.plot_parallel_coordinate(study, target=target, target_name=name)))
        if len(complete[0].distributions) > 1:
            try:
                figures.append(("Parameter importances",
                                _importances(study, objectives)))
            except (RuntimeError, ValueError) as exc:  # e.g. every trial scored the same
                figures.append((f"Parameter importances: not computable ({exc})", None))
    if multi and complete:
        figures.append(("Pareto front", vis.plot_pareto_front(study, target_names=[o.name for o in objectives])))
    if not multi and any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        figures.append(("Intermediate values (pruning)", vis.plot_intermediate_values(study)))
    return figures


def _importances(study: optuna.Study, objectives: Sequence[Objective]) -> Any:
    if len(objectives) == 1:
        return vis.plot_param_importances(study)
    # Optuna's default evaluator (PED-ANOVA) ranks parameters by what makes the target low: the first objective,
    # negated when it is maximised
    first = objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    with warnings.catch_warnings():  # its warning that it favours low values: the sign above sees to that
        warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator", category=UserWarning)
        return vis.plot_param_importances(study, target=lambda t: sign * t.values[0],
                                          target_name=f"{'-' if sign < 0 else ''}{first.name}")


def _table(rows: Sequence[WalkForwardRow], objectives: Sequence[Objective]) -> str:
    head = "".join(f"<th>{o.name} in-sample</th><th>{o.name} out-of-sample</th>" for o in objectives)
    body = []
    for r in rows:
        cells = []
        for i, _ in enumerate(objectives):
            oos = "n/a" if r.out_of_sample is None else f"{r.out_of_sample[i]:.4g}"
            cells.append(f"<td>{r.in_sample[i]:.4g}</td><td>{oos}</td>")
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
        note = f" ({html.escape(r.error)})" if r.error else ""
        body.append(f"<tr><td>{r.number}</td>{''.join(cells)}<td>{html.escape(params)}{note}</td></tr>")
    return (f"<table><tr><th>trial</th>{head}<th>parameters</th></tr>{''.join(body)}</table>")


def write_report(path: Path, study: optuna.Study, objectives: Sequence[Objective], rows: Sequence[WalkForwardRow],
                 summary: Sequence[str]) -> None:
    """Write the report to ``path`` (one self-contained HTML file)."""
    parts: list[str] = []
    plotly_js: bool | str = True
    for title, fig in _figures(study, objectives):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if fig is not None:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=plotly_js))
            plotly_js = False
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in summary)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>sweep {html.escape(study.study_name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>Sweep {html.escape(study.study_name)}</h1><ul>{lines}</ul>"
        f"<h2>Walk-forward: best trials in-sample and out-of-sample</h2>{_table(rows, objectives)}"
        f"{''.join(parts)}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)

// The dashboard's backtests and sweeps: the jobs started through the API, their state, progress and headline figures
// with a link to each one's HTML report (every 2 s from GET /api/v1/backtests and /api/v1/sweeps).
"use strict";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fig = (x, d = 2) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

function headline(job) {
  const r = job.result;
  if (job.kind === "backtest") {
    const m = r ? r.metrics : null;
    if (!m) return job.detail.events ? `${job.detail.events} events` : "";
    return `PnL ${fig(m.pnl_usd)} USD · Sharpe ${fig(m.sharpe)} · drawdown ${fig(m.max_drawdown_usd)} · fills ${m.fills}`;
  }
  if (r && r.best && r.best.length) {
    const b = r.best[0];
    const oos = b.out_of_sample ? b.out_of_sample.map((v) => fig(v, 4)).join("/") : "–";
    return `best trial ${b.trial}: ${r.objectives.join("/")} in-sample ${b.in_sample.map((v) => fig(v, 4)).join("/")}` +
      `, out-of-sample ${oos} (${r.trials_done} trials)`;
  }
  const best = job.detail.best;
  const trials = job.detail.trials_done === undefined ? "" : `${job.detail.trials_done} trials`;
  if (!best) return trials;
  return `${trials}, best so far trial ${best.trial}: ` +
    Object.entries(best.values).map(([k, v]) => `${k} ${fig(v, 4)}`).join(", ");
}

function jobRow(job) {
  const q = job.request;
  const report = job.report ? `<a href="${esc(job.report)}" target="_blank">report</a>` : "";
  const state = job.error ? `${job.state}: ${job.error}` : job.state;
  return `<tr data-job="${esc(job.id)}" data-state="${esc(job.state)}"><td>${esc(job.id)}</td><td>${job.kind}</td>` +
    `<td>${esc(q.instrument)}</td><td>${esc(q.from)}</td><td>${esc(q.to)}</td><td>${esc(state)}</td>` +
    `<td>${(100 * job.progress).toFixed(0)} %</td><td>${esc(headline(job))}</td><td>${report}</td></tr>`;
}

async function refreshJobs() {
  try {
    const [backtests, sweeps] = await Promise.all([
      fetch(`${API}/backtests`).then((r) => r.json()), fetch(`${API}/sweeps`).then((r) => r.json())]);
    const jobs = [...backtests, ...sweeps].sort((a, b) => b.created_ns - a.created_ns);
    document.querySelector("#jobs tbody").innerHTML = jobs.map(jobRow).join("");
    document.querySelector("#jobs .empty").hidden = jobs.length > 0;
  } catch (err) {
    // the API is away: refresh() shows it; the table keeps its last rows
  }
}

refreshJobs();
setInterval(refreshJobs, 2000);

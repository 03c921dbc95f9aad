// The deployment's dashboard: REST for the instruments' states and the account (every second), server-sent events for
// the equity curves, quotes, fills and regime. Every stream resumes after the last id it saw, also across an API
// restart (a new EventSource is opened with ?last_event_id= when the old one gave up).
"use strict";

const API = "/api/v1";
const MAX_POINTS = 3000;
const MAX_FILLS = 25;
const STREAMS = { equity: 2000, quotes: 1000, fills: 200, regime: 200 };  // stream -> backlog on first connect
const panels = new Map();  // instrument -> its panel
let token = sessionStorage.getItem("thalex-api-token");

// -- formatting ----------------------------------------------------------------------------------------------------

const usd = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));
const num = (x, d = 4) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %");
const time = (ns) => new Date(ns / 1e6);
const figure = (label, value) => `<span><b>${label}</b>${value}</span>`;

// -- token and commands ----------------------------------------------------------------------------------------------

function askToken() {
  return new Promise((resolve) => {
    const dialog = document.getElementById("token-dialog");
    const input = document.getElementById("token-input");
    input.value = "";
    dialog.onclose = () => {
      if (dialog.returnValue === "ok" && input.value.trim()) {
        token = input.value.trim();
        sessionStorage.setItem("thalex-api-token", token);
      }
      resolve(token);
    };
    dialog.showModal();
  });
}

async function command(path) {
  if (!token && !(await askToken())) return;
  let response = await fetch(`${API}/control/${path}`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) {  // a wrong or stale token: ask again, once
    token = null;
    sessionStorage.removeItem("thalex-api-token");
    if (!(await askToken())) return;
    response = await fetch(`${API}/control/${path}`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  }
  if (!response.ok) alert(`${path}: ${response.status} ${await response.text()}`);
  refresh();
}

document.querySelector("header .actions").addEventListener("click", (e) => {
  const action = e.target.dataset.action;
  if (action) command(action);
});
document.getElementById("token-button").addEventListener("click", askToken);

// -- panels ----------------------------------------------------------------------------------------------------------

const layout = (title) => ({
  title: { text: title, font: { size: 12 } }, paper_bgcolor: "#161b22", plot_bgcolor: "#161b22",
  font: { color: "#d8dee9", size: 10 }, margin: { l: 60, r: 10, t: 28, b: 30 }, showlegend: true,
  legend: { orientation: "h", y: -0.15 }, xaxis: { type: "date" },
});

function panel(instrument) {
  let p = panels.get(instrument);
  if (p) return p;
  const node = document.getElementById("instrument-template").content.firstElementChild.cloneNode(true);
  node.dataset.instrument = instrument;
  node.querySelector(".name").textContent = instrument;
  node.querySelector(".actions").addEventListener("click", (e) => {
    const action = e.target.dataset.action;
    if (action) command(`${encodeURIComponent(instrument)}/${action}`);
  });
  document.getElementById("instruments").appendChild(node);
  p = { node, equity: node.querySelector(".equity"), quotes: node.querySelector(".quotes"), fills: [],
        equityPoints: 0, quotePoints: 0, regime: {}, equityUpdates: 0, quoteUpdates: 0, fillUpdates: 0 };
  Plotly.newPlot(p.equity, [{ x: [], y: [], name: "equity USD (net of fees)", line: { color: "#88c0d0" } }],
                 layout("equity"), { displayModeBar: false, responsive: true });
  Plotly.newPlot(p.quotes, [
    { x: [], y: [], name: "mark", line: { color: "#d8dee9", width: 1 } },
    { x: [], y: [], name: "best bid", line: { color: "#5e81ac", width: 1, dash: "dot" } },
    { x: [], y: [], name: "best ask", line: { color: "#b48ead", width: 1, dash: "dot" } },
    { x: [], y: [], name: "our bid", line: { color: "#a3be8c", shape: "hv" } },
    { x: [], y: [], name: "our ask", line: { color: "#bf616a", shape: "hv" } },
  ], layout("quotes vs mid and book top"), { displayModeBar: false, responsive: true });
  panels.set(instrument, p);
  return p;
}

function showStatus(s) {
  const p = panel(s.instrument);
  const badge = p.node.querySelector(".state");
  badge.textContent = s.state;
  badge.className = `state badge ${s.state}`;
  p.node.querySelector(".reason").textContent = s.reason || "";
  p.node.dataset.state = s.state;
}

function showPortfolio(instrument, pf) {
  panel(instrument).node.querySelector(".portfolio").innerHTML =
    figure("position", num(pf.position)) +
    figure("realised USD", usd(pf.realised_pnl_usd)) + figure("unrealised USD", usd(pf.unrealised_pnl_usd)) +
    figure("fees USD", usd(pf.fees_usd)) + figure("PnL net USD", usd(pf.pnl_usd));
}

function showRegime(instrument, r) {
  const ivRv = r.atm_iv_annual === null ? null : r.atm_iv_annual - r.sigma_slow_annual;
  panel(instrument).node.querySelector(".regime").innerHTML =
    figure("regime", r.regime || "–") + figure("gamma multiplier", num(r.risk_multiplier, 2)) +
    figure("realised vol fast", pct(r.sigma_fast_annual)) + figure("realised vol slow", pct(r.sigma_slow_annual)) +
    figure("ATM IV", pct(r.atm_iv_annual)) + figure("IV − RV", pct(ivRv));
}

function showFills(p) {
  p.node.querySelector(".fills tbody").innerHTML = p.fills.map((f) =>
    `<tr><td>${time(f.ts_ns).toLocaleTimeString()}</td><td class="${f.side}">${f.side}</td><td>${num(f.price, 2)}</td>` +
    `<td>${num(f.amount)}</td><td>${f.maker_taker}</td><td>${usd(f.fee_usd)}</td></tr>`).join("");
}

// -- streams ---------------------------------------------------------------------------------------------------------

const handlers = {
  equity(e) {
    const p = panel(e.instrument);
    Plotly.extendTraces(p.equity, { x: [[time(e.ts_ns)]], y: [[e.realised_pnl_usd + e.unrealised_pnl_usd]] }, [0],
                        MAX_POINTS);
    p.equityUpdates += 1;
    p.node.dataset.equityUpdates = p.equityUpdates;
    showPortfolio(e.instrument, { ...e, pnl_usd: e.realised_pnl_usd + e.unrealised_pnl_usd });
  },
  quotes(e) {
    const p = panel(e.instrument);
    const t = [time(e.ts_ns)];
    const best = (levels) => (levels.length ? levels[0][0] : null);
    Plotly.extendTraces(p.quotes, { x: [t, t, t, t, t], y: [[e.mark_price], [e.best_bid_price], [e.best_ask_price],
                                                             [best(e.bids)], [best(e.asks)]] }, [0, 1, 2, 3, 4], MAX_POINTS);
    p.quoteUpdates += 1;
    p.node.dataset.quoteUpdates = p.quoteUpdates;
  },
  fills(e) {
    const p = panel(e.instrument);
    p.fills.unshift(e);
    p.fills.length = Math.min(p.fills.length, MAX_FILLS);
    p.fillUpdates += 1;
    p.node.dataset.fillUpdates = p.fillUpdates;
    showFills(p);
  },
  regime(e) { showRegime(e.instrument, e); },
};

function follow(stream, backlog) {
  let lastId = null;
  let source = null;
  const open = () => {
    const query = lastId === null ? `backlog=${backlog}` : `last_event_id=${lastId}`;
    source = new EventSource(`${API}/stream/${stream}?${query}`);
    source.addEventListener(stream, (m) => {
      lastId = m.lastEventId;
      setConnection("live");
      handlers[stream](JSON.parse(m.data));
    });
    source.addEventListener("gap", (m) => console.warn(`${stream}: ${JSON.parse(m.data).missed} events missed`));
    source.onerror = () => {  // also when a response ended at its byte budget: the browser resumes by itself
      if (source.readyState === EventSource.CLOSED) setConnection("reconnecting");
      if (source.readyState === EventSource.CLOSED) {  // the browser gave up (the API was down): open a new one
        setTimeout(open, 2000);
      }
    };
  };
  open();
}

function setConnection(state) {
  const badge = document.getElementById("connection");
  badge.textContent = state;
  badge.className = `badge ${state}`;
}

// -- polling: states and totals --------------------------------------------------------------------------------------

async function refresh() {
  try {
    const [instruments, account] = await Promise.all([
      fetch(`${API}/instruments`).then((r) => r.json()), fetch(`${API}/account`).then((r) => r.json())]);
    instruments.forEach(showStatus);
    document.getElementById("account").innerHTML =
      figure("PnL net USD", usd(account.pnl_usd)) + figure("realised", usd(account.realised_pnl_usd)) +
      figure("unrealised", usd(account.unrealised_pnl_usd)) + figure("fees", usd(account.fees_usd)) +
      figure("fills", account.fills) + figure("open quotes", account.open_quotes) +
      figure("quoting", `${account.quoting}/${account.instruments}`) +
      figure("gross notional USD", usd(account.gross_notional_usd));
  } catch (err) {
    setConnection("reconnecting");
  }
}

for (const [stream, backlog] of Object.entries(STREAMS)) follow(stream, backlog);
refresh();
setInterval(refresh, 1000);

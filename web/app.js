// app.js - the agentkavach dashboard page. Reads the collector's API (collector/dashboard*.c)
// with the token in an Authorization header (kept in sessionStorage, never a cookie), draws
// with Debian's Chart.js, and follows new events through the SSE stream read with fetch()
// (EventSource cannot send a header). Every text from the API goes in through textContent.
"use strict";

const STATUS_EVERY_MS = 2000;
const HEALTH_EVERY_MS = 5000;
const REPORT_EVERY_MS = 30000;
const EVENTS_SHOWN = 100;
const TOKEN_KEY = "agentkavach.token";

const $ = (id) => document.getElementById(id);
const state = {
  status: null, unmetered: {}, page: 0, charts: {}, stream: null, events: [],
  timers: [],
};

// ---- the API ----

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  o.headers = Object.assign({ Authorization: "Bearer " + token() }, o.headers);
  const resp = await fetch(path, o);
  if (resp.status === 401) { showLogin("the token was refused"); throw new Error("401"); }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || ("HTTP " + resp.status));
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(body) });
}

// ---- formatting (as akctl prints money: 2 decimals, more below a cent) ----

function usd(v) {
  if (v === null || v === undefined) return "-";
  if (v !== 0 && Math.abs(v) < 0.01) return "$" + v.toFixed(6).replace(/0+$/, "");
  return "$" + v.toFixed(2);
}
function pct(v) { return v === null || v === undefined ? "-" : v.toFixed(1) + "%"; }
function time(ts) { return ts ? ts.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-"; }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function bar(percent) {
  const wrap = el("div", null, "bar-wrap");
  const b = el("div", null, "bar");
  const fill = el("span");
  if (percent !== null && percent !== undefined) {
    fill.style.width = Math.min(100, Math.max(0, percent)) + "%";
    if (percent >= 100) b.classList.add("full");
    else if (percent >= 70) b.classList.add("warn");
  }
  b.appendChild(fill);
  wrap.appendChild(b);
  return wrap;
}

function button(text, cls, fn) {
  const b = el("button", text, cls);
  b.type = "button";
  b.addEventListener("click", fn);
  return b;
}

// ---- agents table: search, sort, paging ----

function agentsFiltered() {
  const q = $("search").value.trim().toLowerCase();
  let rows = (state.status ? state.status.agents : []).filter(
    (a) => !q || a.agent.toLowerCase().includes(q));
  const sort = $("sort").value;
  const cmp = {
    name: (a, b) => a.agent.localeCompare(b.agent),
    spent: (a, b) => b.spent_usd - a.spent_usd,
    percent: (a, b) => (b.percent || 0) - (a.percent || 0),
    state: (a, b) => (b.suspended - a.suspended) || a.agent.localeCompare(b.agent),
  }[sort];
  return rows.slice().sort(cmp);
}

function renderAgents() {
  const rows = agentsFiltered();
  const size = parseInt($("page-size").value, 10);
  const pages = Math.max(1, Math.ceil(rows.length / size));
  state.page = Math.min(state.page, pages - 1);
  const shown = rows.slice(state.page * size, (state.page + 1) * size);
  const tbody = $("agents").tBodies[0];
  const frag = document.createDocumentFragment();
  for (const a of shown) {
    const tr = el("tr");
    tr.dataset.agent = a.agent;
    tr.appendChild(el("td", a.agent, "name"));
    tr.appendChild(el("td", a.budget_type === "none" ? a.period + " (no budget)" : a.period, "period"));
    tr.appendChild(el("td", usd(a.spent_usd), "num spent"));
    tr.appendChild(el("td", a.limit_usd === null ? "none" : usd(a.limit_usd), "num limit"));
    const bc = el("td", null, "bar-col");
    bc.appendChild(bar(a.percent));
    bc.firstChild.appendChild(el("span", pct(a.percent), "bar-text percent"));
    tr.appendChild(bc);
    tr.appendChild(el("td", a.calls, "num calls"));
    tr.appendChild(el("td", state.unmetered[a.agent] || 0, "num unmetered"));
    tr.appendChild(el("td", a.suspended ? "suspended" : "active",
                      "state " + (a.suspended ? "state-suspended" : "state-active")));
    tr.appendChild(el("td", a.reason || "", "reason"));
    const act = el("td", null, "actions");
    if (a.suspended) act.appendChild(button("Resume", "resume", () => confirmAction("resume", a.agent)));
    else act.appendChild(button("Stop", "stop danger", () => confirmAction("suspend", a.agent)));
    act.appendChild(button("Reset", "reset", () => confirmAction("reset", a.agent)));
    act.appendChild(button("Budget", "budget", () => confirmAction("budget", a.agent, a)));
    tr.appendChild(act);
    frag.appendChild(tr);
  }
  tbody.replaceChildren(frag);
  const total = state.status ? state.status.agents.length : 0;
  $("agents-count").textContent = rows.length === total ? "(" + total + ")"
                                                        : "(" + rows.length + " of " + total + ")";
  $("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

function renderShared() {
  const list = state.status ? state.status.shared_budgets : [];
  $("shared-section").hidden = list.length === 0;
  const frag = document.createDocumentFragment();
  for (const s of list) {
    const tr = el("tr");
    tr.dataset.shared = s.name;
    tr.appendChild(el("td", s.name, "name"));
    tr.appendChild(el("td", s.period, "period"));
    tr.appendChild(el("td", usd(s.spent_usd), "num spent"));
    tr.appendChild(el("td", s.limit_usd === null ? "none" : usd(s.limit_usd), "num limit"));
    const bc = el("td", null, "bar-col");
    bc.appendChild(bar(s.percent));
    bc.firstChild.appendChild(el("span", pct(s.percent), "bar-text percent"));
    tr.appendChild(bc);
    tr.appendChild(el("td", s.calls, "num calls"));
    tr.appendChild(el("td", s.agents.join(", "), "reason"));
    const act = el("td", null, "actions");
    act.appendChild(button("Budget", "budget", () => confirmAction("shared-budget", s.name, s)));
    tr.appendChild(act);
    frag.appendChild(tr);
  }
  $("shared").tBodies[0].replaceChildren(frag);
}

function renderStatus() {
  const s = state.status;
  $("banner").hidden = !s.all_suspended;
  $("banner-text").textContent = s.all_suspended
    ? "All agents suspended: " + (s.all_suspended_reason || "") + " " : "";
  renderAgents();
  renderShared();
  const sel = $("chart-agent");
  if (sel.options.length !== s.agents.length + 1) {
    const keep = sel.value;
    sel.replaceChildren(el("option", "all agents"));
    sel.options[0].value = "";
    for (const a of s.agents) { const o = el("option", a.agent); o.value = a.agent; sel.appendChild(o); }
    sel.value = keep;
  }
  $("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + "Z";
}

async function refreshStatus() {
  try { state.status = await api("/api/status"); renderStatus(); }
  catch (e) { $("updated").textContent = "status: " + e.message; }
}

// ---- health: exporters and alerts ----

async function refreshHealth() {
  let h;
  try { h = await api("/api/health"); } catch (e) { return; }
  $("mode").textContent = "mode: " + h.mode;
  $("outbox").textContent = h.outbox_pending;
  const ex = document.createDocumentFragment();
  for (const e of h.exporters) {
    const tr = el("tr");
    tr.appendChild(el("td", e.name));
    tr.appendChild(el("td", e.state, e.state === "failing" ? "error" : ""));
    tr.appendChild(el("td", e.behind, "num"));
    tr.appendChild(el("td", e.failures, "num"));
    tr.appendChild(el("td", time(e.last_export)));
    tr.appendChild(el("td", time(e.retry_at)));
    ex.appendChild(tr);
  }
  $("exporters").tBodies[0].replaceChildren(ex);
  const al = document.createDocumentFragment();
  const list = h.alerts.concat(h.notices.map((n) => ({ key: n.key, channels: [], sent_at: n.sent_at })));
  list.sort((a, b) => (b.sent_at || "").localeCompare(a.sent_at || ""));
  for (const a of list.slice(0, 50)) {
    const tr = el("tr");
    tr.appendChild(el("td", a.key));
    tr.appendChild(el("td", a.channels.join(", ")));
    tr.appendChild(el("td", a.sent_at ? time(a.sent_at) : "pending"));
    al.appendChild(tr);
  }
  if (!list.length) { const tr = el("tr"); tr.appendChild(el("td", "none yet", "muted")); al.appendChild(tr); }
  $("alerts").tBodies[0].replaceChildren(al);
}

// ---- charts (Chart.js) and the unmetered column, from /api/report ----

function chart(id, type, labels, data, label) {
  if (typeof Chart === "undefined") return;
  const old = state.charts[id];
  if (old) { old.data.labels = labels; old.data.datasets[0].data = data; old.update("none"); return; }
  const palette = ["#2d5bd3", "#2e8540", "#d98a00", "#c62828", "#7b3fb5", "#00838f", "#6d4c41",
                   "#5c6bc0", "#9e9d24", "#ad1457"];
  state.charts[id] = new Chart($(id), {
    type: type,
    data: { labels: labels, datasets: [{ label: label, data: data,
            backgroundColor: type === "bar" ? palette[0] : palette }] },
    options: { animation: false, responsive: true,
               plugins: { legend: { display: type !== "bar", position: "bottom" } },
               scales: type === "bar" ? { y: { beginAtZero: true,
                 ticks: { callback: (v) => "$" + v } } } : {} },
  });
}

async function refreshReports() {
  const agent = $("chart-agent").value;
  const bucket = document.querySelector("input[name=bucket]:checked").value;
  const q = agent ? "&agent=" + encodeURIComponent(agent) : "";
  try {
    // one pass over the events for the charts, one for every agent's unmetered count
    const bys = bucket + ",model,provider" + (agent ? "" : ",agent");
    const [charts, all] = await Promise.all([
      api("/api/report?by=" + bys + q), agent ? api("/api/report?by=agent") : null]);
    const time_ = charts.reports[bucket], model = charts.reports.model;
    const prov = charts.reports.provider;
    const byAgent = agent ? all : charts.reports.agent;
    chart("chart-time", "bar", time_.groups.map((g) => g.key), time_.groups.map((g) => g.cost_usd),
          "USD per " + bucket);
    chart("chart-model", "doughnut", model.groups.map((g) => g.key), model.groups.map((g) => g.cost_usd), "USD");
    chart("chart-provider", "doughnut", prov.groups.map((g) => g.key), prov.groups.map((g) => g.cost_usd), "USD");
    state.unmetered = {};
    for (const g of byAgent.groups) state.unmetered[g.key] = g.unmetered;
  } catch (e) { /* shown by the status line */ }
}

// ---- events: the latest, then live through SSE ----

function eventRow(ev, fresh) {
  const tr = el("tr", null, fresh ? "fresh" : "");
  tr.dataset.agent = ev.agent;
  tr.dataset.eventId = ev.event_id;
  tr.appendChild(el("td", time(ev.ts)));
  tr.appendChild(el("td", ev.agent));
  tr.appendChild(el("td", ev.decision === "control" ? (ev.actor || "") : ev.provider));
  tr.appendChild(el("td", ev.decision === "control" ? ev.operation : ev.model));
  tr.appendChild(el("td", ev.input_tokens, "num"));
  tr.appendChild(el("td", ev.output_tokens, "num"));
  tr.appendChild(el("td", usd(ev.cost_usd), "num"));
  tr.appendChild(el("td", ev.decision, "decision-" + ev.decision));
  tr.appendChild(el("td", ev.reason || "", "reason"));
  return tr;
}

function renderEvents() {
  const f = $("event-agent").value.trim().toLowerCase();
  const frag = document.createDocumentFragment();
  const shown = state.events.filter((e) => !f || e.ev.agent.toLowerCase().includes(f));
  for (const e of shown.slice(0, EVENTS_SHOWN)) frag.appendChild(eventRow(e.ev, e.fresh));
  $("events").tBodies[0].replaceChildren(frag);
}

function addEvent(ev, fresh) {
  state.events.unshift({ ev: ev, fresh: fresh });
  if (state.events.length > 5 * EVENTS_SHOWN) state.events.length = 5 * EVENTS_SHOWN;
}

async function loadEvents() {
  try {
    const list = await api("/api/events?limit=" + EVENTS_SHOWN);
    state.events = [];
    for (const ev of list) addEvent(ev, false);
    renderEvents();
  } catch (e) { /* retried by the stream */ }
}

function parseSse(chunk, onEvent) {
  for (const block of chunk.split("\n\n")) {
    let data = "";
    for (const line of block.split("\n")) if (line.startsWith("data: ")) data += line.slice(6);
    if (data) { try { onEvent(JSON.parse(data)); } catch (e) { /* not a record */ } }
  }
}

async function followStream() {
  const live = $("live");
  for (;;) {
    try {
      const resp = await fetch("/api/stream", { headers: { Authorization: "Bearer " + token() } });
      if (resp.status === 401) { showLogin("the token was refused"); return; }
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      live.className = "pill on";
      live.textContent = "live";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        const cut = buf.lastIndexOf("\n\n");
        if (cut < 0) continue;
        parseSse(buf.slice(0, cut), (ev) => { addEvent(ev, true); renderEvents(); });
        buf = buf.slice(cut + 2);
      }
    } catch (e) { /* reconnect below */ }
    live.className = "pill off";
    live.textContent = "reconnecting";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- controls, each behind a confirmation ----

const ACTIONS = {
  suspend: { title: "Stop agent", text: (n) => "Suspend " + n + "? Its next call is refused with a 429." },
  resume: { title: "Resume agent", text: (n) => "Lift the suspension of " + n + "?" },
  reset: { title: "Reset spend", text: (n) => "Reset " + n + "'s spend for the current period to $0.00?" },
  budget: { title: "Change budget", text: (n) => "New budget for " + n + ":" },
  "shared-budget": { title: "Change shared budget", text: (n) => "New budget for the shared budget " + n + ":" },
  "all-suspend": { title: "Stop every agent", text: () => "Suspend every agent on this host? Every call is refused until Resume all." },
  "all-resume": { title: "Resume every agent", text: () => "Lift the host-wide stop and every agent's suspension?" },
};

function confirmAction(kind, name, row) {
  const d = $("confirm");
  const a = ACTIONS[kind];
  $("confirm-title").textContent = a.title;
  $("confirm-text").textContent = a.text(name);
  $("confirm-now-row").hidden = kind !== "suspend" && kind !== "all-suspend";
  $("confirm-budget").hidden = !kind.endsWith("budget");
  $("confirm-reason").value = "";
  $("confirm-error").textContent = "";
  if (row && kind.endsWith("budget")) {
    $("budget-type").value = row.budget_type === "none" ? "daily" : row.budget_type;
    $("budget-limit").value = row.limit_usd === null ? "" : row.limit_usd;
  }
  d.dataset.kind = kind;
  d.dataset.name = name;
  d.showModal();
}

async function confirmOk() {
  const d = $("confirm");
  const kind = d.dataset.kind, name = encodeURIComponent(d.dataset.name);
  const body = {};
  const reason = $("confirm-reason").value.trim();
  if (reason) body.reason = reason;
  let path = kind.startsWith("all-") ? "/api/all/" + kind.slice(4) : "/api/agents/" + name + "/" + kind;
  if (kind.endsWith("suspend")) body.now = $("confirm-now").checked;
  if (kind.endsWith("budget")) {
    body.type = $("budget-type").value;
    if (body.type !== "default") body.limit_usd = parseFloat($("budget-limit").value);
    path = kind === "budget" ? "/api/agents/" + name + "/budget" : "/api/shared/" + name + "/budget";
  }
  try {
    await post(path, body);
    d.close();
    refreshStatus();
  } catch (e) { $("confirm-error").textContent = e.message; }
}

// ---- start ----

function showLogin(why) {
  state.timers.forEach(clearInterval);
  state.timers = [];
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = why || "";
  sessionStorage.removeItem(TOKEN_KEY);
}

function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  refreshStatus();
  refreshHealth();
  refreshReports().then(renderAgents);
  loadEvents().then(followStream);
  state.timers.push(setInterval(refreshStatus, STATUS_EVERY_MS));
  state.timers.push(setInterval(refreshHealth, HEALTH_EVERY_MS));
  state.timers.push(setInterval(refreshReports, REPORT_EVERY_MS));
}

function wire() {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("logout").addEventListener("click", () => showLogin(""));
  $("stop-all").addEventListener("click", () => confirmAction("all-suspend", "*"));
  $("resume-all").addEventListener("click", () => confirmAction("all-resume", "*"));
  $("search").addEventListener("input", () => { state.page = 0; renderAgents(); });
  $("sort").addEventListener("change", renderAgents);
  $("page-size").addEventListener("change", () => { state.page = 0; renderAgents(); });
  $("prev").addEventListener("click", () => { state.page--; renderAgents(); });
  $("next").addEventListener("click", () => { state.page++; renderAgents(); });
  $("event-agent").addEventListener("input", renderEvents);
  $("chart-agent").addEventListener("change", refreshReports);
  for (const r of document.querySelectorAll("input[name=bucket]")) r.addEventListener("change", refreshReports);
  $("confirm-cancel").addEventListener("click", () => $("confirm").close());
  $("confirm-ok").addEventListener("click", confirmOk);
  if (token()) start(); else showLogin("");
}

document.addEventListener("DOMContentLoaded", wire);

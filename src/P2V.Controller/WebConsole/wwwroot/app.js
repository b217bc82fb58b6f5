// The P2V controller's console: plain JS, no library, nothing fetched from elsewhere. Data comes from the admin API
// with the token kept in this tab's sessionStorage; live job changes from /api/events (server-sent events), read with
// fetch so the token travels in the Authorization header, never in a URL.
"use strict";

const $ = (id) => document.getElementById(id);
const jobs = new Map();          // id → job, every job this page knows
let token = sessionStorage.getItem("p2v-token");
let stream = null;               // AbortController of the event stream

function authHeaders() { return { Authorization: "Bearer " + token }; }

// GET by default; with a body, that body as JSON (POST unless a method is given).
async function api(path, body, method) {
  const init = { headers: authHeaders() };
  if (body !== undefined || method) {
    init.method = method || "POST";
    if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  }
  const r = await fetch(path, init);
  if (r.status === 401 || r.status === 403) throw Object.assign(new Error("the token was refused"), { auth: true });
  if (!r.ok) {
    let reason = r.statusText;
    try { reason = (await r.json()).error || reason; } catch { }
    throw Object.assign(new Error(reason), { status: r.status });
  }
  return r.json();
}

function text(value) { return value === null || value === undefined ? "" : String(value); }
function cell(tr, value, cls) { const td = tr.insertCell(); td.textContent = text(value); if (cls) td.className = cls; return td; }
function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}
function duration(s) {
  if (s === null || s === undefined) return "";
  s = Math.round(s);
  return s >= 3600 ? `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}
// The stream and the API answers can arrive in either order: keep a job's newest revision.
function keep(job) { const known = jobs.get(job.id); if (!known || known.revision <= job.revision) jobs.set(job.id, job); }
const active = (j) => j.state === "queued" || j.state === "claimed" || j.state === "running";

function renderJobs() {
  const running = $("running").tBodies[0], history = $("history").tBodies[0];
  running.replaceChildren(); history.replaceChildren();
  const all = [...jobs.values()].sort((a, b) => b.id - a.id);
  for (const j of all.filter(active)) {
    const tr = running.insertRow();
    tr.className = "clickable"; tr.dataset.job = j.id; tr.onclick = () => showJob(j.id);
    cell(tr, j.id); cell(tr, j.deviceMac); cell(tr, j.kind); cell(tr, j.state, "state-" + j.state); cell(tr, j.progress.phase);
    const p = j.progress, pct = p.bytesTotal > 0 ? Math.min(100, 100 * p.bytesDone / p.bytesTotal) : 0;
    const bar = document.createElement("div"); bar.className = "bar";
    bar.setAttribute("role", "progressbar"); bar.setAttribute("aria-valuenow", pct.toFixed(0));
    const fill = document.createElement("span"); fill.style.width = pct.toFixed(1) + "%";
    const label = document.createElement("em"); label.textContent = `${pct.toFixed(0)}% · ${bytes(p.bytesDone)} of ${bytes(p.bytesTotal)}`;
    bar.append(fill, label); tr.insertCell().append(bar);
    cell(tr, p.bytesPerSecond > 0 ? bytes(p.bytesPerSecond) + "/s" : ""); cell(tr, duration(p.etaSeconds)); cell(tr, p.message, "message");
  }
  $("running-empty").hidden = running.rows.length > 0;
  for (const j of all.filter((j) => !active(j))) {
    const tr = history.insertRow();
    tr.className = "clickable"; tr.dataset.job = j.id; tr.onclick = () => showJob(j.id);
    cell(tr, j.id); cell(tr, j.deviceMac); cell(tr, j.kind); cell(tr, j.image); cell(tr, j.state, "state-" + j.state);
    cell(tr, when(j.createdAt)); cell(tr, when(j.finishedAt)); cell(tr, j.error, "message error");
  }
}

async function loadDevices() {
  const body = $("devices").tBodies[0];
  const devices = await api("/api/devices");
  body.replaceChildren();
  for (const d of devices) {
    const tr = body.insertRow();
    tr.dataset.mac = d.mac;
    cell(tr, d.mac); cell(tr, d.name); cell(tr, d.controlled ? "controlled" : "released", d.controlled ? "state-running" : "muted"); cell(tr, d.bootAction);
    cell(tr, d.defaultTemplate); cell(tr, d.hasInventory ? "yes" : "no"); cell(tr, when(d.lastBootAt));
    // The source document's "take control" / "remove control": only a controlled device network-boots into a job.
    const button = document.createElement("button");
    button.type = "button"; button.className = "control";
    button.textContent = d.controlled ? "Release" : "Take control";
    button.onclick = () => setControl(d.mac, !d.controlled);
    tr.insertCell().append(button);
  }
  $("devices-note").textContent = devices.length ? "" : "No device is known yet: p2v device add, p2v createvm --controller, or a first network boot adds one.";
  // Jobs are for controlled devices only; keep the operator's choice when the list is redrawn.
  const select = $("job-device"), chosen = select.value;
  select.replaceChildren();
  for (const d of devices.filter((d) => d.controlled)) select.add(new Option(d.name ? `${d.name} (${d.mac})` : d.mac, d.mac));
  if (!select.options.length) select.add(new Option("no device under control", ""));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function setControl(mac, controlled) {
  try {
    await api(`/api/devices/${encodeURIComponent(mac)}/${controlled ? "control" : "release"}`, undefined, "POST");
    $("devices-note").textContent = "";
  } catch (e) {
    if (e.auth) { signOut(e.message); return; }
    $("devices-note").textContent = `${mac}: ${e.message}`;
  }
  await loadDevices();
}

async function createJob(e) {
  e.preventDefault();
  const result = $("new-job-result");
  const request = { device: $("job-device").value, kind: $("job-kind").value };
  const image = $("job-image").value.trim();
  if (image) request.image = image;
  try {
    const created = await api("/api/jobs", request);
    keep(created.job);
    renderJobs();
    result.textContent = `job ${created.job.id} queued for ${created.job.deviceMac}`; result.className = "muted";
  } catch (e) {
    if (e.auth) { signOut(e.message); return; }
    result.textContent = e.message; result.className = "error";
  }
}

async function loadImages() {
  const body = $("images").tBodies[0];
  try {
    const images = await api("/api/store/images");
    body.replaceChildren();
    for (const i of images) {
      const size = i.diskBytes, stored = i.storedBytes, unique = i.uniqueBytes;
      const tr = body.insertRow();
      cell(tr, i.name); cell(tr, bytes(size)); cell(tr, bytes(stored)); cell(tr, bytes(unique));
      const saved = i.dedupSavings ?? (stored > 0 && unique !== undefined ? 1 - unique / stored : null);
      cell(tr, saved === null || saved === undefined ? "" : (100 * saved).toFixed(1) + "%");
      cell(tr, when(i.created));
    }
    $("images-note").textContent = images.length ? "" : "No image is stored yet.";
  } catch (e) {
    if (e.auth) throw e;
    $("images-note").textContent = "Images are not available: " + e.message;
  }
}

async function showJob(id) {
  const j = await api(`/api/jobs/${id}`);
  keep(j);
  $("job-detail").hidden = false;
  $("job-detail").dataset.job = id;
  $("detail-id").textContent = `${j.id} (${j.kind}, ${j.state})`;
  $("detail-summary").textContent = `device ${j.deviceMac}` + (j.image ? `, image ${j.image}` : "") + `, steps: ${j.steps.join(" → ")}` + (j.claimedBy ? `, claimed by ${j.claimedBy}` : "");
  const log = await api(`/api/jobs/${id}/log`);
  $("detail-log").textContent = log.map((l) => `${new Date(l.at).toLocaleTimeString()} ${l.line}`).join("\n");
  const reports = await api(`/api/jobs/${id}/reports`);
  const holder = $("detail-reports"); holder.replaceChildren();
  for (const r of reports) {
    const h = document.createElement("h3"); h.textContent = "Report: " + r.name;
    const pre = document.createElement("pre"); pre.textContent = r.content;
    holder.append(h, pre);
  }
}

// Server-sent events over fetch: "event: job" blocks whose data is a job's JSON.
async function follow() {
  stream?.abort();
  stream = new AbortController();
  while (true) {
    try {
      const r = await fetch("/api/events", { headers: authHeaders(), signal: stream.signal });
      if (r.status === 401 || r.status === 403) { signOut("the token was refused"); return; }
      $("connection").textContent = "live"; $("connection").className = "state-succeeded";
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (!data) continue;
          const job = JSON.parse(data);
          keep(job);
          renderJobs();
          const detail = $("job-detail");
          if (!detail.hidden && Number(detail.dataset.job) === job.id) showJob(job.id).catch(() => { });
        }
      }
    } catch (e) {
      if (stream.signal.aborted) return;
    }
    $("connection").textContent = "reconnecting…"; $("connection").className = "muted";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function start() {
  $("login").hidden = true;
  try {
    for (const j of await api("/api/jobs?limit=200")) keep(j);
    renderJobs();
    await loadDevices();
    await loadImages();
  } catch (e) {
    if (e.auth) { signOut("the token was refused"); return; }
    $("connection").textContent = e.message; $("connection").className = "error";
  }
  $("app").hidden = false; $("signout").hidden = false;
  follow();
  setInterval(() => { loadDevices().catch(() => { }); loadImages().catch(() => { }); }, 5000);
}

function signOut(why) {
  stream?.abort();
  sessionStorage.removeItem("p2v-token"); token = null;
  $("app").hidden = true; $("signout").hidden = true; $("login").hidden = false;
  $("login-error").textContent = why || "";
  $("connection").textContent = "not connected"; $("connection").className = "muted";
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("p2v-token", token);
  start();
});
$("signout").onclick = () => signOut();
$("new-job").addEventListener("submit", createJob);
$("detail-close").onclick = () => { $("job-detail").hidden = true; };

// A link may carry the token in its fragment (#token=…), which the browser never sends to the server.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  token = fragment.get("token");
  sessionStorage.setItem("p2v-token", token);
  history.replaceState(null, "", location.pathname);
}
if (token) start(); else signOut();

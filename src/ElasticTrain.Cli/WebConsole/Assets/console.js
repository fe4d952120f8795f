// The job's console: live from the node's server-sent events, drawn with plain SVG.
"use strict";

const state = { jobId: "", totalSteps: 0, steps: [], marks: [], evaluations: [], checkpoints: [], status: null, end: null };
// As the server does: past this many steps, every other step of the older half goes.
const MaxSteps = 4000;
const $ = id => document.getElementById(id);
const svgNs = "http://www.w3.org/2000/svg";
let drawPending = false;

function adopt(snapshot) {
  const h = snapshot.history;
  if (h.jobId) { state.jobId = h.jobId; state.totalSteps = h.totalSteps; }
  // A snapshot holds all the node has seen; keep what this page saw that it lacks.
  state.steps = mergeBy(state.steps, h.steps, s => s.step);
  thin();
  state.marks = mergeBy(state.marks, h.marks, m => m.generation);
  state.evaluations = mergeBy(state.evaluations, h.evaluations, e => e.step);
  state.checkpoints = mergeBy(state.checkpoints, h.checkpoints, c => c.step);
  state.end = h.end || state.end;
  if (snapshot.status) state.status = snapshot.status;
}

function thin() {
  if (state.steps.length <= MaxSteps) return;
  const half = Math.floor(state.steps.length / 2);
  state.steps = state.steps.filter((_, i) => i >= half || i % 2 === 0);
}

// Loops, not Math.min(...xs): a spread of many thousands of arguments overflows the stack.
const least = xs => xs.reduce((a, b) => (b < a ? b : a), Infinity);
const most = xs => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

function mergeBy(mine, theirs, key) {
  const all = new Map(mine.map(x => [key(x), x]));
  for (const x of theirs) all.set(key(x), x);
  return [...all.values()].sort((a, b) => key(a) - key(b));
}

function take(list, item, key) {
  const last = list[list.length - 1];
  if (!last || key(item) > key(last)) list.push(item);
  else if (!list.some(x => key(x) === key(item))) { list.push(item); list.sort((a, b) => key(a) - key(b)); }
}

const handlers = {
  snapshot: d => adopt(d),
  step: d => { take(state.steps, d, s => s.step); thin(); },
  generation: d => take(state.marks, d, m => m.generation),
  evaluation: d => take(state.evaluations, d, e => e.step),
  checkpoint: d => take(state.checkpoints, d, c => c.step),
  end: d => { state.end = d; },
  status: d => { state.status = d; },
};

function connect() {
  const events = new EventSource("api/events");
  events.onopen = () => setConnection("live", "live");
  events.onerror = () => setConnection("lost", "reconnecting");
  for (const [name, handle] of Object.entries(handlers))
    events.addEventListener(name, e => { handle(JSON.parse(e.data)); scheduleDraw(); });
}

function setConnection(kind, text) {
  const pill = $("connection");
  pill.className = "pill " + kind;
  pill.textContent = text;
}

function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; draw(); });
}

const fmt = (x, digits) => x === undefined || x === null || !isFinite(x) ? "-" : x.toFixed(digits);

function draw() {
  const last = state.steps[state.steps.length - 1];
  const status = state.status;
  $("job").textContent = state.jobId;
  $("step").textContent = last ? `${last.step} / ${state.totalSteps}` : "-";
  $("generation").textContent = status ? status.generation : (last ? last.generation : "-");
  $("world").textContent = last ? last.world : "-";
  $("mesh").textContent = status && status.mesh ? status.mesh : "-";
  $("loss").textContent = last ? fmt(last.loss, 4) : "-";
  const evaluation = state.evaluations[state.evaluations.length - 1];
  $("validation").textContent = evaluation ? fmt(evaluation.loss, 4) : "-";
  $("rate").textContent = status ? fmt(status.samplesPerSecond, 1) : "-";
  $("step-time").textContent = last ? fmt(last.stepMs, 0) + " ms" : "-";
  const ended = $("ended");
  ended.hidden = !state.end;
  if (state.end) { ended.textContent = (state.end.failed ? "failed: " : "") + state.end.text; ended.className = state.end.failed ? "failed" : ""; }
  drawLoss();
  drawRate();
  drawMembers();
  drawStages();
  list($("generations"), state.marks, m => `generation ${m.generation} at step ${m.fromStep}: ${m.world} rank${m.world === 1 ? "" : "s"}${m.mesh ? " as " + m.mesh : ""}; ${m.text}`);
  // The newest few, by file name; the full path is the item's tooltip.
  list($("checkpoints"), state.checkpoints.slice(-8).reverse(), c => `step ${c.step}: ${c.path.split("/").pop()}`, c => c.path);
}

function list(element, items, text, title) {
  element.replaceChildren(...items.map(item => {
    const li = document.createElement("li");
    li.textContent = text(item);
    if (title) li.title = title(item);
    return li;
  }));
}

function el(name, attributes, text) {
  const e = document.createElementNS(svgNs, name);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A plot area inside the viewBox: maps data to pixels, with the axes' labels outside it.
function frame(svg, xs, ys, floor) {
  const [w, h] = svg.getAttribute("viewBox").split(" ").slice(2).map(Number);
  const box = { left: 52, right: w - 12, top: 12, bottom: h - 22 };
  const x0 = least(xs), x1 = Math.max(most(xs), x0 + 1);
  let [y0, y1] = [least(ys), most(ys)];
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  if (floor !== undefined) y0 = Math.max(y0, floor);
  const x = v => box.left + (v - x0) / (x1 - x0) * (box.right - box.left);
  const y = v => box.bottom - (v - y0) / (y1 - y0) * (box.bottom - box.top);
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    svg.append(el("line", { class: "grid", x1: box.left, x2: box.right, y1: y(v), y2: y(v) }));
    svg.append(el("text", { class: "axis", x: box.left - 6, y: y(v) + 3, "text-anchor": "end" }, axisLabel(v)));
  }
  svg.append(el("text", { class: "axis", x: box.left, y: h - 6 }, String(x0)));
  svg.append(el("text", { class: "axis", x: box.right, y: h - 6, "text-anchor": "end" }, String(x1)));
  return { x, y, box };
}

const axisLabel = v => Math.abs(v) >= 100 ? Math.round(v).toString() : v.toPrecision(3);

function polyline(points, cls) {
  return el("polyline", { class: "line " + cls, points: points.map(p => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ") });
}

function drawLoss() {
  const svg = $("loss-chart");
  svg.replaceChildren();
  svg.dataset.points = state.steps.length;
  svg.dataset.marks = state.marks.length;
  if (state.steps.length === 0) return;
  const xs = state.steps.map(s => s.step).concat(state.evaluations.map(e => e.step));
  const ys = state.steps.map(s => s.loss).concat(state.evaluations.map(e => e.loss)).filter(isFinite);
  const f = frame(svg, xs, ys);
  state.marks.forEach((m, i) => {
    const x = f.x(Math.max(m.fromStep - 1, xs[0]));
    svg.append(el("line", { class: "mark", x1: x, x2: x, y1: f.box.top, y2: f.box.bottom }));
    // Labels step down the chart so that close changes do not write over each other.
    // Past the middle, a label goes to the left of its line, so that it stays inside the chart.
    const left = x > (f.box.left + f.box.right) / 2;
    svg.append(el("text", { class: "marktext", x: left ? x - 4 : x + 4, y: f.box.top + 10 + (i % 6) * 13, "text-anchor": left ? "end" : "start" },
      `g${m.generation}: ${m.text}`));
  });
  svg.append(polyline(state.steps.filter(s => isFinite(s.loss)).map(s => [f.x(s.step), f.y(s.loss)]), "train"));
  for (const e of state.evaluations) svg.append(el("circle", { class: "dot", cx: f.x(e.step), cy: f.y(e.loss), r: 3 }));
}

// Samples/s over the last few steps of a generation (commit to commit), beside each step's own time.
const RateWindow = 10;

function drawRate() {
  const svg = $("rate-chart");
  svg.replaceChildren();
  const rates = [];
  for (let i = 1; i < state.steps.length; i++) {
    let j = i;
    while (j > 0 && i - j < RateWindow && state.steps[j - 1].generation === state.steps[i].generation && state.steps[j - 1].step === state.steps[j].step - 1) j--;
    if (j === i) continue;
    const samples = state.steps.slice(j + 1, i + 1).reduce((sum, s) => sum + s.samples, 0);
    const ms = state.steps[i].timeUnixMs - state.steps[j].timeUnixMs;
    if (ms > 0) rates.push([state.steps[i].step, samples * 1000 / ms, state.steps[i].stepMs]);
  }
  svg.dataset.points = rates.length;
  if (rates.length === 0) return;
  const f = frame(svg, rates.map(r => r[0]), rates.map(r => r[1]), 0);
  const maxMs = most(rates.map(r => r[2]));
  // Step time on the same area, scaled to its own maximum (written at the right).
  const yMs = v => f.box.bottom - v / maxMs * (f.box.bottom - f.box.top);
  svg.append(polyline(rates.map(r => [f.x(r[0]), yMs(r[2])]), "steptime"));
  svg.append(el("text", { class: "axis", x: f.box.right - 4, y: f.box.top + 10, "text-anchor": "end" }, `grey: step time, max ${maxMs.toFixed(0)} ms`));
  svg.append(polyline(rates.map(r => [f.x(r[0]), f.y(r[1])]), "train"));
}

function drawMembers() {
  const body = $("members").tBodies[0];
  const status = state.status;
  const members = status ? status.members : [];
  body.replaceChildren(...members.map(m => {
    const row = document.createElement("tr");
    row.dataset.rank = m.rank;
    for (const v of [m.rank, m.node, m.stage, m.slice, fmt(m.samplesPerSecond, 1)]) {
      const td = document.createElement("td"); td.textContent = v; row.append(td);
    }
    const td = document.createElement("td");
    const drain = document.createElement("button");
    drain.textContent = "Drain node";
    drain.onclick = () => operate("api/drain", { node: m.node });
    td.append(drain);
    row.append(td);
    return row;
  }));
  const idle = status ? status.idle : [];
  const draining = status ? status.draining : [];
  $("idle").textContent = [idle.length ? "idle: " + idle.join(", ") : "", draining.length ? "draining: " + draining.join(", ") : "",
    status && status.targetRanks ? "scale target: " + status.targetRanks + " ranks" : ""].filter(Boolean).join("; ");
}

// With pipeline stages, one column per stage: its layers, then the ranks that run it (one per replica).
function drawStages() {
  const mark = state.marks[state.marks.length - 1];
  const members = state.status ? state.status.members : [];
  const stages = Math.max(0, most(members.map(m => m.stage))) + 1;
  $("mesh-view").hidden = stages < 2;
  if (stages < 2) return;
  const layers = mark && mark.stages ? mark.stages.match(/\[\d+,\d+\)/g) || [] : [];
  const head = document.createElement("tr");
  for (let s = 0; s < stages; s++) {
    const th = document.createElement("th");
    th.textContent = `stage ${s}` + (layers[s] ? ` layers ${layers[s]}` : "");
    head.append(th);
  }
  $("stages").tHead.replaceChildren(head);
  const columns = [...Array(stages)].map((_, s) => members.filter(m => m.stage === s));
  const rows = most(columns.map(c => c.length));
  $("stages").tBodies[0].replaceChildren(...[...Array(rows)].map((_, r) => {
    const row = document.createElement("tr");
    for (const column of columns) {
      const td = document.createElement("td");
      td.textContent = column[r] ? column[r].rank : "";
      row.append(td);
    }
    return row;
  }));
}

async function operate(path, body) {
  const reply = $("reply");
  const token = $("token").value;
  sessionStorage.setItem("elastictrain-token", token);
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({ accepted: false, message: response.statusText }));
  reply.textContent = answer.message;
  reply.className = response.ok && answer.accepted ? "" : "refused";
}

$("operate").onsubmit = e => { e.preventDefault(); operate("api/scale", { ranks: Number($("ranks").value || 0) }); };
$("token").value = sessionStorage.getItem("elastictrain-token") || "";
connect();

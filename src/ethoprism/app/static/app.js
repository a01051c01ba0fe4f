// ethoprism app: player, ethogram timeline, keyboard labelling with undo/redo, training,
// suggestions, similar segments. No build step, no network beyond this server.
"use strict";

const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990"];
const state = {
  videos: [], video: null, behaviors: [], bouts: [], exclusive: true, version: 0,
  current: 0, marking: null, undo: [], redo: [], prediction: null,
  view: [0, 1], drag: null, motifs: null,
  animal: null, boxes: [],  // per animal (a store with tracks): whose behaviour is labelled now
};
const $ = (id) => document.getElementById(id);
const player = $("player"), canvas = $("timeline");

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.error || body?.detail || response.statusText);
  return { status: response.status, body };
}
function status(text) { $("status").textContent = text; }
function fps() { return state.video ? state.video.fps : 30; }
function frame() { return Math.min(state.video.n_frames - 1, Math.max(0, Math.round(player.currentTime * fps() - 0.5 + 1e-6))); }
function seek(f) {
  f = Math.min(state.video.n_frames - 1, Math.max(0, f));
  player.currentTime = (f + 0.5) / fps();  // the middle of the frame: frame-accurate in every browser
  showFrame(f);
}
function showFrame(f = frame()) {
  $("frame").textContent = f;
  $("time").textContent = (f / fps()).toFixed(3);
  draw();
  if (animals().length && player.paused) loadBoxes(f);
}

// -- animals: the one being labelled, picked with "a" or by clicking it on the video ------------
function animals() { return state.video ? state.video.animals || [] : []; }
function mine(b) { return !animals().length || b.animal === state.animal; }
function setAnimal(name) {
  state.animal = name;
  $("animal-info").textContent = name ? `animal: ${name}` : "";
  drawBoxes(); draw();
}
async function loadBoxes(f) {
  const asked = f;
  const boxes = (await api(`/api/videos/${encodeURIComponent(state.video.name)}/animals/${f}`)).body;
  if (frame() === asked) { state.boxes = boxes; drawBoxes(); }
}
// where the video's pixels are on the page (the player letterboxes it)
function videoGeometry() {
  const rect = player.getBoundingClientRect();
  const scale = Math.min(rect.width / state.video.width, rect.height / state.video.height);
  return { rect, scale, left: (rect.width - state.video.width * scale) / 2, top: (rect.height - state.video.height * scale) / 2 };
}
function drawBoxes() {
  const overlay = $("overlay");
  if (!state.video) return;
  const g = videoGeometry();
  overlay.width = g.rect.width; overlay.height = g.rect.height;
  overlay.style.width = `${g.rect.width}px`; overlay.style.height = `${g.rect.height}px`;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!player.paused) return;
  ctx.font = "12px sans-serif";
  for (const b of state.boxes) {
    const k = animals().indexOf(b.animal);
    ctx.strokeStyle = ctx.fillStyle = COLORS[k % COLORS.length];
    ctx.lineWidth = b.animal === state.animal ? 3 : 1;
    const x = g.left + b.x0 * g.scale, y = g.top + b.y0 * g.scale;
    ctx.strokeRect(x, y, (b.x1 - b.x0) * g.scale, (b.y1 - b.y0) * g.scale);
    ctx.fillText(b.animal, x + 2, Math.max(10, y - 3));
  }
}
$("overlay").addEventListener("click", (e) => {  // the animal under the pointer becomes the labelled one
  if (!animals().length) { player.paused ? player.play() : player.pause(); return; }
  const g = videoGeometry();
  const x = (e.clientX - g.rect.left - g.left) / g.scale, y = (e.clientY - g.rect.top - g.top) / g.scale;
  const hits = state.boxes.filter((b) => b.x0 <= x && x <= b.x1 && b.y0 <= y && y <= b.y1);
  hits.sort((a, b) => (a.x1 - a.x0) * (a.y1 - a.y0) - (b.x1 - b.x0) * (b.y1 - b.y0));  // the smallest: the one in front
  if (hits.length) { setAnimal(hits[0].animal); status(`labelling ${hits[0].animal}`); }
});

async function loadVideo(name) {
  player.dataset.ready = "";  // until this video (or its proxy) can play
  state.video = state.videos.find((v) => v.name === name);
  $("n-frames").textContent = state.video.n_frames;
  state.view = [0, state.video.n_frames];
  state.boxes = [];
  setAnimal(animals().includes(state.animal) ? state.animal : (animals()[0] ?? null));
  const src = `/api/videos/${encodeURIComponent(name)}/file`;
  for (;;) {  // a proxy may have to be made first
    const probe = await fetch(src, { method: "GET", headers: { Range: "bytes=0-0" } });
    if (probe.status !== 202) break;
    const { making_proxy: p } = await probe.json();
    if (p.error) { status(`proxy failed: ${p.error}`); return; }
    $("proxy").hidden = false;
    $("proxy-progress").value = p.total ? p.done / p.total : 0;
    await new Promise((r) => setTimeout(r, 300));
  }
  $("proxy").hidden = true;
  player.src = src;
  await new Promise((resolve) => { player.onloadeddata = resolve; });
  player.dataset.ready = "1";
  await loadPrediction();
  seek(0);
}

async function loadPrediction() {
  state.prediction = (await api(`/api/predictions/${encodeURIComponent(state.video.name)}`)).body;
  showMetrics(state.prediction.metrics);
  draw();
}

function showMetrics(m) {
  if (!m) $("metrics").textContent = "";
  else if (m.pending) $("metrics").textContent = `held-out mAP: computing (leave-one-video-out, ${m.videos} videos)…`;
  else if (m.error) $("metrics").textContent = `held-out mAP: ${m.error}`;
  else $("metrics").textContent = `held-out mAP ${m.map.toFixed(3)} (chance ${m.chance_map.toFixed(3)}, ${m.videos} videos)`;
}

async function followMetrics() {
  for (;;) {
    const { metrics } = (await api("/api/metrics")).body;
    showMetrics(metrics);
    if (!metrics || !metrics.pending) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// Edits apply to the page at once and are saved one after another, each on the version the
// server last confirmed: two fast keys never send two label sets where the second lacks the
// first. A refused or failed save puts back what the server holds and says why.
const saver = { running: null, dirty: false, confirmed: 0 };
function snapshot() { return { behaviors: [...state.behaviors], bouts: state.bouts.map((b) => ({ ...b })) }; }
function flush() {
  saver.dirty = true;
  if (!saver.running) {
    saver.running = (async () => {
      while (saver.dirty) {
        saver.dirty = false;
        const body = { ...snapshot(), base_version: state.version };
        try {
          status("saving…");
          const response = await api("/api/labels", {
            method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
          });
          state.version = response.body.version;
          saver.confirmed = state.undo.length;
          status("saved");
        } catch (error) {
          saver.dirty = false;
          state.undo.length = Math.min(state.undo.length, saver.confirmed);
          await reloadLabels();
          status(`not saved: ${error.message}`);
        }
      }
      saver.running = null;
    })();
  }
  return saver.running;
}
async function reloadLabels() {
  const labels = (await api("/api/labels")).body;
  state.behaviors = labels.behaviors; state.bouts = labels.bouts;
  state.exclusive = labels.exclusive; state.version = labels.version;
  renderBehaviors(); draw();
}
function edit(change) {
  const next = snapshot();
  change(next);
  state.undo.push(snapshot()); state.redo = [];
  state.behaviors = next.behaviors; state.bouts = next.bouts;
  renderBehaviors(); draw();
  return flush();
}
function restore(from, to) {
  const previous = from.pop();
  if (!previous) return;
  to.push(snapshot());
  state.behaviors = previous.behaviors; state.bouts = previous.bouts;
  renderBehaviors(); draw();
  return flush();
}

function addBout(start, end) {
  if (!state.behaviors.length) { status("add a behaviour first"); return; }
  const [a, b] = [Math.min(start, end), Math.max(start, end)];
  const whose = animals().length ? { animal: state.animal } : {};
  return edit((next) => next.bouts.push({
    video: state.video.name, ...whose, behavior: state.behaviors[state.current], start_frame: a, end_frame: b,
  }));
}
function boutAt(f) {  // of the animal being labelled, where the video has animals
  return state.bouts.findIndex((b) => b.video === state.video.name && mine(b) && b.start_frame <= f && f <= b.end_frame);
}
// the bout of the current behaviour closest to frame f (to extend a bout from outside it)
function nearestBout(f) {
  let best = -1, distance = Infinity;
  state.bouts.forEach((b, i) => {
    if (b.video !== state.video.name || !mine(b) || b.behavior !== state.behaviors[state.current]) return;
    const d = f < b.start_frame ? b.start_frame - f : f - b.end_frame;
    if (d < distance) { best = i; distance = d; }
  });
  return best;
}

function renderBehaviors() {
  const list = $("behaviors");
  list.innerHTML = "";
  state.behaviors.forEach((name, k) => {
    const item = document.createElement("li");
    item.textContent = name;
    item.style.color = COLORS[k % COLORS.length];
    item.className = k === state.current ? "current" : "";
    item.title = "click: choose · double-click: rename";
    item.onclick = () => { state.current = k; renderBehaviors(); };
    item.ondblclick = () => {
      const renamed = prompt("rename behaviour", name);
      if (renamed && renamed !== name) edit((next) => {
        next.behaviors[k] = renamed;
        next.bouts.forEach((b) => { if (b.behavior === name) b.behavior = renamed; });
      });
    };
    list.appendChild(item);
  });
}

function draw() {
  if (!state.video) return;
  const width = canvas.width = canvas.clientWidth;
  const height = canvas.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const [v0, v1] = state.view;
  const x = (f) => ((f - v0) / (v1 - v0)) * width;
  const who = animals();  // per animal: one row per animal and behaviour, animal by animal
  const perRow = Math.max(1, state.behaviors.length);
  const band = 50 / (perRow * Math.max(1, who.length));
  const rowOf = (b) => (who.length ? who.indexOf(b.animal) * perRow : 0) + state.behaviors.indexOf(b.behavior);
  ctx.font = "10px sans-serif";
  // labelled bouts (top band), one row per behaviour
  for (const [i, bout] of state.bouts.entries()) {
    if (bout.video !== state.video.name) continue;
    const b = { ...bout };
    const d = state.drag;
    if (d?.edge?.bout === i && d.to !== undefined) {  // an edge being dragged: drawn where it would go
      if (d.edge.edge === "start_frame") b.start_frame = Math.min(d.to, b.end_frame);
      else b.end_frame = Math.max(d.to - 1, b.start_frame);
    }
    const k = state.behaviors.indexOf(b.behavior);
    ctx.fillStyle = COLORS[k % COLORS.length];
    ctx.fillRect(x(b.start_frame), rowOf(b) * band, Math.max(1, x(b.end_frame + 1) - x(b.start_frame)), band - 1);
  }
  who.forEach((name, a) => {  // each animal's rows, named; the one being labelled in bold
    ctx.fillStyle = name === state.animal ? "#000" : "#888";
    ctx.font = name === state.animal ? "bold 10px sans-serif" : "10px sans-serif";
    ctx.fillText(name, width - 60, a * perRow * band + 10);
    if (a) { ctx.fillStyle = "#ccc"; ctx.fillRect(0, a * perRow * band - 0.5, width, 1); }
  });
  ctx.font = "10px sans-serif";
  ctx.fillStyle = "#888"; ctx.fillText("labels", 2, 58);
  const p = state.prediction;
  if (p && p.behaviors.length) {
    const lane = 18 / Math.max(1, who.length);  // per animal: one lane each
    for (const b of p.bouts) {  // predicted bouts (middle band)
      const k = state.behaviors.indexOf(b.behavior);
      ctx.fillStyle = COLORS[(k < 0 ? 8 : k) % COLORS.length];
      ctx.globalAlpha = 0.6;
      const top = 62 + (who.length ? Math.max(0, who.indexOf(b.animal)) * lane : 0);
      ctx.fillRect(x(b.start_frame), top, Math.max(1, x(b.end_frame + 1) - x(b.start_frame)), lane - 1);
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = "#888"; ctx.fillText("predicted", 2, 90);
    // probability traces (bottom band): the animal being labelled, where the video has animals
    const proba = who.length ? (p.animals?.[state.animal] || []) : p.proba;
    p.behaviors.forEach((name, j) => {
      const k = state.behaviors.indexOf(name);
      ctx.strokeStyle = COLORS[(k < 0 ? j : k) % COLORS.length];
      ctx.beginPath();
      const step = Math.max(1, Math.floor((v1 - v0) / width));
      let pen = false;
      for (let f = Math.max(0, Math.floor(v0)); f < Math.min(proba.length, v1); f += step) {
        if (!proba[f]) { pen = false; continue; }  // the animal is absent there: a gap
        const y = height - 22 - proba[f][j] * 52;
        pen ? ctx.lineTo(x(f), y) : ctx.moveTo(x(f), y);
        pen = true;
      }
      ctx.stroke();
    });
  }
  const m = state.motifs;
  if (m && m.n_motifs) {  // discovered motifs (bottom band), in the report's colours
    for (const [k, a, b, whose] of m.bouts[state.video.name] || []) {
      if (whose !== undefined && whose !== state.animal) continue;  // per-animal motifs: the labelled animal's
      ctx.fillStyle = m.colours[k];
      ctx.fillRect(x(a), height - 16, Math.max(1, x(b + 1) - x(a)), 14);
    }
    ctx.fillStyle = "#888"; ctx.fillText("motifs", 2, height - 18);
  }
  if (state.marking !== null) {
    ctx.fillStyle = "rgba(255,160,0,0.4)";
    ctx.fillRect(x(Math.min(state.marking, frame())), 0, Math.abs(x(frame()) - x(state.marking)) + 1, height);
  }
  ctx.fillStyle = "#000";
  ctx.fillRect(x(frame()), 0, 1.5, height);  // the cursor
}

function frameAtX(clientX) {
  const rect = canvas.getBoundingClientRect();
  const [v0, v1] = state.view;
  return Math.round(v0 + ((clientX - rect.left) / rect.width) * (v1 - v0));
}
// the labelled bout whose start or end edge lies within 4 px of the pointer, in the pointer's row
function rowAt(offsetY) {  // -> { animal, behavior } of the labels row under the pointer
  const who = animals(), n = state.behaviors.length;
  const row = Math.floor(offsetY / (50 / (n * Math.max(1, who.length))));
  return { animal: who.length ? who[Math.floor(row / n)] : undefined, behavior: state.behaviors[row % n] };
}
function edgeAt(e) {
  if (e.offsetY >= 50 || !state.behaviors.length) return null;
  const { animal, behavior } = rowAt(e.offsetY);
  const [v0, v1] = state.view, rect = canvas.getBoundingClientRect();
  const x = (f) => ((f - v0) / (v1 - v0)) * rect.width;
  const px = e.clientX - rect.left;
  for (const [i, b] of state.bouts.entries()) {
    if (b.video !== state.video.name || b.behavior !== behavior || (animal !== undefined && b.animal !== animal)) continue;
    if (Math.abs(px - x(b.start_frame)) <= 4) return { bout: i, edge: "start_frame" };
    if (Math.abs(px - x(b.end_frame + 1)) <= 4) return { bout: i, edge: "end_frame" };
  }
  return null;
}
// moves one edge of a bout, never past its other edge
async function moveEdge(i, edge, f) {
  const b = state.bouts[i];
  f = Math.min(state.video.n_frames - 1, Math.max(0, f));
  if (edge === "start_frame" ? f > b.end_frame : f < b.start_frame) {
    status(`a bout cannot ${edge === "start_frame" ? "start after it ends" : "end before it starts"}`);
    return;
  }
  if (f !== b[edge]) await edit((next) => { next.bouts[i][edge] = f; });
}
canvas.addEventListener("mousedown", (e) => {
  state.drag = { from: frameAtX(e.clientX), moved: false, edge: state.video ? edgeAt(e) : null };
});
canvas.addEventListener("mousemove", (e) => {
  if (!state.drag) { canvas.style.cursor = state.video && edgeAt(e) ? "ew-resize" : ""; return; }
  state.drag.moved = Math.abs(frameAtX(e.clientX) - state.drag.from) > 1;
  if (state.drag.edge) { state.drag.to = frameAtX(e.clientX); draw(); }
});
canvas.addEventListener("mouseup", async (e) => {
  const drag = state.drag, to = frameAtX(e.clientX);
  state.drag = null;
  if (drag?.edge && drag.moved) {  // the frame under the pointer becomes the bout's first / last frame
    await moveEdge(drag.edge.bout, drag.edge.edge, drag.edge.edge === "end_frame" ? to - 1 : to);
  } else if (drag?.moved && e.offsetY < 60) {
    // dragged in an animal's rows: a bout of that animal
    if (animals().length && e.offsetY < 50 && state.behaviors.length) setAnimal(rowAt(e.offsetY).animal);
    addBout(drag.from, to);
  }
  else seek(to);
});
canvas.addEventListener("wheel", (e) => {  // zoom around the pointer, from the whole video to single frames
  e.preventDefault();
  const [v0, v1] = state.view, at = frameAtX(e.clientX);
  const span = Math.min(state.video.n_frames, Math.max(10, (v1 - v0) * (e.deltaY > 0 ? 1.25 : 0.8)));
  const left = Math.max(0, Math.min(state.video.n_frames - span, at - ((at - v0) / (v1 - v0)) * span));
  state.view = [left, left + span];
  draw();
});

document.addEventListener("keydown", async (e) => {
  if (e.target.tagName === "INPUT" || !state.video) return;
  const f = frame();
  if (e.key === " ") { e.preventDefault(); player.paused ? player.play() : player.pause(); }
  else if (e.key === "ArrowRight") { e.preventDefault(); player.pause(); seek(f + (e.shiftKey ? 10 : 1)); }
  else if (e.key === "ArrowLeft") { e.preventDefault(); player.pause(); seek(f - (e.shiftKey ? 10 : 1)); }
  else if (/^[1-9]$/.test(e.key) && Number(e.key) <= state.behaviors.length) { state.current = Number(e.key) - 1; renderBehaviors(); }
  else if (e.key === "s") {
    if (state.marking === null) { state.marking = f; status(`bout starts at ${f}`); draw(); }
    else { const from = state.marking; state.marking = null; await addBout(from, f); }
  } else if (e.key === "[" || e.key === "]") {  // the bout under the cursor starts / ends here
    const i = boutAt(f) >= 0 ? boutAt(f) : nearestBout(f);
    if (i >= 0) await moveEdge(i, e.key === "[" ? "start_frame" : "end_frame", f);
  } else if (e.key === "Delete" || e.key === "Backspace") {
    const i = boutAt(f);
    if (i >= 0) await edit((next) => next.bouts.splice(i, 1));
  } else if ((e.ctrlKey || e.metaKey) && (e.key === "z" || e.key === "y")) {
    e.preventDefault();  // else the browser's own undo also replays typing in the behaviour field, and focuses it
    await (e.key === "z" ? restore(state.undo, state.redo) : restore(state.redo, state.undo));
  }
  else if (e.key === "f") { await similar(f); }
  else if (e.key === "a" && animals().length) {  // the next animal becomes the labelled one
    const who = animals();
    setAnimal(who[(who.indexOf(state.animal) + 1) % who.length]);
    status(`labelling ${state.animal}`);
  }
});
player.addEventListener("timeupdate", () => showFrame());
player.addEventListener("play", () => drawBoxes());
window.addEventListener("resize", () => drawBoxes());
player.addEventListener("seeked", () => showFrame());

$("add-behavior").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("new-behavior").value.trim();
  if (name) edit((next) => next.behaviors.push(name));
  $("new-behavior").value = "";
});
$("video").addEventListener("change", (e) => loadVideo(e.target.value));
$("train").addEventListener("click", async () => {
  status("training…");
  try {
    const { body } = await api("/api/train", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ head: $("head-kind").value }),
    });
    status(`trained ${$("head-kind").value} on ${body.behaviors.join(", ")}`);
    await loadPrediction();
    followMetrics();
  } catch (error) { status(error.message); }
});

// the next bout of motif k after the cursor: in this video, else in the next video that has one
async function nextMotifBout(k) {
  const names = state.videos.map((v) => v.name);
  const here = names.indexOf(state.video.name), f = frame();
  for (let step = 0; step <= names.length; step++) {
    const name = names[(here + step) % names.length];
    const bouts = (state.motifs.bouts[name] || []).filter(
      (b) => b[0] === k && (b[3] === undefined || b[3] === state.animal) && (step > 0 || b[1] > f));
    if (!bouts.length) continue;
    if (name !== state.video.name) { $("video").value = name; await loadVideo(name); }
    seek(bouts[0][1]);
    status(`motif ${k}: bout ${bouts[0][1]}-${bouts[0][2]} in ${name}`);
    return;
  }
  const first = (state.motifs.bouts[state.video.name] || []).find((b) => b[0] === k);
  if (first) seek(first[1]);
}
// every bout of motif k, in every video, becomes a labelled bout of `name` (one undoable edit;
// a wrong bout is then deleted like any other, with del)
function nameMotif(k, name) {
  return edit((next) => {
    if (!next.behaviors.includes(name)) next.behaviors.push(name);
    for (const [video, bouts] of Object.entries(state.motifs.bouts)) {
      for (const [motif, a, b, animal] of bouts) {
        if (motif !== k) continue;
        // per animal: the motif's own animal (whole-frame motifs: the animal being labelled)
        const whose = animals().length ? { animal: animal ?? state.animal } : {};
        if (next.bouts.some((x) => x.video === video && x.behavior === name && x.start_frame === a && x.end_frame === b && x.animal === whose.animal)) continue;
        next.bouts.push({ video, ...whose, behavior: name, start_frame: a, end_frame: b });
      }
    }
  });
}
function renderMotifs() {
  const m = state.motifs, list = $("motifs");
  $("motif-panel").hidden = !(m && m.n_motifs);
  if (!m) return;
  list.innerHTML = "";
  for (let k = 0; k < m.n_motifs; k++) {
    const count = Object.values(m.bouts).reduce((n, bouts) => n + bouts.filter((b) => b[0] === k).length, 0);
    const item = document.createElement("li");
    item.className = "motif";
    item.dataset.motif = k;
    const swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = m.colours[k];
    const text = document.createElement("span");
    text.textContent = ` ${count} bouts `;
    text.onclick = () => nextMotifBout(k);
    const button = document.createElement("button");
    button.textContent = "name…";
    button.onclick = () => {
      const name = prompt(`name motif ${k} (its ${count} bouts become labels)`);
      if (name && name.trim()) nameMotif(k, name.trim());
    };
    item.append(swatch, text, button);
    list.appendChild(item);
  }
}

function segmentList(list, items, label) {
  list.innerHTML = "";
  for (const s of items) {
    const item = document.createElement("li");
    const thumb = document.createElement("img");
    thumb.src = `/api/videos/${encodeURIComponent(s.video)}/frames/${s.start_frame}.jpg`;
    item.append(thumb, `${s.video}${s.animal ? " " + s.animal : ""} ${s.start_frame}-${s.end_frame} ${label(s)}`);
    item.onclick = async () => {
      if (s.video !== state.video.name) { $("video").value = s.video; await loadVideo(s.video); }
      if (s.animal) setAnimal(s.animal);
      seek(s.start_frame);
      state.marking = null;
      state.pending = s;  // "s" twice, or enter, labels it with the current behaviour
    };
    list.appendChild(item);
  }
}
$("suggest").addEventListener("click", async () => {
  try {
    const { body } = await api("/api/suggest?n=10");
    segmentList($("suggestions"), body, (s) => `(uncertainty ${s.uncertainty.toFixed(2)})`);
  } catch (error) { status(error.message); }
});
async function similar(f) {
  const i = boutAt(f);
  const [start, end] = i >= 0 ? [state.bouts[i].start_frame, state.bouts[i].end_frame] : [f, Math.min(f + Math.round(fps()), state.video.n_frames - 1)];
  try {
    const { body } = await api(`/api/similar?video=${encodeURIComponent(state.video.name)}&start=${start}&end=${end}&k=10`);
    segmentList($("similar"), body, (s) => `(score ${s.score.toFixed(2)})`);
  } catch (error) { status(error.message); }
}
document.addEventListener("keydown", async (e) => {  // enter: label the chosen suggestion or hit
  if (e.key === "Enter" && state.pending && e.target.tagName !== "INPUT") {
    const s = state.pending; state.pending = null;
    await addBout(s.start_frame, s.end_frame);
  }
});

(async function start() {
  state.videos = (await api("/api/videos")).body;
  await reloadLabels();
  for (const v of state.videos) {
    const option = document.createElement("option");
    option.value = option.textContent = v.name;
    $("video").appendChild(option);
  }
  renderBehaviors();
  state.motifs = (await api("/api/motifs")).body;
  renderMotifs();
  if (state.videos.length) await loadVideo(state.videos[0].name);
})();

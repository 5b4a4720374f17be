// The page's plumbing: pointer events, canvases, buttons, the browser's
// storage and the two Workers. Every decision about the drawing, the
// prediction, the preprocessing and the training is Python's
// (purenet.app.page, in worker.js); nothing here recomputes any of it.
import { Store } from "./store.js";

const PAPER = 280; // the drawing sheet in drawing units (purenet.app.state.PAPER)
const PEN_WIDTH = 20; // in drawing units (purenet.app.state.PEN_WIDTH), for the ink on screen
const $ = (id) => document.getElementById(id);

// ----------------------------------------------------------------- Workers
class PyWorker {
  constructor(role) {
    this.role = role;
    this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: role });
    this.next = 1;
    this.waiting = new Map();
    this.worker.onmessage = (event) => {
      const { id, ok, value, error, progress } = event.data;
      const entry = this.waiting.get(id);
      if (!entry) return;
      if (progress !== undefined) return entry.onProgress?.(progress);
      this.waiting.delete(id);
      ok ? entry.resolve(value) : entry.reject(new Error(error));
    };
    this.worker.onerror = (event) => this.fail(new Error(event.message || `the ${role} worker failed`));
  }
  call(op, args = {}, onProgress = null, transfer = []) {
    const id = this.next++;
    return {
      id,
      result: new Promise((resolve, reject) => {
        this.waiting.set(id, { resolve, reject, onProgress });
        this.worker.postMessage({ id, op, ...args }, transfer);
      }),
    };
  }
  ask(op, args = {}, onProgress = null, transfer = []) {
    return this.call(op, args, onProgress, transfer).result;
  }
  fail(error) {
    for (const entry of this.waiting.values()) entry.reject(error);
    this.waiting.clear();
  }
  terminate() {
    this.worker.terminate();
    this.fail(new Error("cancelled"));
  }
}

const store = new Store();
const live = new PyWorker("live");
let trainer = null; // started once the page is ready; replaced when a fine-tune is cancelled
let trainerReady = null;
let modelBytes = null; // the live model's file, once known (for download and the trainer)
let drawings = []; // {key, label, input, strokes, seen_rgba}

function startTrainer() {
  trainer = new PyWorker("trainer");
  trainerReady = trainer.ask("start", { model: null });
  trainerReady.catch(() => {});
}

function say(id, text) {
  $(id).textContent = text;
}

// ------------------------------------------------------------ the drawing
const sheet = $("sheet");
const ink = sheet.getContext("2d");
let scale = 1; // canvas pixels per drawing unit
let pen = null; // {pointerId, last: [x, y], pending: [[x, y], ...]}
let inside = false; // the look-inside view is open
let viewing = false; // a view request is on its way (live prediction while drawing)
let lastView = null;

function fitCanvas() {
  const size = sheet.getBoundingClientRect().width;
  const pixels = Math.round(size * (window.devicePixelRatio || 1));
  if (pixels > 0 && sheet.width !== pixels) {
    sheet.width = sheet.height = pixels;
  }
  scale = sheet.width / PAPER;
  redraw(lastView ? lastView.strokes : []);
}

function toPaper(event) {
  const box = sheet.getBoundingClientRect();
  return [((event.clientX - box.left) * PAPER) / box.width, ((event.clientY - box.top) * PAPER) / box.height];
}

function inkStyle() {
  ink.lineCap = ink.lineJoin = "round";
  ink.lineWidth = PEN_WIDTH * scale;
  ink.strokeStyle = ink.fillStyle = "#111";
}

function dot([x, y]) {
  inkStyle();
  ink.beginPath();
  ink.arc(x * scale, y * scale, (PEN_WIDTH * scale) / 2, 0, 2 * Math.PI);
  ink.fill();
}

function segment(a, b) {
  inkStyle();
  ink.beginPath();
  ink.moveTo(a[0] * scale, a[1] * scale);
  ink.lineTo(b[0] * scale, b[1] * scale);
  ink.stroke();
}

function redraw(strokes) {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, sheet.width, sheet.height);
  for (const stroke of strokes) {
    dot(stroke[0]);
    for (let i = 1; i < stroke.length; i++) segment(stroke[i - 1], stroke[i]);
  }
}

function flushPoints() {
  if (pen && pen.pending.length) {
    live.ask("extend", { points: pen.pending });
    pen.pending = [];
  }
}

// While the pen moves: the points go to Python in bunches and a fresh
// prediction is asked for whenever the previous one has come back.
function liveView() {
  if (viewing || !pen) return;
  flushPoints();
  viewing = true;
  live.ask("view", { inside }).then(show, report).finally(() => (viewing = false));
}

sheet.addEventListener("pointerdown", (event) => {
  if (!ready || event.button > 0 || pen) return;
  event.preventDefault();
  sheet.setPointerCapture(event.pointerId);
  const p = toPaper(event);
  pen = { pointerId: event.pointerId, last: p, pending: [] };
  dot(p);
  live.ask("begin", { x: p[0], y: p[1] });
});

sheet.addEventListener("pointermove", (event) => {
  if (!pen || event.pointerId !== pen.pointerId) return;
  event.preventDefault();
  const points = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of points.length ? points : [event]) {
    const p = toPaper(e);
    segment(pen.last, p);
    pen.last = p;
    pen.pending.push(p);
  }
  liveView();
});

function penUp(event) {
  if (!pen || event.pointerId !== pen.pointerId) return;
  flushPoints();
  pen = null;
  const lifted = performance.now();
  window.__penLifts = (window.__penLifts || 0) + 1; // answers still to come (read by the tests)
  live.ask("end", { inside }).then((view) => {
    show(view);
    window.__lastPredictionMs = performance.now() - lifted; // read by the measurements
  }, report).finally(() => window.__penLifts--);
}
sheet.addEventListener("pointerup", penUp);
sheet.addEventListener("pointercancel", penUp);

$("undo").addEventListener("click", () => live.ask("undo", { inside }).then(show, report));
$("clear").addEventListener("click", () => live.ask("clear").then(show, report));

// ---------------------------------------------------------- what it says
const bars = $("bars");

function buildBars(names) {
  bars.replaceChildren(
    ...names.map((name) => {
      const li = document.createElement("li");
      li.innerHTML = `<span class="name"></span><span class="bar"><span class="fill"></span></span><span class="value"></span>`;
      li.querySelector(".name").textContent = name;
      return li;
    }),
  );
}

function paint(canvas, rgba, width, height) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

function show(view) {
  lastView = window.__lastView = view;
  if (!pen) redraw(view.strokes);
  $("prediction").textContent = view.digit;
  // Python's words when it gives no digit (e.g. "not a digit") go beside the empty prediction
  $("verdict").textContent = view.verdict || (view.digit ? `${Math.round(view.confidence * 100)}% sure` : "Draw a digit");
  if (bars.children.length !== view.names.length) buildBars(view.names);
  view.probabilities.forEach((p, i) => {
    const li = bars.children[i];
    li.classList.toggle("best", view.digit !== "" && view.names[i] === view.digit);
    li.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".value").textContent = view.digit ? `${(100 * p).toFixed(1)}%` : "";
  });
  const seen = $("seen");
  if (view.seen_rgba) paint(seen, view.seen_rgba, 28, 28);
  else seen.getContext("2d").clearRect(0, 0, 28, 28);
  if (inside) showMaps(view);
  const drawn = view.strokes.length > 0;
  $("undo").disabled = $("clear").disabled = !drawn;
  for (const b of $("labels").children) b.disabled = !drawn;
}

function showMaps(view) {
  const maps = $("maps");
  if (!view.maps) {
    maps.replaceChildren();
    return;
  }
  const [h, w] = view.map_shape;
  while (maps.children.length < view.maps.length) maps.append(document.createElement("canvas"));
  while (maps.children.length > view.maps.length) maps.lastChild.remove();
  view.maps.forEach((rgba, i) => paint(maps.children[i], rgba, w, h));
}

async function showFilters() {
  const found = await live.ask("filters");
  const box = $("filters");
  box.replaceChildren();
  if (!found) {
    box.textContent = "This model has no convolution layer first.";
    return;
  }
  const [kh, kw] = found.shape;
  for (const rgba of found.kernels) {
    const c = document.createElement("canvas");
    paint(c, rgba, kw, kh);
    box.append(c);
  }
}

$("inside").addEventListener("toggle", () => {
  inside = $("inside").open;
  if (inside) {
    showFilters().catch(report);
    live.ask("view", { inside }).then(show, report);
  }
});

function report(error) {
  say("status", `Something went wrong: ${error.message || error}`);
}

// ----------------------------------------------------------------- teach
function buildLabels() {
  for (let d = 0; d <= 9; d++) {
    const b = document.createElement("button");
    b.textContent = String(d);
    b.dataset.testid = `label-${d}`;
    b.title = `This drawing is a ${d}`;
    b.disabled = true;
    b.addEventListener("click", () => label(d).catch(report));
    $("labels").append(b);
  }
}

async function label(digit) {
  if (!lastView || !lastView.seen) return;
  const input = await live.ask("labelled");
  const item = { label: digit, input: Array.from(input), strokes: lastView.strokes, seen_rgba: lastView.seen_rgba, time: Date.now() };
  item.key = await store.addDrawing(item);
  drawings.push(item);
  showDrawings();
  show(await live.ask("clear"));
  say("finetune-status", `Kept as a ${digit}.`);
}

function showDrawings() {
  const counts = {};
  for (const d of drawings) counts[d.label] = (counts[d.label] || 0) + 1;
  const n = drawings.length;
  say("drawings-count", n === 0 ? "No drawings yet." :
    `${n} drawing${n === 1 ? "" : "s"}: ` + Object.keys(counts).sort().map((k) => `${counts[k]}\u00d7${k}`).join(", "));
  const box = $("drawings");
  box.replaceChildren(
    ...drawings.slice(-60).map((d) => {
      const fig = document.createElement("figure");
      const c = document.createElement("canvas");
      paint(c, d.seen_rgba, 28, 28);
      const cap = document.createElement("figcaption");
      cap.textContent = String(d.label);
      fig.append(c, cap);
      fig.title = "Click to show it on the sheet";
      fig.addEventListener("click", () => live.ask("load_strokes", { strokes: d.strokes, inside }).then(show, report));
      return fig;
    }),
  );
  $("finetune").disabled = !ready || n === 0 || busy;
  $("forget").disabled = n === 0 || busy;
}

let busy = false; // a fine-tune or a training run is going on

async function fineTune() {
  busy = true;
  showDrawings();
  $("train-start").disabled = true;
  $("cancel-finetune").hidden = false;
  const bar = $("finetune-progress");
  bar.hidden = false;
  bar.value = 0;
  say("finetune-status", "Starting the trainer\u2026");
  const started = performance.now();
  try {
    await trainerReady;
    if (!modelBytes) modelBytes = await live.ask("model_bytes");
    const job = trainer.call("finetune", {
      model: modelBytes,
      images: drawings.map((d) => d.input),
      digits: drawings.map((d) => d.label),
      seed: drawings.length,
    }, ({ done, total }) => {
      bar.value = done / total;
      say("finetune-status", `Fine-tuning: batch ${done} of ${total}`);
    });
    const result = await job.result;
    await useModel(result.model, "fine-tuned on your drawings");
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    window.__lastFinetuneSeconds = Number(seconds);
    say("finetune-status", `${result.summary}. (${seconds} s)`);
  } catch (e) {
    say("finetune-status", e.message === "cancelled" ? "Cancelled: the model is as it was." : `Fine-tuning failed: ${e.message}`);
  } finally {
    busy = false;
    bar.hidden = true;
    $("cancel-finetune").hidden = true;
    $("train-start").disabled = !ready;
    showDrawings();
  }
}

$("finetune").addEventListener("click", () => fineTune());
$("cancel-finetune").addEventListener("click", () => {
  // the fine-tune is one Python call: stopping it means stopping its Worker
  trainer.terminate();
  startTrainer();
});
$("forget").addEventListener("click", async () => {
  if (!confirm("Forget all your drawings?")) return;
  await store.clearDrawings();
  drawings = [];
  showDrawings();
});

// ------------------------------------------------------------- the model
async function useModel(bytes, how, name) {
  const { view, model } = await live.ask("set_model", { bytes, name });
  modelBytes = bytes;
  await store.putModel({ bytes, how, time: Date.now() });
  showModel(model, how);
  show(view);
  if (inside) showFilters().catch(report);
}

function showModel(model, how) {
  say("model-info", `${how}: ${model.layers.join(" \u2192 ")} (${model.parameters.toLocaleString("en")} parameters; classes ${model.classes.join(" ")})`);
  $("reset").disabled = how === "the shipped model";
}

$("download").addEventListener("click", async () => {
  if (!modelBytes) modelBytes = await live.ask("model_bytes");
  const url = URL.createObjectURL(new Blob([modelBytes], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "purenet-model.safetensors";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

async function loadFile(file) {
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    await useModel(bytes, `loaded from ${file.name}`, file.name);
    say("model-status", `Loaded ${file.name}.`);
  } catch (e) {
    say("model-status", `Could not load ${file.name}: ${e.message}`);
  }
}

$("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) loadFile(file);
  event.target.value = "";
});

const drop = $("drop");
window.addEventListener("dragover", (event) => {
  if (!event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return;
  event.preventDefault();
  drop.hidden = false;
});
window.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) drop.hidden = true;
});
window.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.hidden = true;
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) loadFile(file);
});

$("reset").addEventListener("click", async () => {
  const { view, model, bytes } = await live.ask("reset_model");
  modelBytes = bytes;
  await store.deleteModel();
  showModel(model, "the shipped model");
  show(view);
  say("model-status", "Back to the shipped model.");
});

// ----------------------------------------------------- train from scratch
const chart = { points: [], tests: [], total: 1 };
let training = null; // the running job's id

function drawChart() {
  const c = $("chart");
  const width = c.clientWidth || 600;
  const ratio = window.devicePixelRatio || 1;
  c.width = width * ratio;
  c.height = 220 * ratio;
  const g = c.getContext("2d");
  g.scale(ratio, ratio);
  const [w, h, left, bottom] = [width, 220, 36, 20];
  g.clearRect(0, 0, w, h);
  g.font = "11px sans-serif";
  g.strokeStyle = "#ccc";
  g.fillStyle = "#555";
  for (let k = 0; k <= 4; k++) {
    const y = 8 + ((h - bottom - 8) * k) / 4;
    g.beginPath();
    g.moveTo(left, y);
    g.lineTo(w - 8, y);
    g.stroke();
    g.fillText(`${100 - 25 * k}%`, 2, y + 4);
  }
  const x = (seen) => left + ((w - left - 8) * seen) / chart.total;
  const yAcc = (a) => 8 + (h - bottom - 8) * (1 - a);
  const maxLoss = Math.max(2.5, ...chart.points.map((p) => p.loss));
  const yLoss = (l) => 8 + (h - bottom - 8) * (1 - l / maxLoss);
  const line = (colour, values, y) => {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    values.forEach((p, i) => (i ? g.lineTo(x(p.seen), y(p)) : g.moveTo(x(p.seen), y(p))));
    g.stroke();
  };
  line("#c0392b", chart.points, (p) => yLoss(p.loss));
  line("#2471a3", chart.points, (p) => yAcc(p.accuracy));
  g.fillStyle = "#1e8449";
  for (const t of chart.tests) {
    g.beginPath();
    g.arc(x(t.seen), yAcc(t.accuracy), 4, 0, 2 * Math.PI);
    g.fill();
  }
  g.fillStyle = "#c0392b";
  g.fillText("loss", left + 4, h - 5);
  g.fillStyle = "#2471a3";
  g.fillText("training accuracy", left + 40, h - 5);
  g.fillStyle = "#1e8449";
  g.fillText("\u25cf test accuracy", left + 160, h - 5);
}

let trained = null;

async function trainScratch() {
  busy = true;
  showDrawings();
  $("train-start").disabled = true;
  $("train-stop").hidden = false;
  $("train-use").hidden = true;
  const arch = $("arch").value;
  const epochs = Math.max(1, Math.min(20, Number($("epochs").value) || 1));
  chart.points = [];
  chart.tests = [];
  drawChart();
  say("train-status", "Starting the trainer\u2026");
  try {
    await trainerReady;
    const job = trainer.call("train", { arch, epochs, seed: 0, batches: 10 }, (p) => {
      chart.total = p.total;
      chart.points.push({ seen: p.seen, loss: p.loss, accuracy: p.accuracy });
      if (p.test_accuracy !== null && p.test_accuracy !== undefined) chart.tests.push({ seen: p.seen, accuracy: p.test_accuracy });
      drawChart();
      const test = chart.tests.length ? `; test accuracy ${(100 * chart.tests.at(-1).accuracy).toFixed(1)}%` : "";
      say("train-status", `Epoch ${Math.min(p.epoch + 1, epochs)} of ${epochs}: ${p.seen.toLocaleString("en")} of ${p.total.toLocaleString("en")} samples, ` +
        `loss ${p.loss.toFixed(3)}${test} (${Math.round(p.samples_per_s)} samples/s)`);
      window.__trainProgress = p;
    });
    training = job.id;
    const result = await job.result;
    trained = result;
    window.__trainResult = { state: result.state, history: result.history, stopped: result.stopped };
    const last = result.history.test_accuracy.at(-1);
    say("train-status", (result.stopped ? "Stopped. " : "Done. ") + $("train-status").textContent.replace(/^Epoch[^:]*: /, "") +
      (last !== undefined ? `. Test accuracy: ${(100 * last).toFixed(1)}%.` : "."));
    $("train-use").hidden = false;
  } catch (e) {
    say("train-status", `Training failed: ${e.message}`);
  } finally {
    training = null;
    busy = false;
    $("train-stop").hidden = true;
    $("train-start").disabled = !ready;
    showDrawings();
  }
}

$("train-start").addEventListener("click", () => trainScratch());
$("train-stop").addEventListener("click", () => {
  // checked by the Worker between two training steps: the model trained so far is kept
  if (training !== null) trainer.ask("stop", { target: training });
});
$("train-use").addEventListener("click", async () => {
  if (!trained) return;
  await useModel(trained.model, `trained here from scratch (${$("arch").value})`).catch(report);
  $("train-use").hidden = true;
});

// ---------------------------------------------------------------- start
let ready = false;

async function main() {
  buildLabels();
  fitCanvas();
  new ResizeObserver(() => fitCanvas()).observe(sheet);
  drawChart();
  let saved = null;
  try {
    await store.open();
    saved = await store.getModel();
    drawings = await store.allDrawings();
  } catch (e) {
    say("finetune-status", `This browser keeps nothing across visits here (${e.message}).`);
  }
  const started = await live.ask("start", { model: saved ? saved.bytes : null });
  window.__startTimings = started.timings;
  let how = saved ? saved.how : "the shipped model";
  if (started.fallback) {
    how = "the shipped model";
    say("model-status", `The saved model could not be read (${started.fallback}); using the shipped one.`);
  } else if (saved) {
    modelBytes = saved.bytes;
  }
  showModel(started.model, how);
  show(await live.ask("view", { inside }));
  ready = true;
  window.__readyMs = performance.now(); // since navigation (read by the measurements)
  document.body.dataset.ready = "true";
  say("status", `Ready: purenet in Python in your browser (Pyodide ${started.pyodide}). Draw a digit.`);
  $("download").disabled = false;
  $("train-start").disabled = false;
  showDrawings();
  startTrainer();
}

main().catch(report);

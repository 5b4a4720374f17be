// A Web Worker running purenet in Pyodide. The page starts two: "live"
// (the drawing and the model reading it: purenet.app.page.Sketch) and
// "trainer" (fine-tuning and training from scratch). Python does the work;
// this file only passes messages.
//
// Requests: {id, op, ...}; answers: {id, ok: true, value} or {id, ok: false,
// error}; a long job also posts {id, progress: {...}} as it goes. Stopping:
// a training run checks for a {op: "stop"} message between two of its
// steps (no SharedArrayBuffer needed); a fine-tune is one Python call, so
// the page cancels it by terminating this Worker.
import { loadPyodide } from "./pyodide/pyodide.mjs";

let py = null;
let page = null; // the purenet.app.page module
let sketch = null; // live role
let stopping = new Set(); // ids of training runs asked to stop
let asBytes = null; // Python: a JavaScript Uint8Array -> bytes

const toJs = (proxy) => {
  if (proxy === undefined || proxy === null || typeof proxy !== "object" || !proxy.toJs) return proxy;
  const value = proxy.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  proxy.destroy();
  return value;
};

// Python starts loading as soon as the Worker exists; "start" only adds the model.
async function boot() {
  const t = [performance.now()];
  const build = await (await fetch(new URL("./build.json", import.meta.url))).json();
  // the wheel downloads while Pyodide starts
  const get = (name) => fetch(new URL(`./${name}`, import.meta.url)).then((r) => r.arrayBuffer());
  const wheel = get(build.wheel);
  const pyc = get(build.bytecode);
  py = await loadPyodide({ indexURL: new URL("./pyodide/", import.meta.url).href });
  t.push(performance.now());
  const site = py.runPython("import site; site.getsitepackages()[0]");
  py.unpackArchive(new Uint8Array(await wheel), "wheel", { extractDir: site });
  // purenet's modules compiled at build time: the import need not compile them
  py.unpackArchive(new Uint8Array(await pyc), "zip", { extractDir: site });
  page = py.pyimport("purenet.app.page");
  asBytes = py.runPython("lambda buffer: buffer.to_bytes()");
  t.push(performance.now());
  return { build, t };
}
const booting = boot();
booting.catch(() => {}); // reported by "start"

async function start({ model }) {
  const { build, t } = await booting;
  const loaded = loadModel(model);
  sketch = page.Sketch(loaded.model);
  loaded.model.destroy();
  t.push(performance.now());
  const ms = (i) => Math.round(t[i + 1] - t[i]);
  return {
    pyodide: py.version, wheel: build.wheel, fallback: loaded.fallback, model: toJs(sketch.describe()),
    timings: { pyodide: ms(0), purenet: ms(1), model: ms(2) },
  };
}

// The saved model if it loads, else the shipped one (with the reason).
function loadModel(bytes) {
  if (bytes) {
    try {
      return { model: page.model_from_bytes(asBytes(bytes)), fallback: null };
    } catch (e) {
      return { model: shipped(), fallback: pythonMessage(e) };
    }
  }
  return { model: shipped(), fallback: null };
}

// A Python exception's last line, without its class: what the person reads.
const pythonMessage = (e) =>
  String((e && e.message) || e).trim().split("\n").pop().replace(/^[\w.]*(Error|Exception|Warning)\w*: /, "");

const shipped = () => py.runPython("import purenet as pn\nfrom purenet.cli import PRETRAINED_MODEL\npn.load(PRETRAINED_MODEL)");

const ops = {
  start,
  begin: ({ x, y }) => sketch.begin(x, y),
  extend: ({ points }) => sketch.extend(py.toPy(points)),
  view: ({ inside }) => toJs(sketch.view(inside)),
  end: ({ inside }) => toJs(sketch.end(inside)),
  undo: ({ inside }) => toJs(sketch.undo(inside)),
  clear: () => toJs(sketch.clear()),
  load_strokes: ({ strokes, inside }) => toJs(sketch.load_strokes(py.toPy(strokes), inside)),
  labelled: () => toJs(sketch.labelled()),
  filters: () => toJs(sketch.filters()),
  describe: () => toJs(sketch.describe()),
  model_bytes: () => toJs(page.model_to_bytes(sketch.model)),
  set_model: ({ bytes, name }) => {
    const model = page.model_from_bytes(asBytes(bytes), name || "model.safetensors");
    const view = toJs(sketch.set_model(model));
    model.destroy();
    return { view, model: toJs(sketch.describe()) };
  },
  reset_model: () => {
    const model = shipped();
    const view = toJs(sketch.set_model(model));
    model.destroy();
    return { view, model: toJs(sketch.describe()), bytes: toJs(page.model_to_bytes(sketch.model)) };
  },
  finetune: ({ id, model, images, digits, seed }) => {
    const live = page.model_from_bytes(asBytes(model));
    const progress = (done, total) => postMessage({ id, progress: { done, total } });
    const result = page.finetune.callKwargs(live, py.toPy(images), py.toPy(digits), { seed: seed || 0, on_progress: progress, check: 200 });
    live.destroy();
    return toJs(result);
  },
  train: async ({ id, arch, epochs, seed, limit, test_limit, batches }) => {
    // JavaScript's null is not Python's None (undefined is): leave out what is not set
    const options = { arch, epochs, seed: seed || 0 };
    if (limit) options.limit = limit;
    if (test_limit) options.test_limit = test_limit;
    const run = page.Training.callKwargs(options);
    try {
      let state = null;
      while (!state || !state.done) {
        state = toJs(run.step(batches || 10));
        postMessage({ id, progress: state });
        // let a "stop" message in between two steps
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (stopping.has(id)) break;
      }
      return { stopped: stopping.has(id), state, history: toJs(run.history), model: toJs(run.model_bytes()) };
    } finally {
      stopping.delete(id);
      run.destroy();
    }
  },
  stop: ({ target }) => stopping.add(target),
};

// Requests run one at a time, in order (a drawing's points must reach Python
// in the order they were drawn); a training run's "stop" is handled at once.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const request = event.data;
  if (request.op === "stop") {
    ops.stop(request);
    postMessage({ id: request.id, ok: true, value: null });
    return;
  }
  queue = queue.then(async () => {
    try {
      const value = await ops[request.op](request);
      const transfer = [];
      if (value && value.model instanceof Uint8Array) transfer.push(value.model.buffer);
      postMessage({ id: request.id, ok: true, value }, transfer);
    } catch (e) {
      postMessage({ id: request.id, ok: false, error: pythonMessage(e) });
    }
  });
};

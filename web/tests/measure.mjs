// The figures of docs/web.md, measured on the built site in headless
// Chromium (minutes; not part of CI, whose end-to-end test is the small
// seeded version of the same steps):
//
//   npm ci --prefix web && npm run build --prefix web
//   node web/tests/measure.mjs [--epochs 2] [--out docs/web-measurements.json]
//
// 1. page ready: navigation to document.body.dataset.ready, fresh profile, 3 loads;
// 2. prediction after pen lift: pointerup to the answer shown, over the drawings of 4 and 6;
// 3. the main thread's long tasks (PerformanceObserver "longtask") while a
//    fine-tune and a training run go on in the Worker;
// 4. fine-tune on 20 labelled drawings (2 of each digit), click to done;
// 5. cnn-small trained from scratch in the page on the bundled subset: test
//    accuracy on the bundled test split and samples/s, beside CPython's
//    samples/s for the same purenet.app.page.Training on this machine;
// 6. 10 drawings of each digit (scripts/drawings.py, held-out templates,
//    seed 77, or those of --seeds 77,5,...) drawn with the mouse and read by the page.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { draw, launch, predictionAfter } from "./browser.mjs";
import { serve } from "./server.mjs";

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(web);
const PYTHON = process.env.PYTHON || "python3";
const option = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const EPOCHS = Number(option("--epochs", 2));
const OUT = option("--out", null);
const SEEDS = option("--seeds", "77").split(",").map(Number);

const python = (code, ...args) =>
  execFileSync(PYTHON, ["-c", code, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, PYTHONPATH: root } });
const drawings = (n, seed) => JSON.parse(python(`
import json, sys
sys.path.insert(0, "scripts")
import drawings
print(json.dumps([{"digit": d.digit, "strokes": d.strokes} for d in drawings.generate(${n}, seed=${seed}, split="held_out")]))
`));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);

const watchLongTasks = () => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
};
const longTasksSince = (page, t0) => page.evaluate((t) => window.__longTasks.filter((e) => e.start >= t).map((e) => e.duration), t0);

const results = { machine: { cpus: cpus().length, load_before: loadavg().map((x) => round(x, 2)) } };
const server = await serve(join(web, "dist"));
try {
  // 1. page ready, three fresh profiles
  const ready = [];
  for (let i = 0; i < 3; i++) {
    const b = await launch();
    const page = await b.context.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180000 });
    ready.push(await page.evaluate(() => ({ ms: window.__readyMs, parts: window.__startTimings })));
    await b.close();
  }
  results.ready_ms = ready.map((r) => Math.round(r.ms));
  results.ready_parts_ms = ready.map((r) => r.parts);
  log("ready", results.ready_ms, JSON.stringify(results.ready_parts_ms));
  const save = () => OUT && writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");
  save();

  const b = await launch();
  const page = await b.context.newPage();
  await page.addInitScript(watchLongTasks);
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180000 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // 2 and 6: the drawings, and the time from pen lift to the answer
  const latencies = [];
  results.drawings = {};
  for (const seed of SEEDS) {
    const items = drawings(100, seed);
    const wrong = [];
    for (const item of items) {
      const digit = await predictionAfter(page, () => draw(page, item.strokes));
      latencies.push(await page.evaluate(() => window.__lastPredictionMs));
      if (digit !== String(item.digit)) wrong.push(`${item.digit}->${digit}`);
      await page.getByTestId("clear").click();
    }
    results.drawings[`seed ${seed}`] = { right: items.length - wrong.length, of: items.length, wrong };
    log("drawings", seed, items.length - wrong.length, "/", items.length, wrong.join(" "));
  }
  results.prediction_ms = { median: round(median(latencies)), max: round(Math.max(...latencies)), n: latencies.length };
  log("prediction", JSON.stringify(results.prediction_ms));
  save();

  // 4: fine-tune on 20 labelled drawings
  const teach = drawings(20, 123);
  for (const item of teach) {
    await predictionAfter(page, () => draw(page, item.strokes));
    await page.getByTestId(`label-${item.digit}`).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="prediction"]').textContent === "");
  }
  await page.waitForFunction(() => !document.querySelector('[data-testid="finetune"]').disabled, null, { timeout: 180000 });
  let t0 = await page.evaluate(() => performance.now());
  await page.getByTestId("finetune").click();
  await page.waitForFunction(() => window.__lastFinetuneSeconds !== undefined, null, { timeout: 900000 });
  const ft = await longTasksSince(page, t0);
  results.finetune = {
    seconds: await page.evaluate(() => window.__lastFinetuneSeconds),
    status: await page.getByTestId("finetune-status").textContent(),
    long_tasks: ft.length, longest_task_ms: ft.length ? round(Math.max(...ft)) : 0,
  };
  log("finetune", JSON.stringify(results.finetune));
  save();

  // 5: train cnn-small from scratch
  await page.getByTestId("epochs").fill(String(EPOCHS));
  t0 = await page.evaluate(() => performance.now());
  const started = Date.now();
  await page.getByTestId("train-start").click();
  await page.waitForFunction(() => window.__trainResult !== undefined, null, { timeout: 3 * 3600000, polling: 1000 });
  const tr = await longTasksSince(page, t0);
  const train = await page.evaluate(() => window.__trainResult);
  results.train = {
    arch: "cnn-small", epochs: EPOCHS, test_accuracy: train.history.test_accuracy,
    samples_per_s: round(train.state.samples_per_s), seconds: Math.round((Date.now() - started) / 1000),
    long_tasks: tr.length, longest_task_ms: tr.length ? round(Math.max(...tr)) : 0,
  };
  log("train", JSON.stringify(results.train));
  save();
  await page.screenshot({ path: join(root, "docs", "images", "web-train.png"), fullPage: true });

  results.page_errors = errors;
  await b.close();

  // CPython, same machine, same Training class: the first 2,000 samples of an epoch
  results.cpython_samples_per_s = round(Number(python(`
from purenet.app.page import Training
run = Training("cnn-small", epochs=1, limit=2000, test_limit=1)
while not run.done:
    state = run.step(10)
print(state["samples_per_s"])
`)));
  log("CPython", results.cpython_samples_per_s, "samples/s");
} finally {
  await server.close();
}
results.machine.load_after = loadavg().map((x) => round(x, 2));
console.log(JSON.stringify(results, null, 2));
if (OUT) writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");

// End to end: the built site (web/dist) in headless Chromium, driven with
// real pointer events through Playwright. Run: npm test --prefix web (after
// the build). Under CI=true a missing Chromium or build is a failure.
//
// The drawings are scripts/drawings.py's synthetic mouse recordings (10 of
// each digit, held-out templates, seed 77: the sample tests/test_drawings.py
// reads through the Tk app's canvas path, where it must get 95 right).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { draw, launch, predictionAfter } from "./browser.mjs";
import { serve } from "./server.mjs";

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(web);
const dist = join(web, "dist");
const PYTHON = process.env.PYTHON || "python3";
const PER_DIGIT = Number(process.env.PURENET_WEB_PER_DIGIT || 10);
const LONG = { timeout: 180000 }; // a guard against hangs, not a timing check

function python(code, ...args) {
  return execFileSync(PYTHON, ["-c", code, ...args], {
    cwd: root, encoding: "utf8", env: { ...process.env, PYTHONPATH: root + (process.env.PYTHONPATH ? ":" + process.env.PYTHONPATH : "") },
  });
}

const drawings = (n, seed) => JSON.parse(python(`
import json, sys
sys.path.insert(0, "scripts")
import drawings
print(json.dumps([{"digit": d.digit, "strokes": d.strokes, "size": [d.width, d.height]}
                  for d in drawings.generate(${n}, seed=${seed}, split="held_out")]))
`));

describe("the page in headless Chromium", { timeout: 900000 }, () => {
  let server, browser, page, scratch;
  const errors = [];

  before(async () => {
    assert.ok(existsSync(join(dist, "index.html")), "web/dist is missing: run npm run build --prefix web first");
    scratch = mkdtempSync(join(tmpdir(), "purenet-e2e-"));
    server = await serve(dist);
    browser = await launch();
    page = await browser.context.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const ready = () => page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 120000 });

  test("gets ready with nothing drawn", LONG, async () => {
    await page.goto(server.url);
    await ready();
    assert.equal(await page.getByTestId("prediction").textContent(), "");
    assert.match(await page.getByTestId("model-info").textContent(), /^the shipped model: Conv2D/);
  });

  test(`reads ${PER_DIGIT} drawings of each digit drawn with the mouse`, { timeout: 600000 }, async () => {
    const items = drawings(10 * PER_DIGIT, 77);
    const wrong = [];
    for (const item of items) {
      assert.deepEqual(item.size, [280, 280]);
      const digit = await predictionAfter(page, () => draw(page, item.strokes));
      if (digit !== String(item.digit)) wrong.push(`${item.digit} read as ${digit}`);
      await page.getByTestId("clear").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="prediction"]').textContent === "");
    }
    console.log(`# drawings: ${items.length - wrong.length}/${items.length} right${wrong.length ? ": " + wrong.join(", ") : ""}`);
    // what tests/test_drawings.py asks of the same sample through the Tk app's canvas path: 95%
    assert.ok(items.length - wrong.length >= Math.ceil(0.95 * items.length), wrong.join(", "));
  });

  test("undo and clear", LONG, async () => {
    const one = [[140, 40], [140, 140], [140, 240]];
    assert.equal(await predictionAfter(page, () => draw(page, [one])), "1");
    await draw(page, [[[30, 30], [60, 30]]]);
    await page.getByTestId("undo").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="prediction"]').textContent === "1");
    await page.getByTestId("clear").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="prediction"]').textContent === "");
    assert.equal(await page.getByTestId("prediction").textContent(), "");
  });

  test("looks inside: the first layer's filters and feature maps", LONG, async () => {
    await page.getByTestId("inside").locator("summary").click();
    await predictionAfter(page, () => draw(page, [[[140, 40], [140, 240]]]));
    await page.waitForFunction(() => document.querySelectorAll("#maps canvas").length === 8);
    assert.equal(await page.locator("#filters canvas").count(), 8); // the shipped LeNet's 8 first filters
    const lit = await page.evaluate(() => {
      const c = document.querySelector("#maps canvas");
      const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      return [c.width, c.height, new Set(data).size];
    });
    assert.deepEqual(lit.slice(0, 2), [26, 26]);
    assert.ok(lit[2] > 2, "a feature map of a drawn stroke is not one flat colour");
    await page.getByTestId("inside").locator("summary").click();
    await page.getByTestId("clear").click();
  });

  test("teaches three labelled drawings and fine-tunes in the Worker", LONG, async () => {
    const items = drawings(3, 11);
    for (const item of items) {
      await predictionAfter(page, () => draw(page, item.strokes));
      await page.getByTestId(`label-${item.digit}`).click();
      await page.waitForFunction(() => document.querySelector('[data-testid="prediction"]').textContent === "");
    }
    await page.waitForFunction(() => /^3 drawings/.test(document.querySelector('[data-testid="drawings-count"]').textContent));
    await page.getByTestId("finetune").click();
    await page.waitForFunction(
      () => /^Fine-tuned on 3 drawings|failed/.test(document.querySelector('[data-testid="finetune-status"]').textContent),
      null, { timeout: 170000 },
    );
    const status = await page.getByTestId("finetune-status").textContent();
    assert.match(status, /^Fine-tuned on 3 drawings \+ 200 MNIST images\. Right on your drawings: \d+% -> \d+%; MNIST: /);
    assert.match(await page.getByTestId("model-info").textContent(), /^fine-tuned on your drawings: /);
  });

  test("finds the drawings and the fine-tuned model again after a reload", LONG, async () => {
    await page.reload();
    await ready();
    assert.match(await page.getByTestId("drawings-count").textContent(), /^3 drawings: /);
    assert.equal(await page.locator("#drawings figure").count(), 3);
    assert.match(await page.getByTestId("model-info").textContent(), /^fine-tuned on your drawings: /);
    assert.equal(await predictionAfter(page, () => draw(page, [[[140, 40], [140, 240]]])), "1");
    await page.getByTestId("clear").click();
  });

  test("downloads the model, which pn.load reads: the fine-tuned weights", LONG, async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download").click()]);
    const path = join(scratch, download.suggestedFilename());
    await download.saveAs(path);
    assert.match(path, /\.safetensors$/);
    const report = JSON.parse(python(`
import json, sys
import purenet as pn
from purenet.cli import PRETRAINED_MODEL
model, shipped = pn.load(sys.argv[1]), pn.load(PRETRAINED_MODEL)
a, b = model.state_dict(), shipped.state_dict()
print(json.dumps({"params": model.count_params(), "names": sorted(a) == sorted(b),
                  "changed": sum(a[k].data != b[k].data for k in a)}))
`, path));
    assert.equal(report.params, 27562);
    assert.ok(report.names);
    assert.ok(report.changed > 0, "the downloaded model is the fine-tuned one, not the shipped one");
  });

  test("refuses a model file whose header nests too deep, and keeps the model", LONG, async () => {
    const header = Buffer.from('{"a": ' + "[".repeat(20000) + "]".repeat(20000) + "} "); // 40,008 bytes: padded to 8
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(header.length));
    const file = join(scratch, "deep.safetensors");
    writeFileSync(file, Buffer.concat([size, header]));
    await page.getByTestId("upload").setInputFiles(file);
    await page.waitForFunction(() => /Could not load/.test(document.querySelector('[data-testid="model-status"]').textContent));
    assert.match(await page.getByTestId("model-status").textContent(), /nesting too deep/);
    assert.match(await page.getByTestId("model-info").textContent(), /^fine-tuned on your drawings: /);
    // the Worker survived: it still reads drawings
    assert.equal(await predictionAfter(page, () => draw(page, [[[140, 40], [140, 240]]])), "1");
    await page.getByTestId("clear").click();
  });

  test("loads a model file from the file picker", LONG, async () => {
    const file = join(scratch, "small.safetensors");
    python(`
import sys
from purenet.architectures import build
build("cnn-small", seed=3).save(sys.argv[1])
`, file);
    await page.getByTestId("upload").setInputFiles(file);
    await page.waitForFunction(() => /^loaded from small\.safetensors/.test(document.querySelector('[data-testid="model-info"]').textContent));
    assert.match(await page.getByTestId("model-info").textContent(), /13,610 parameters/);
    assert.equal(readFileSync(file).length > 0, true);
  });

  test("trains cnn-small from scratch in the Worker, stops on request and uses the model", LONG, async () => {
    await page.getByTestId("arch").selectOption("cnn-small");
    await page.getByTestId("epochs").fill("1");
    await page.getByTestId("train-start").click();
    // the chart and the status follow the run; "Stop" is read by the Worker between two steps
    await page.waitForFunction(() => window.__trainProgress && window.__trainProgress.seen >= 640, null, { timeout: 170000 });
    await page.getByTestId("train-stop").click();
    await page.waitForFunction(() => window.__trainResult !== undefined, null, { timeout: 170000 });
    const result = await page.evaluate(() => window.__trainResult);
    assert.equal(result.stopped, true);
    assert.ok(result.state.seen >= 640 && result.state.seen < 10000, JSON.stringify(result.state));
    assert.equal(result.history.loss.length, result.state.seen / 320);
    assert.match(await page.getByTestId("train-status").textContent(), /^Stopped\. /);
    await page.getByTestId("train-use").click();
    await page.waitForFunction(() => /^trained here from scratch \(cnn-small\)/.test(document.querySelector('[data-testid="model-info"]').textContent));
    assert.match(await page.getByTestId("model-info").textContent(), /13,610 parameters/);
  });

  test("no uncaught error on the page", () => {
    assert.deepEqual(errors, []);
  });
});

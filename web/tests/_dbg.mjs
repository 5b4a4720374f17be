import { serve } from "./server.mjs";
import { launch, draw, predictionAfter } from "./browser.mjs";
import { execFileSync } from "node:child_process";
const items = JSON.parse(execFileSync("python3", ["-c", `
import json, sys
sys.path.insert(0, "scripts")
import drawings
print(json.dumps([{"digit": d.digit, "strokes": d.strokes} for d in drawings.generate(10, seed=77, split="held_out")]))`], {cwd: "..", encoding: "utf8", env: {...process.env, PYTHONPATH: ".."}}));
const server = await serve(process.cwd() + "/dist");
const b = await launch();
const page = await b.context.newPage();
await page.goto(server.url);
await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 120000 });
for (const item of items.filter((i) => i.digit === 4 || i.digit === 9)) {
  const t = Date.now();
  const d = await predictionAfter(page, () => draw(page, item.strokes));
  const strokes = await page.evaluate(() => window.__lastView.strokes);
  console.log(item.digit, d, Date.now() - t, "sent", item.strokes.map((s) => s.length), "got", strokes.map((s) => s.length));
  console.log(JSON.stringify(item.strokes[0].slice(0, 5)), JSON.stringify(strokes[0].slice(0, 5).map(p => p.map(v => +v.toFixed(1)))));
  await page.screenshot({ path: `/tmp/web-dbg-${item.digit}.png`, clip: await page.getByTestId("canvas").boundingBox() });
  await page.getByTestId("clear").click();
  await page.waitForTimeout(300);
}
await b.close(); await server.close();

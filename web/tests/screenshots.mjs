// The README's pictures of the page (docs/images/web-*.png), taken in
// headless Chromium from the built site:
//
//   node web/tests/screenshots.mjs
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { draw, launch, predictionAfter } from "./browser.mjs";
import { serve } from "./server.mjs";

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(web);
const images = join(root, "docs", "images");
const [three] = JSON.parse(execFileSync(process.env.PYTHON || "python3", ["-c", `
import json, sys
sys.path.insert(0, "scripts")
import drawings
print(json.dumps([d.strokes for d in drawings.generate(10, seed=77, split="held_out") if d.digit == 3]))
`], { cwd: root, encoding: "utf8" }));

const server = await serve(join(web, "dist"));
const b = await launch();
try {
  const page = await b.context.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180000 });
  await page.getByTestId("inside").locator("summary").click();
  await predictionAfter(page, () => draw(page, three));
  await page.waitForFunction(() => document.querySelectorAll("#maps canvas").length > 0);
  await page.screenshot({ path: join(images, "web-page.png"), clip: { x: 0, y: 0, width: 1000, height: 760 } });

  const phone = await b.context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(server.url);
  await phone.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180000 });
  await predictionAfter(phone, () => draw(phone, three));
  await phone.screenshot({ path: join(images, "web-phone.png") });
} finally {
  await b.close();
  await server.close();
}

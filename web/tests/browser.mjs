// Headless Chromium (Debian's package) driven by Playwright, for the
// end-to-end test and the measurements: a fresh profile each time, no
// network but the local server.
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (Debian: apt-get install chromium)`);
  const profile = mkdtempSync(join(tmpdir(), "purenet-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, acceptDownloads: true,
    viewport: { width: 1000, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Draw strokes (lists of [x, y] in drawing units, 0..280) on the page's
// canvas with the mouse: real pointer events, moves paced like a hand's.
export async function draw(page, strokes) {
  const canvas = page.getByTestId("canvas");
  await canvas.scrollIntoViewIfNeeded(); // a click further down may have scrolled it away
  const box = await canvas.boundingBox();
  const at = ([x, y]) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280];
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...at(p));
    await page.mouse.up();
  }
}

// The prediction shown once the page has answered every pen lift of
// ``action`` (app.js counts the answers still to come in window.__penLifts).
export async function predictionAfter(page, action) {
  await action();
  await page.waitForFunction(() => window.__penLifts === 0, null, { timeout: 60000 });
  return page.getByTestId("prediction").textContent();
}

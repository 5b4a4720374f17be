// Build the static site: web/dist/ holds the page, Pyodide (copied from
// node_modules, the version pinned in package.json), and the purenet wheel
// built from this checkout (the shipped model is inside it). Any static
// server can serve the folder: nothing is fetched from elsewhere at run time.
//
//   npm ci --prefix web && npm run build --prefix web
//
// PYTHON names the interpreter that builds the wheel (default python3).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const dist = join(web, "dist");
const pyodideDir = join(web, "node_modules", "pyodide");
// What the page loads of Pyodide: its loader, the WebAssembly interpreter, the
// standard library and the lock file the loader reads (it lists no package
// the page needs: purenet needs nothing beyond the standard library).
const PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"];

function buildWheel(into) {
  const python = process.env.PYTHON || "python3";
  const args = ["-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", into, root];
  try {
    // setuptools already installed: no network, a few seconds
    execFileSync(python, [...args.slice(0, 3), "--no-build-isolation", ...args.slice(3)], { stdio: "inherit" });
  } catch {
    console.log("building the wheel again with build isolation (pip fetches setuptools)");
    execFileSync(python, args, { stdio: "inherit" });
  }
  const wheels = readdirSync(into).filter((f) => f.startsWith("purenet-") && f.endsWith(".whl"));
  if (wheels.length !== 1) throw new Error(`expected one purenet wheel in ${into}; found ${wheels.join(", ") || "none"}`);
  return wheels[0];
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "pyodide"), { recursive: true });
const pyodideVersion = JSON.parse(readFileSync(join(pyodideDir, "package.json"), "utf8")).version;
for (const file of PYODIDE_FILES) cpSync(join(pyodideDir, file), join(dist, "pyodide", file));
cpSync(join(web, "src"), dist, { recursive: true });

const scratch = mkdtempSync(join(tmpdir(), "purenet-wheel-"));
try {
  const wheel = buildWheel(scratch);
  cpSync(join(scratch, wheel), join(dist, wheel));
  writeFileSync(join(dist, "build.json"), JSON.stringify({ wheel, pyodide: pyodideVersion }, null, 2) + "\n");
  console.log(`web/dist: the page, Pyodide ${pyodideVersion}, ${wheel}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

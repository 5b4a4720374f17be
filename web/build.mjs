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
import { loadPyodide } from "pyodide";

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

// The wheel's modules compiled by Pyodide's own Python, as "unchecked" .pyc
// files the page unpacks beside the sources: importing purenet then skips
// compiling it, which halves the import (the largest part of the page's start
// after Pyodide itself).
async function bytecode(wheelBytes, name) {
  const py = await loadPyodide();
  const site = "/build/site-packages";
  py.FS.mkdirTree(site);
  py.unpackArchive(wheelBytes, "wheel", { extractDir: site });
  py.globals.set("SITE", site);
  py.globals.set("OUT", `/build/${name}`);
  py.runPython(`
import compileall, os, py_compile, zipfile
ok = compileall.compile_dir(os.path.join(SITE, "purenet"), quiet=1,
                            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
assert ok, "compiling purenet failed"
with zipfile.ZipFile(OUT, "w", zipfile.ZIP_DEFLATED) as z:
    for folder, _, files in os.walk(os.path.join(SITE, "purenet")):
        for f in files:
            if f.endswith(".pyc"):
                z.write(os.path.join(folder, f), os.path.relpath(os.path.join(folder, f), SITE))
`);
  return py.FS.readFile(`/build/${name}`);
}

const scratch = mkdtempSync(join(tmpdir(), "purenet-wheel-"));
try {
  const wheel = buildWheel(scratch);
  cpSync(join(scratch, wheel), join(dist, wheel));
  const pyc = wheel.replace(/-py3-none-any\.whl$/, `-pyodide-${pyodideVersion}-pyc.zip`);
  writeFileSync(join(dist, pyc), await bytecode(new Uint8Array(readFileSync(join(scratch, wheel))), pyc));
  writeFileSync(join(dist, "build.json"), JSON.stringify({ wheel, bytecode: pyc, pyodide: pyodideVersion }, null, 2) + "\n");
  console.log(`web/dist: the page, Pyodide ${pyodideVersion}, ${wheel} (+ ${pyc})`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// The project's test suite inside Pyodide (CPython compiled to WebAssembly,
// the interpreter of the web page) under Node: every test that needs no
// subprocess, thread or Tk, which Pyodide does not have.
//
//   node web/tests/pyodide-suite.mjs [pytest arguments...]
//
// pytest, hypothesis and their dependencies are pure-Python wheels: pip on
// the host downloads them once (into web/node_modules/.cache) for Pyodide's
// Python version, and they are unpacked into Pyodide's site-packages. The
// checkout is mounted at /repo, so the tests import this checkout's purenet.
// NumPy and the other oracles are absent: their tests skip, as they do on
// any interpreter without them. Exits with pytest's status.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(web);
const cache = join(web, "node_modules", ".cache", "purenet-pyodide-wheels");
const PYTHON = process.env.PYTHON || "python3";
// Pinned below the versions tested on the host interpreters' side too.
const WHEELS = ["pytest>=7", "hypothesis>=6"];

// Test modules about a Tk window or worker processes, in every test: Pyodide
// has neither. Elsewhere a test that fails only because it starts a process
// or a thread is reported as skipped (tests/conftest.py).
const NEEDS_PROCESSES = ["tests/test_app_e2e.py", "tests/test_app_gui.py", "tests/test_parallel.py"];

function download(version) {
  mkdirSync(cache, { recursive: true });
  const marker = join(cache, `python-${version}`);
  if (existsSync(marker)) return;
  execFileSync(PYTHON, [
    "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
    "--platform", "any", "--python-version", version, "--implementation", "py", "--dest", cache, ...WHEELS,
  ], { stdio: "inherit" });
  execFileSync(PYTHON, ["-c", "import sys; open(sys.argv[1], 'w').close()", marker]);
}

const py = await loadPyodide();
// pytest's progress dots come without newlines: pass the bytes through as they are
py.setStdout({ write: (bytes) => (process.stdout.write(bytes), bytes.length) });
py.setStderr({ write: (bytes) => (process.stderr.write(bytes), bytes.length) });
const version = py.runPython("import sys; '%d.%d' % sys.version_info[:2]");
download(version);
const sitePackages = py.runPython("import site; site.getsitepackages()[0]");
for (const wheel of readdirSync(cache).filter((f) => f.endsWith(".whl"))) {
  py.unpackArchive(new Uint8Array(readFileSync(join(cache, wheel))), "wheel", { extractDir: sitePackages });
}
py.FS.mkdirTree("/repo");
py.FS.mount(py.FS.filesystems.NODEFS, { root }, "/repo");
const args = [
  "-q", "-p", "no:cacheprovider", "-o", "addopts=", ...NEEDS_PROCESSES.flatMap((m) => ["--ignore", m]),
  ...process.argv.slice(2),
];
py.globals.set("ARGS", py.toPy(args));
const status = await py.runPythonAsync(`
import os, sys
os.chdir("/repo")
sys.path.insert(0, "/repo")
os.environ.pop("PURENET_REQUIRE_ORACLES", None)  # the oracles are not in Pyodide
os.environ.pop("CI", None)  # nor Tk nor Xvfb, ever: their tests skip here, whereas CI=true makes them fail
import pytest
try:
    status = int(pytest.main(list(ARGS)))
finally:
    sys.stdout.flush()
    sys.stderr.flush()
status
`);
// Writes to a pipe are asynchronous in Node: exiting at once would drop the
// tail of the output (pytest's closing summary line). Exit once both have drained.
const drained = (stream) => new Promise((resolve) => stream.write("", resolve));
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(status);

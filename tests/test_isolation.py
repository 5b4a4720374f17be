"""purenet runs on the standard library alone, and importing it has no side effects.

Each check runs in a fresh interpreter (a subprocess) so that modules the
test session already imported (NumPy, torch, hypothesis...) cannot hide an
import. A ``sys.meta_path`` finder makes every top-level module outside the
standard library unimportable, naming NumPy, PyTorch, onnx, onnxruntime,
safetensors and Pillow explicitly.
"""

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "purenet")

PRELUDE = textwrap.dedent(
    r"""
    import sys
    sys.dont_write_bytecode = True
    import importlib.abc, importlib.machinery, os, sysconfig

    ROOT = %(root)r
    EXPLICIT = {"numpy", "torch", "onnx", "onnxruntime", "safetensors", "PIL", "scipy", "pandas", "tkinter_extras"}

    def stdlib_names():
        names = set(sys.builtin_module_names)
        if hasattr(sys, "stdlib_module_names"):  # 3.10+
            return names | set(sys.stdlib_module_names)
        # 3.9: a top-level module is stdlib when it lives under the stdlib
        # directory and not in site-packages / dist-packages
        import pkgutil
        paths = sysconfig.get_paths()
        roots = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib")}
        for info in pkgutil.iter_modules():
            path = os.path.realpath(getattr(info.module_finder, "path", "") or "")
            if any(path == r or path.startswith(r + os.sep) for r in roots) and not any(
                part in ("site-packages", "dist-packages") for part in path.split(os.sep)
            ):
                names.add(info.name)
        return names

    STDLIB = stdlib_names() - EXPLICIT
    ALLOW = {"purenet"}
    BLOCKED = []

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            top = fullname.partition(".")[0]
            if top in ALLOW or top.startswith("_sysconfigdata"):  # the latter: stdlib's build data
                return None
            if top in EXPLICIT or top not in STDLIB:
                # a module that does not exist here at all (msvcrt on Linux, probed by the
                # stdlib itself on 3.9) is not a third-party import: fail it quietly
                if top in EXPLICIT or importlib.machinery.PathFinder.find_spec(top) is not None:
                    BLOCKED.append(fullname)
                # ModuleNotFoundError, as for a missing module: the stdlib catches exactly that
                raise ModuleNotFoundError("blocked non-stdlib import: " + fullname, name=fullname)
            return None

    # modules the interpreter set up itself (frozen or built in, no file) are stdlib;
    # forget anything site.py / .pth files imported from site-packages
    def third_party_file(module):
        path = getattr(module, "__file__", None) or ""
        return any(part in ("site-packages", "dist-packages") for part in path.split(os.sep))

    for name, module in list(sys.modules.items()):
        if third_party_file(module):
            del sys.modules[name]
        elif getattr(module, "__file__", None) is None and name != "__main__":
            STDLIB.add(name.partition(".")[0])
    sys.meta_path.insert(0, Blocker())
    sys.path.insert(0, ROOT)

    # the blocker really blocks
    for probe in ("numpy", "torch", "onnx", "onnxruntime", "safetensors", "PIL"):
        try:
            __import__(probe)
        except ImportError:
            pass
        else:
            raise SystemExit("blocker failed to block " + probe)
    del BLOCKED[:]
    """
)


def run(body, *, expect_ok=True):
    script = PRELUDE % {"root": ROOT} + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP",)},
    )
    if expect_ok:
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def last_json(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_purenet_with_only_the_stdlib():
    proc = run(
        """
        import json, random
        state = random.getstate()
        before = set(sys.modules)
        import purenet
        import purenet as pn
        model = pn.Sequential([pn.Conv2D(2, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(3), pn.Softmax()],
                              input_shape=(1, 6, 6), seed=0)
        model.fit([[0.5] * 36, [0.0] * 36], [1, 2], epochs=1, batch_size=2)
        new = sorted(set(sys.modules) - before)
        print(json.dumps({
            "blocked": BLOCKED,
            "random_untouched": random.getstate() == state,
            "tkinter": [m for m in new if m.split(".")[0] in ("tkinter", "_tkinter")],
            "non_stdlib": [m for m in new if m.split(".")[0] not in STDLIB and m.split(".")[0] != "purenet"],
            "file": purenet.__file__,
        }))
        """
    )
    result = last_json(proc)
    assert result["file"].startswith(PACKAGE)  # the package under test, not an installed copy
    assert result["blocked"] == []  # nothing even tried to import a third-party module
    assert result["non_stdlib"] == []
    assert result["tkinter"] == []
    assert result["random_untouched"] is True  # import and a seeded fit leave the global state alone


def test_every_submodule_imports_with_only_the_stdlib():
    proc = run(
        """
        import importlib, json, pkgutil, random
        state = random.getstate()
        import purenet
        names, failures = [], {}
        for info in pkgutil.walk_packages(purenet.__path__, "purenet."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # running it would start the command line
            names.append(info.name)
            try:
                importlib.import_module(info.name)
            except ImportError as e:
                # a Tk window module may need _tkinter, which some Pythons lack (Debian's pypy3)
                if getattr(e, "name", None) in ("_tkinter", "tkinter"):
                    continue
                failures[info.name] = repr(e)
        print(json.dumps({"names": names, "failures": failures, "blocked": BLOCKED,
                          "random_untouched": random.getstate() == state}))
        """
    )
    result = last_json(proc)
    assert result["failures"] == {}
    assert result["blocked"] == []
    assert result["random_untouched"] is True
    for expected in ("purenet.matrix", "purenet.kernels", "purenet.layers.conv", "purenet.model", "purenet.datasets.idx"):
        assert expected in result["names"]


def test_blocker_catches_a_third_party_import(tmp_path):
    """The harness itself works: a module importing NumPy fails under it."""
    (tmp_path / "uses_numpy.py").write_text("import numpy\n")
    proc = run(
        f"""
        sys.path.insert(0, {str(tmp_path)!r})
        ALLOW.add("uses_numpy")
        try:
            import uses_numpy
        except ImportError as e:
            print("blocked", e)
        """
    )
    assert "blocked non-stdlib import: numpy" in proc.stdout


def test_import_does_no_file_io_beyond_its_own_modules():
    proc = run(
        """
        import json
        opened = []

        def hook(event, args):
            if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
                opened.append((os.fsdecode(args[0]), args[1] if len(args) > 1 else None))
            elif event in ("os.listdir", "os.scandir") and args:
                pass  # the import system lists directories to find modules

        sys.addaudithook(hook)
        import purenet
        print(json.dumps(opened))
        """
    )
    opened = last_json(proc)
    paths = sysconfig_paths()
    package = os.path.realpath(PACKAGE)
    bad = []
    for path, mode in opened:
        real = os.path.realpath(path)
        if mode not in (None, "r", "rb"):
            bad.append((path, mode))
        elif real.startswith(package + os.sep):
            if not real.endswith((".py", ".pyc")):
                bad.append((path, mode))  # e.g. reading bundled data at import time
        elif not any(real.startswith(p + os.sep) for p in paths):
            bad.append((path, mode))
    assert bad == []
    assert any(os.path.realpath(p).startswith(package) for p, _ in opened)  # the hook saw the imports


def sysconfig_paths():
    import sysconfig

    info = sysconfig.get_paths()
    return {os.path.realpath(info[k]) for k in ("stdlib", "platstdlib")} | {
        os.path.realpath(os.path.join(sys.base_prefix, "lib"))
    }


# ----------------------------------------------------------- forbidden code


def package_sources():
    for dirpath, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8") as fh:
                    yield os.path.relpath(path, ROOT), fh.read()


def test_no_pickle_eval_or_exec_in_the_package():
    """Loading a file must never be able to run code: no pickle (nor its relatives),
    no eval/exec/compile of text. Checked on the syntax tree, so docstrings that
    mention the words do not count."""
    sources = list(package_sources())
    assert len(sources) > 10
    forbidden_modules = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "cloudpickle", "joblib"}
    problems = []
    for path, text in sources:
        assert "import pickle" not in text, path  # the plain grep the brief asks for
        tree = ast.parse(text, filename=path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.partition(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").partition(".")[0]]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in ("eval", "exec", "compile", "__import__"):
                    problems.append((path, node.lineno, node.func.id))
                continue
            else:
                continue
            problems += [(path, node.lineno, n) for n in names if n in forbidden_modules]
    assert problems == []


def test_forbidden_code_scanner_finds_what_it_should():
    sample = "import pickle\nfrom marshal import loads\nx = eval('1')\nexec('y = 2')\n'''eval( in a docstring'''\n"
    tree = ast.parse(sample)
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    imports = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert calls == ["eval", "exec"] and imports == ["pickle"]


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
def test_stdlib_detection_agrees_with_fallback():
    """The 3.9 fallback in PRELUDE classifies the usual suspects like sys.stdlib_module_names."""
    proc = run(
        """
        import json
        names = set(sys.builtin_module_names)
        import pkgutil
        paths = sysconfig.get_paths()
        roots = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib")}
        for info in pkgutil.iter_modules():
            path = os.path.realpath(getattr(info.module_finder, "path", "") or "")
            if any(path == r or path.startswith(r + os.sep) for r in roots) and not any(
                part in ("site-packages", "dist-packages") for part in path.split(os.sep)
            ):
                names.add(info.name)
        print(json.dumps(sorted(names)))
        """
    )
    fallback = set(last_json(proc))
    for name in ("json", "math", "random", "operator", "itertools", "gzip", "struct", "hashlib", "os"):
        assert name in fallback and name in sys.stdlib_module_names
    for name in ("numpy", "torch", "pytest", "hypothesis", "purenet"):
        assert name not in fallback

"""Shared test helpers.

``require(name)`` imports an optional oracle (NumPy, PyTorch). Where it is
missing the calling test (or, at module level, the whole module) is skipped,
except when ``PURENET_REQUIRE_ORACLES=1`` is set: CI sets that on the
interpreter that has the oracles installed, so there a missing oracle is a
failure instead of a silent skip.
"""

import doctest
import importlib
import os

import pytest

try:  # hypothesis is a test dependency; keep generated cases bounded and deadline-free
    from hypothesis import settings

    settings.register_profile("purenet", deadline=None, max_examples=30, derandomize=True)
    settings.load_profile("purenet")
except ImportError:  # pragma: no cover - hypothesis is listed in the test extras
    pass

REQUIRE_ORACLES = os.environ.get("PURENET_REQUIRE_ORACLES") == "1"


def require(name: str):
    """Import module ``name``; skip when it is missing (or fails to import, e.g. a
    broken binary wheel), but fail when ``PURENET_REQUIRE_ORACLES=1``.

    Works at module level (skips the whole module) and inside a test or fixture.
    """
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if REQUIRE_ORACLES:
            raise ImportError(
                f"PURENET_REQUIRE_ORACLES=1 but the oracle {name!r} cannot be imported: {e}"
            ) from e
        pytest.skip(f"oracle {name!r} not available: {e}", allow_module_level=True)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test reaches the internet: downloads are off unless a test (the
    local-server download tests) clears ``PURENET_OFFLINE`` itself."""
    monkeypatch.setenv("PURENET_OFFLINE", "1")


def resave(path, out, tensors=None, meta=None):
    """Rewrite a valid safetensors file with edited tensors / metadata (still a valid
    container), for tests of what the model and checkpoint readers reject."""
    from purenet.io.safetensors import read_safetensors, write_safetensors

    t, m = read_safetensors(path)
    t = {k: (v.dtype, v.shape, v.values) for k, v in t.items()}
    if tensors:
        tensors(t)
    if meta:
        meta(m)
    write_safetensors(out, t, m)
    return out


def run_page(path):
    """Run a docs page's ``>>>`` examples as a doctest: (runner, the namespace they left, failure report)."""
    with open(path, encoding="utf-8") as f:
        name = os.path.basename(path)
        test = doctest.DocTestParser().get_doctest(f.read(), {"__name__": name}, name, path, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = []
    runner.run(test, out=report.append, clear_globs=False)
    return runner, test.globs, "".join(report)


@pytest.fixture(scope="session")
def x_display():
    """A private Xvfb display (``":N"``, also in ``DISPLAY``) for the GUI tests; see tests/xvfb.py."""
    from xvfb import private_display

    with private_display() as display:
        yield display

"""Every docstring example in the package runs and shows what it claims.

The same check as ``python -m pytest --doctest-modules purenet``, kept in the
test suite so a plain ``pytest`` run (and CI) catches a stale example.
"""

import doctest
import importlib
import pkgutil

import pytest

import purenet


def modules():
    names = ["purenet"]
    for info in pkgutil.walk_packages(purenet.__path__, "purenet."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", modules())
def test_doctests(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        if getattr(e, "name", None) in ("_tkinter", "tkinter"):
            pytest.skip(f"{name} needs Tk, which this Python lacks")
        raise
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=0)  # as `pytest --doctest-modules`
    report = []
    for test in finder.find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 0 or not report


def test_the_package_has_doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    count = sum(len(t.examples) for name in modules() for t in finder.find(importlib.import_module(name), name)
                if not name.endswith(("window", "app")))
    assert count >= 10

"""docs/api.md is generated from the docstrings (scripts/api_docs.py) and must be current."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_generator():
    spec = importlib.util.spec_from_file_location("api_docs", os.path.join(ROOT, "scripts", "api_docs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_current():
    api_docs = load_generator()
    with open(api_docs.OUT, encoding="utf-8") as f:
        current = f.read()
    assert current == api_docs.render(), "docs/api.md is not current: run python scripts/api_docs.py"


def test_api_reference_covers_every_export():
    import purenet

    api_docs = load_generator()
    text = api_docs.render()
    for name in purenet.__all__:
        if not name.startswith("__"):
            assert f"pn.{name}" in text, name
    assert "0x" not in text  # no memory addresses: the page is the same on every run

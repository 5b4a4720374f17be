"""Write docs/api.md, purenet's API reference, from the docstrings.

    python scripts/api_docs.py            # (re)write docs/api.md
    python scripts/api_docs.py --check    # exit 1 if docs/api.md is not current

Standard library only. It documents what ``purenet.__all__`` exports and the
public names (``__all__``) of the subpackages a user imports from
(``purenet.datasets``, ``purenet.io``, ...), each with its signature (names
and defaults; annotations are left out so that every Python version writes
the same page) and its docstring; for a class, its public methods and
properties too. The test suite runs ``--check``, so a docstring changed
without regenerating the page fails CI.
"""

import argparse
import importlib
import inspect
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "api.md")

# The modules whose __all__ is documented, in the page's order. The top-level
# names are documented under "purenet"; a module's section lists only the names
# that purenet does not export itself.
MODULES = [
    "purenet",
    "purenet.callbacks",
    "purenet.datasets",
    "purenet.io",
    "purenet.architectures",
    "purenet.augment",
    "purenet.init",
]


def signature(obj) -> str:
    """``(a, b=1, *, c=None)``: names and defaults only."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def doc(obj) -> str:
    text = inspect.getdoc(obj) or ""
    return text.strip()


def members(cls) -> list:
    """The public methods and properties a class defines or inherits from purenet classes."""
    out = []
    for name in sorted(dir(cls)):
        # a named tuple's fields are in its signature (and its accessors differ between CPython and PyPy)
        if name.startswith("_") or name in getattr(cls, "_fields", ()):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("purenet"):
            continue
        value = vars(owner)[name]
        if isinstance(value, property):
            out.append((name, None, value))
        elif isinstance(value, (staticmethod, classmethod)):
            out.append((name, signature(getattr(cls, name)), getattr(cls, name)))
        elif inspect.isfunction(value):
            sig = signature(value)
            sig = "(" + sig[1:].split(", ", 1)[1] if sig.startswith("(self, ") else sig.replace("(self)", "()")
            out.append((name, sig, value))
    return out


def quote(text: str, indent: str = "") -> list:
    """A docstring as a Markdown block (fenced, so doctests and tables keep their layout)."""
    if not text:
        return []
    return [indent + "```text"] + [indent + line if line else "" for line in text.splitlines()] + [indent + "```", ""]


def value_text(value) -> str:
    """A constant's value as text that is the same on every run (functions by name, not address)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(value_text(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    return repr(value)


def document(name: str, obj, level: int) -> list:
    hashes = "#" * level
    if inspect.isclass(obj):
        lines = [f"{hashes} class `{name}{signature(obj)}`", ""] + quote(doc(obj))
        for member, sig, value in members(obj):
            if sig is None:
                lines += [f"- property `{member}`", ""] + quote(doc(value), "  ")
            else:
                lines += [f"- `{member}{sig}`", ""] + quote(doc(value), "  ")
        return lines
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return [f"{hashes} `{name}{signature(obj)}`", ""] + quote(doc(obj))
    if inspect.ismodule(obj):
        first = (doc(obj).splitlines() or [""])[0]
        return [f"- module `{name}`: {first}", ""]
    return [f"- `{name}` = `{value_text(obj)}`", ""]


def render() -> str:
    import purenet

    top = set(purenet.__all__)
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python scripts/api_docs.py` (do not edit by hand;",
        "the test suite checks that this page is current).",
        "",
    ]
    for module_name in MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        names = list(getattr(module, "__all__", []))
        if module_name != "purenet":
            names = [n for n in names if n not in top or getattr(purenet, n, None) is not getattr(module, n)]
        if not names:
            continue
        lines += [f"## `{module_name}`", ""]
        summary = (doc(module).split("\n\n") or [""])[0]
        lines += [summary, ""] if summary else []
        for n in names:
            if n.startswith("__"):
                continue
            lines += document(f"{module_name}.{n}" if module_name != "purenet" else f"pn.{n}", getattr(module, n), 3)
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/api.md from purenet's docstrings.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md differs from what would be written")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    text = render()
    if args.check:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print("docs/api.md is not current: run python scripts/api_docs.py", file=sys.stderr)
            return 1
        print("docs/api.md is current")
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m purenet ...``: the same command line as the ``purenet`` script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""A private X server for the GUI tests (see ../shared/docs/GUI_TESTING.md).

``private_display()`` starts ``Xvfb -displayfd FD``: the server writes its
display number to FD once it accepts connections, so reading that line is
the wait (no sleeps, no race with a fixed ``:99``). The server is stopped
by its PID when the session ends.

Missing pieces (no Xvfb, no tkinter) skip the GUI tests on a developer
machine, but fail them under ``CI=true``: .ci/run installs xvfb, xauth,
xdotool, imagemagick and pypy3-tk, so on CI a missing one is a broken
setup, never a reason to skip.
"""

import contextlib
import os
import shutil
import subprocess

import pytest

CI = os.environ.get("CI") == "true"
SCREEN = "1280x1024x24"
START_TIMEOUT = 20  # seconds: a guard against a server that never comes up


def missing(what: str) -> None:
    """Skip the test for a missing tool; under CI=true, fail instead."""
    if CI:
        pytest.fail(f"CI=true but {what} (.ci/run installs it): the GUI tests must run on CI", pytrace=False)
    pytest.skip(what)


def require_tkinter():
    """The tkinter module, or a skip (a failure under CI=true)."""
    try:
        import tkinter
    except ImportError as e:
        missing(f"tkinter is not available ({e}); Debian: apt install python3-tk / pypy3-tk")
    return tkinter


@contextlib.contextmanager
def private_display():
    """Yield ``":N"``, a fresh Xvfb display; ``DISPLAY`` is set to it meanwhile."""
    if shutil.which("Xvfb") is None:
        missing("Xvfb is not installed (Debian: apt install xvfb xauth)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        number = _read_line(read, server)
        display = f":{number}"
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display
        try:
            yield display
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old
    finally:
        os.close(read)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _read_line(fd: int, server: subprocess.Popen) -> str:
    """The display number Xvfb writes to ``fd`` (blocks until it is ready)."""
    import selectors

    text = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not text.endswith(b"\n"):
            if not sel.select(timeout=START_TIMEOUT):
                raise RuntimeError(f"Xvfb did not report a display within {START_TIMEOUT}s")
            chunk = os.read(fd, 64)
            if not chunk:
                raise RuntimeError(f"Xvfb exited (status {server.poll()}) before reporting a display")
            text += chunk
    return text.decode().strip()

"""``purenet draw`` on the command line: its options, and the clear failures without Tk or a display."""

import gc
import subprocess
import sys

import pytest

from purenet import cli
from xvfb import require_tkinter


def run(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_help_lists_the_options(capsys):
    status, out, _ = run(["draw", "--help"], capsys)
    assert status == 0
    for option in ("--model", "--log", "--drawings", "python3-tk"):
        assert option in out


@pytest.mark.parametrize("implementation, package", [("CPython", "python3-tk"), ("PyPy", "pypy3-tk")])
def test_without_tkinter_it_names_the_package(monkeypatch, capsys, implementation, package):
    monkeypatch.setitem(sys.modules, "tkinter", None)  # `import tkinter` now fails, as without python3-tk
    monkeypatch.delitem(sys.modules, "purenet.app.window", raising=False)
    monkeypatch.setattr(cli.platform, "python_implementation", lambda: implementation)
    status, out, err = run(["draw"], capsys)
    assert status == 2 and out == ""
    assert "no tkinter" in err and f"apt install {package}" in err and "Traceback" not in err


def test_without_a_display_it_says_so(monkeypatch, capsys, tmp_path):
    require_tkinter()  # skips on a dev machine without it (the test above covers that case); fails on CI
    monkeypatch.delenv("DISPLAY", raising=False)
    status, _, err = run(["draw", "--drawings", str(tmp_path)], capsys)
    gc.collect()  # PyPy: free the half-made Tcl interpreter now, not in a later test's worker thread
    assert status == 2 and "cannot open a window" in err


def test_a_bad_model_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    status, _, err = run(["draw", "--model", str(bad)], capsys)
    assert status == 2 and err.startswith("purenet draw: error:") and len(err.strip().splitlines()) == 1


def test_a_model_for_other_inputs_is_refused(capsys, tmp_path):
    import purenet as pn

    path = str(tmp_path / "small.safetensors")
    pn.Sequential([pn.Flatten(), pn.Dense(3), pn.Softmax()], input_shape=(1, 8, 8)).save(path)
    status, _, err = run(["draw", "--model", path], capsys)
    assert status == 2 and "expected a model for 28x28 gray digits" in err


def test_a_broken_drawings_folder_is_one_line(capsys, tmp_path):
    from purenet.app.userdata import LABELS_FILE
    from purenet.datasets.idx import write_idx

    write_idx(tmp_path / LABELS_FILE, (1,), b"\x01")  # labels without their images
    require_tkinter()  # the folder is read once Tk is known to be there
    status, _, err = run(["draw", "--drawings", str(tmp_path)], capsys)
    assert status == 2 and "labelled drawings in" in err and len(err.strip().splitlines()) == 1


def test_the_command_line_and_app_logic_never_import_tkinter():
    code = ("import sys, purenet.cli, purenet.app.state, purenet.app.userdata, purenet.app.finetune, "
            "purenet.app.pictures; print('tkinter' in sys.modules, '_tkinter' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]

"""The drawing app's window, driven in-process under a private Xvfb display.

Each test builds the real window (purenet.app.window.App) on the shipped
model, draws with generated mouse events and checks what a person would
see: the answer, the probability bars, the 28x28 preview, the feature
maps, the ink on the sheet. Without Xvfb or tkinter these tests skip on a
developer machine and fail under CI=true (tests/xvfb.py).
"""

import gc
import math
import os
import time

import pytest

import purenet as pn
from purenet import architectures
from purenet.app.state import PAPER, Recogniser
from purenet.app.userdata import Drawings
from purenet.cli import PRETRAINED_MODEL
from xvfb import require_tkinter

DEADLINE = 60.0  # seconds: fail fast instead of hanging when something never happens


@pytest.fixture(scope="module")
def shipped():
    return pn.load(PRETRAINED_MODEL)


@pytest.fixture(scope="session")
def tk_root(x_display):
    """One Tk interpreter for the whole session, withdrawn; each test's window is a Toplevel.

    Why one: a Tk root that is dropped is freed by the garbage collector, and on
    PyPy that may happen in whichever thread allocates next, such as a
    fine-tuning thread, where deleting the Tcl interpreter aborts the process.
    Kept alive (and referenced in _KEEP until exit), it is never freed mid-run.
    """
    tkinter = require_tkinter()
    root = tkinter.Tk()
    root.withdraw()
    _KEEP.append(root)
    yield root
    root.destroy()


_KEEP = []


@pytest.fixture
def make_app(tk_root, tmp_path):
    """``make_app(model, **options) -> App`` in a fresh Toplevel; logs go to ``app.records``."""
    import tkinter

    from purenet.app import window

    tops = []

    def make(model, **options):
        top = tkinter.Toplevel(tk_root)
        tops.append(top)
        records = []
        options.setdefault("finetune_options", dict(replay_size=16, epochs=1, batch_size=8, check=0))
        app = window.App(top, Recogniser(model), Drawings(str(tmp_path / "drawings")),
                         model_name="test-model", log=records.append, **options)
        app.records = records
        top.update()  # mapped and laid out: events sent before this would be dropped
        return app

    yield make
    for top in tops:
        try:
            top.destroy()
        except tkinter.TclError:  # already closed by the test
            pass
    tops.clear()
    gc.collect()  # free the dead window's images here, in Tk's thread, not in a later fine-tuning thread


def at(app, x, y):
    """Sheet units -> canvas pixels."""
    sx, sy, side = app._sheet
    return round(sx + x * side / PAPER), round(sy + y * side / PAPER)


def stroke(app, points, release=True, press=True):
    """Press at the first point, move through the rest, release (sheet units)."""
    c = app.canvas
    x, y = at(app, *points[0])
    if press:
        c.event_generate("<ButtonPress-1>", x=x, y=y)
        app.root.update()
    for p in points[1 if press else 0 :]:
        x, y = at(app, *p)
        c.event_generate("<B1-Motion>", x=x, y=y, state=0x100)
        app.root.update()
    if release:
        c.event_generate("<ButtonRelease-1>", x=x, y=y)
        app.root.update()


def line(x0, y0, x1, y1, n=12):
    return [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


def ring(cx=140, cy=140, rx=60, ry=90, n=40):
    return [(cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n)) for i in range(n + 1)]


def until(app, condition, what):
    """Pump Tk events until ``condition()`` holds (timers, a background job)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        app.root.update()
        time.sleep(0.005)


def bar_widths(app):
    return [app.bars.coords(bar)[2] - app.bars.coords(bar)[0] for bar, _, _ in app._bar_items]


def bright_pixels(photo, width, height):
    return sum(1 for y in range(height) for x in range(width) if sum(photo.get(x, y)) > 3 * 128)


def ink_box(app):
    return app.canvas.bbox("ink")


# ------------------------------------------------------------------ drawing
def test_empty_canvas_shows_no_guess(make_app, shipped):
    app = make_app(shipped)
    assert app.prediction is None
    assert app.answer.cget("text") == ""
    assert bar_widths(app) == [0.0] * 10
    assert bright_pixels(app.preview, 28, 28) == 0
    assert ink_box(app) is None


def test_drawing_a_one_shows_it_with_bars_and_preview(make_app, shipped):
    app = make_app(shipped)
    stroke(app, line(140, 40, 140, 240))
    assert app.answer.cget("text") == "1"
    widths = bar_widths(app)
    assert widths.index(max(widths)) == 1 and max(widths) > 0.9 * app._bar_width
    winner = app._bar_items[1][0]
    assert app.bars.itemcget(winner, "fill") != app.bars.itemcget(app._bar_items[0][0], "fill")
    # the preview holds a vertical bar of ink, 20 rows tall as MNIST digits are
    rows = [y for y in range(28) if any(sum(app.preview.get(x, y)) > 3 * 128 for x in range(28))]
    assert rows and rows[-1] - rows[0] + 1 >= 18
    x0, y0, x1, y1 = ink_box(app)
    assert y1 - y0 > 0.6 * app._sheet[2] and x1 - x0 < 0.2 * app._sheet[2]
    last = app.records[-1]
    assert last["event"] == "prediction" and last["digit"] == 1 and len(last["probabilities"]) == 10


def test_prediction_updates_live_while_the_pen_is_down(make_app, shipped):
    app = make_app(shipped)
    stroke(app, ring(n=30)[:25], release=False)  # most of a "0", pen still down
    until(app, lambda: app.prediction is not None, "the throttled live prediction")
    assert app.drawing.pen_down  # it came while drawing, not from a release
    assert app.answer.cget("text") != ""
    before = bright_pixels(app.preview, 28, 28)
    stroke(app, ring(n=30)[24:], release=True)
    assert app.answer.cget("text") == "0"
    assert bright_pixels(app.preview, 28, 28) > before  # the preview followed the pen


def test_live_predictions_are_throttled(make_app, shipped):
    """While the pen moves, one prediction is scheduled at a time, not one per motion.
    (Timers run only inside update(), so without it none can fire here.)"""
    app = make_app(shipped)
    c = app.canvas
    x, y = at(app, 140, 40)
    c.event_generate("<ButtonPress-1>", x=x, y=y)
    pending, logged = app._pending, len(app.records)
    assert pending is not None
    for i in range(1, 20):
        x, y = at(app, 140, 40 + 10 * i)
        c.event_generate("<B1-Motion>", x=x, y=y, state=0x100)
        assert app._pending == pending
    assert len(app.records) == logged and app.prediction is None  # nothing computed yet
    c.event_generate("<ButtonRelease-1>", x=x, y=y)
    assert app._pending is None and app.answer.cget("text") == "1"  # the release predicts at once
    assert len(app.records) == logged + 1


def test_clear_by_button_and_keys(make_app, shipped):
    app = make_app(shipped)
    for clear in (app.clear_button.invoke, lambda: app.root.event_generate("<Escape>"),
                  lambda: app.root.event_generate("<Delete>")):
        stroke(app, line(140, 40, 140, 240))
        assert ink_box(app) is not None and app.prediction is not None
        clear()
        app.root.update()
        assert ink_box(app) is None
        assert app.prediction is None and app.answer.cget("text") == ""
        assert bar_widths(app) == [0.0] * 10
        assert bright_pixels(app.preview, 28, 28) == 0
        assert app.records[-1]["digit"] is None and app.records[-1]["strokes"] == 0


def test_undo_removes_the_last_stroke(make_app, shipped):
    app = make_app(shipped)
    stroke(app, line(140, 40, 140, 240))  # a 1...
    one = app.prediction.probabilities
    stroke(app, line(90, 40, 190, 40))  # ...with a bar on top: now it is something else
    assert app.prediction.probabilities != one
    app.root.event_generate("<Control-z>")
    app.root.update()
    assert len(app.drawing.strokes) == 1
    assert app.prediction.probabilities == one and app.answer.cget("text") == "1"
    app.undo_button.invoke()
    assert app.drawing.empty and ink_box(app) is None and app.prediction is None


def test_a_single_click_is_a_dot(make_app, shipped):
    app = make_app(shipped)
    stroke(app, [(140, 140)])
    x0, y0, x1, y1 = ink_box(app)  # Tk's bbox of a line is padded by about its width
    cx, cy = at(app, 140, 140)
    assert abs((x0 + x1) / 2 - cx) <= 2 and abs((y0 + y1) / 2 - cy) <= 2
    assert app._pen() <= x1 - x0 <= 3 * app._pen()
    assert app.prediction is not None  # a dot is ink: the network says something


# ------------------------------------------------------------- look inside
def test_look_inside_shows_filters_and_live_feature_maps(make_app, shipped):
    app = make_app(shipped)
    assert len(app._maps) == 8  # the shipped LeNet's first conv layer has 8 filters
    app.tabs.select(app.inside_tab)
    small = [m[0] for m in app._maps]
    h, w = app.recogniser.map_shape
    assert all(bright_pixels(m, w, h) == 0 for m in small)
    stroke(app, ring())
    lit = [bright_pixels(m, w, h) for m in small]
    assert sum(lit) > 0
    app.clear()
    assert all(bright_pixels(m, w, h) == 0 for m in small)


def test_a_model_without_convolution_says_so(make_app):
    app = make_app(architectures.build("mlp"))
    assert app._maps == []
    texts = [app.inside.itemcget(i, "text") for i in app.inside.find_all() if app.inside.type(i) == "text"]
    assert any("does not start with a convolution" in t for t in texts)
    stroke(app, line(140, 40, 140, 240))
    assert app.prediction is not None


def test_bars_follow_the_models_classes(make_app):
    model = architectures.build("cnn-small", classes=2)
    model.classes = [0, 1]
    app = make_app(model)
    assert len(app._bar_items) == 2
    names = [app.bars.itemcget(i, "text") for i in app.bars.find_all() if app.bars.type(i) == "text"]
    assert [n for n in names if n] == ["0", "1"]
    stroke(app, ring())
    assert app.answer.cget("text") in ("0", "1")
    assert app.records[-1]["classes"] == [0, 1] and len(app.records[-1]["probabilities"]) == 2


# ------------------------------------------------------------------ teach it
def test_labelling_saves_at_once_and_starts_a_new_drawing(make_app, shipped, tmp_path):
    app = make_app(shipped)
    app.tabs.select(app.teach_tab)
    app.root.event_generate("7")  # nothing drawn yet: nothing saved
    app.root.update()
    assert len(app.drawings) == 0 and "Draw a digit first" in app.status.cget("text")
    stroke(app, line(140, 40, 140, 240))
    seen = list(app.prediction.input)
    app.root.event_generate("1")
    app.root.update()
    stroke(app, ring())
    app.label_buttons[0].invoke()
    assert app.drawing.empty and app.prediction is None
    on_disk = Drawings(str(tmp_path / "drawings"))  # what the next session finds
    assert on_disk.labels == [1, 0]
    assert max(abs(a - b) for a, b in zip(on_disk.image(0), seen)) <= 0.5 / 255 + 1e-9
    assert app.count_labels[1].cget("text") == "1" and app.count_labels[0].cget("text") == "1"
    assert [r["digit"] for r in app.records if r["event"] == "labelled"] == [1, 0]


def label_some(app, n=2):
    for _ in range(n):
        stroke(app, line(140, 40, 150, 240))
        app.label(1)
        stroke(app, ring())
        app.label(0)


def test_finetune_in_the_background_then_save(make_app, shipped, tmp_path):
    app = make_app(shipped)
    label_some(app)
    old = app.recogniser.model
    app.finetune_button.invoke()
    assert app.job is not None and app.finetune_button.cget("text") == "Cancel"
    # the window stays usable while the job runs: drawing still gets a prediction
    stroke(app, line(140, 40, 140, 240))
    assert app.answer.cget("text") == "1"
    until(app, lambda: app.job is None, "the fine-tuning job")
    assert app.finetune_button.cget("text") == "Fine-tune"
    assert float(app.progress.cget("value")) == float(app.progress.cget("maximum")) > 0
    assert "Fine-tuned on 4 drawings" in app.status.cget("text")
    assert app.recogniser.model is not old and app.tuned
    assert "fine-tuned" in app.model_label.cget("text")
    assert str(app.save_button.cget("state")) == "normal"
    assert app.records[-1]["event"] == "prediction"  # the drawing was re-read by the new model
    assert any(r["event"] == "finetuned" for r in app.records)
    changed = [a != b for a, b in zip(old.state_dict()["0.weight"].data, app.recogniser.model.state_dict()["0.weight"].data)]
    assert any(changed)

    path = str(tmp_path / "mine.safetensors")
    assert app.save_model_as(path) == path
    saved = pn.load(path)
    assert saved.state_dict()["9.weight"].data == pytest.approx(
        app.recogniser.model.state_dict()["9.weight"].data, abs=1e-6)  # F32 on disk
    assert "mine.safetensors" in app.model_label.cget("text") and not app.tuned
    assert str(app.save_button.cget("state")) == "disabled"
    assert f"--model {path}" in app.status.cget("text")


def test_finetune_can_be_cancelled(make_app, shipped):
    app = make_app(shipped, finetune_options=dict(replay_size=2000, epochs=3, check=0))
    label_some(app, 1)
    old = app.recogniser.model
    app.finetune_button.invoke()
    app.finetune_button.invoke()  # "Cancel"
    until(app, lambda: app.job is None, "the cancelled job to stop")
    assert "Cancelled" in app.status.cget("text")
    assert app.recogniser.model is old and not app.tuned


def test_finetune_without_drawings_asks_for_some(make_app, shipped):
    app = make_app(shipped)
    app.finetune_button.invoke()
    assert app.job is None and "Label a few drawings first" in app.status.cget("text")


def test_save_to_a_bad_place_says_why(make_app, shipped, tmp_path):
    app = make_app(shipped)
    assert app.save_model_as(str(tmp_path / "no" / "such" / "dir" / "m.safetensors")) is None
    assert "Could not save the model" in app.status.cget("text")


# -------------------------------------------------------------------- resize
def test_resizing_scales_the_drawing_and_keeps_the_prediction(make_app, shipped):
    app = make_app(shipped)
    stroke(app, ring())
    before_box, before = ink_box(app), app.prediction.probabilities
    side = app._sheet[2]
    app.root.geometry("1200x1000")
    app.root.update()
    assert app._sheet[2] > side + 100 and app.canvas.winfo_width() >= app._sheet[2]
    x0, y0, x1, y1 = ink_box(app)
    grow = app._sheet[2] / side
    assert (y1 - y0) == pytest.approx((before_box[3] - before_box[1]) * grow, rel=0.1)
    app.predict_now()
    assert app.prediction.probabilities == before  # strokes live in sheet units: same input, same answer
    app.root.geometry("200x200")  # smaller than allowed: the sheet keeps its minimum
    app.root.update()
    assert app._sheet[2] >= 280


def test_a_stroke_continues_across_a_resize(make_app, shipped):
    app = make_app(shipped)
    stroke(app, line(140, 40, 140, 140), release=False)
    app.root.geometry("1100x900")
    app.root.update()
    stroke(app, line(140, 140, 140, 240)[1:], press=False)  # the same pen, still down
    assert len(app.drawing.strokes) == 1 and app.drawing.strokes[0][-1] == pytest.approx((140, 240), abs=1)
    assert app.answer.cget("text") == "1"


def test_closing_the_window_cancels_a_running_job(make_app, shipped):
    app = make_app(shipped, finetune_options=dict(replay_size=2000, epochs=3, check=0))
    label_some(app, 1)
    app.finetune_button.invoke()
    job = app.job
    app.close()
    job.join(DEADLINE)
    assert not job.running
    assert os.path.isfile(app.drawings.labels_path)  # the labelled drawings stay on disk


def finetuned(make_app, shipped):
    app = make_app(shipped)
    label_some(app, 1)
    app.finetune_button.invoke()
    until(app, lambda: app.job is None, "the fine-tuning job")
    assert app.tuned
    return app


def test_closing_with_an_unsaved_finetuned_model_asks_first(make_app, shipped, tmp_path):
    app = finetuned(make_app, shipped)
    asked = []
    app.ask_save = lambda: asked.append(1)  # None: the person chose to stay
    app.close()
    assert asked and app.root.winfo_exists()  # still open, still tuned
    app.ask_save = lambda: True
    app.save_model_as = lambda path=None: None  # the save dialog was cancelled: stay too
    app.close()
    assert app.root.winfo_exists()
    path = str(tmp_path / "kept.safetensors")
    app.save_model_as = lambda: type(app).save_model_as(app, path)
    app.close()
    assert os.path.isfile(path) and pn.load(path).state_dict()["9.weight"].data == pytest.approx(
        app.recogniser.model.state_dict()["9.weight"].data, abs=1e-6)
    assert not tk_exists(app)


def test_closing_without_saving_when_told_so(make_app, shipped, tmp_path):
    app = finetuned(make_app, shipped)
    app.ask_save = lambda: False
    app.close()
    assert not tk_exists(app) and not list(tmp_path.glob("*.safetensors"))


def test_closing_an_untouched_model_asks_nothing(make_app, shipped):
    app = make_app(shipped)
    app.ask_save = lambda: pytest.fail("asked to save a model that was not fine-tuned")
    app.close()
    assert not tk_exists(app)


def tk_exists(app):
    import tkinter

    try:
        return bool(app.root.winfo_exists())
    except tkinter.TclError:
        return False

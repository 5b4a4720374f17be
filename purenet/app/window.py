"""The drawing app's Tk window: ``purenet draw``.

    root = tkinter.Tk()
    app = App(root, Recogniser(model), Drawings(), model_name="lenet-mnist.safetensors")
    root.mainloop()

Layout: the drawing sheet on the left (it grows with the window); on the
right the network's answer (the big digit, one probability bar per class
of the model, the 28x28 picture it was given) and two tabs: "Look inside"
(the first conv layer's filters and the feature maps of the current
drawing) and "Teach it" (label drawings, fine-tune, save the model).

This module is the thin Tk layer. Strokes, preprocessing and prediction are
in :mod:`purenet.app.state`, the labelled drawings in
:mod:`purenet.app.userdata`, fine-tuning in :mod:`purenet.app.finetune`,
colours in :mod:`purenet.app.pictures`: all of them are plain Python,
tested without a display. It is the only module of purenet that imports
tkinter.

Live prediction is throttled: while the pen moves, the drawing is
recognised at most once every ``THROTTLE_MS`` (one recognition takes a few
milliseconds, so drawing never waits on it), and always when the pen
lifts. With ``log``, every shown prediction (and a few other events) is
written as one JSON line, flushed: what tests and scripts follow.
"""

import json
import os
import queue
import tkinter as tk
from tkinter import filedialog, messagebox, ttk
from typing import Callable, Optional

from . import pictures
from .finetune import Cancelled, FineTune
from .state import PAPER, Drawing, Prediction, Recogniser
from .userdata import Drawings

__all__ = ["App", "THROTTLE_MS"]

THROTTLE_MS = 80  # at most one live prediction per this many ms while drawing
POLL_MS = 50  # how often the window looks at a running fine-tuning job
CANVAS_SIZE = 540  # the drawing area's initial size in screen pixels; at least 280 once laid out
MIN_SHEET = 280
MARGIN = 12  # screen pixels between the sheet and the canvas edge
PREVIEW_ZOOM = 4  # the 28x28 input shown at 112x112
BAR_ROW = 20  # pixels per probability bar
SIDE_WIDTH = 380  # the right-hand panel

INK = "#1b1b1f"
PAPER_COLOUR = "white"
DESK = "#dcdfe4"  # the canvas around the sheet
ACCENT = "#2f6fd6"  # the winning bar
BAR = "#a9bcd6"
BAR_BACK = "#eef1f5"
MUTED = "#5b6270"

Log = Callable[[dict], None]


def json_log(stream) -> Log:
    """A ``log`` for :class:`App`: one JSON object per line on ``stream``, flushed."""

    def log(record: dict) -> None:
        stream.write(json.dumps(record) + "\n")
        stream.flush()

    return log


class App:
    """The window's widgets and their callbacks, built into ``root``.

    Args:
        root: the Tk root (or a Toplevel).
        recogniser: the model and its class names.
        drawings: where labelled drawings are kept.
        model_name: shown under the bars (e.g. the model file's name).
        log: called with a dict for every prediction shown and every label,
            fine-tune and save (see :func:`json_log`).
        finetune_options: extra keyword arguments for :class:`FineTune`
            (tests make the job small).
    """

    def __init__(self, root, recogniser: Recogniser, drawings: Drawings, *, model_name: str = "model",
                 log: Optional[Log] = None, finetune_options: Optional[dict] = None):
        self.root = root
        self.recogniser = recogniser
        self.drawings = drawings
        self.drawing = Drawing()
        self.model_name = model_name
        self.log = log or (lambda record: None)
        self.finetune_options = finetune_options or {}
        self.prediction: Optional[Prediction] = None
        self.job: Optional[FineTune] = None
        self.tuned = False  # the live model was fine-tuned and not saved since
        self._pending = None  # the `after` id of a scheduled live prediction
        self._progress: "queue.Queue" = queue.Queue()
        self._sheet = (MARGIN, MARGIN, CANVAS_SIZE - 2 * MARGIN)  # x, y, side of the sheet on the canvas
        self._line = None  # the canvas item of the stroke being drawn

        root.title("purenet draw")
        style = ttk.Style(root)
        if "clam" in style.theme_names():  # flatter and clearer than Tk's "default" theme on X11
            style.theme_use("clam")
        self.background = style.lookup("TFrame", "background") or DESK
        root.configure(background=self.background)
        style.configure("Big.TLabel", font=("DejaVu Sans", 44, "bold"))
        style.configure("Muted.TLabel", foreground=MUTED)
        style.configure("Head.TLabel", font=("DejaVu Sans", 11, "bold"))
        style.configure("Horizontal.TProgressbar", background=ACCENT, troughcolor=BAR_BACK)
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)
        self._build_sheet(root)
        self._build_side(root)
        self._bind_keys(root)
        root.protocol("WM_DELETE_WINDOW", self.close)
        self.show(None)
        root.update_idletasks()
        # the sheet may shrink with the window, but never below MIN_SHEET
        spare = CANVAS_SIZE - 2 * MARGIN - MIN_SHEET
        root.minsize(root.winfo_reqwidth() - spare, root.winfo_reqheight() - spare)

    def announce(self) -> None:
        """Wait until the window is on screen, then log where its sheet is (screen pixels):
        ``{"event": "ready", "sheet": [x, y, side], ...}``, for scripts that drive the mouse."""
        self.root.wait_visibility(self.canvas)
        self.root.update()  # the canvas's <Configure> has placed the sheet
        x, y, side = self._sheet
        left, top = self.canvas.winfo_rootx(), self.canvas.winfo_rooty()
        self.log({"event": "ready", "sheet": [round(left + x), round(top + y), round(side)],
                  "classes": self.recogniser.names, "model": self.model_name, "drawings": len(self.drawings)})

    # ------------------------------------------------------------ building
    def _build_sheet(self, root) -> None:
        left = ttk.Frame(root, padding=(10, 10, 4, 10))
        left.grid(row=0, column=0, sticky="nsew")
        left.columnconfigure(0, weight=1)
        left.rowconfigure(1, weight=1)
        ttk.Label(left, text="Draw a digit", style="Head.TLabel").grid(row=0, column=0, sticky="w")
        self.canvas = tk.Canvas(left, width=CANVAS_SIZE, height=CANVAS_SIZE, background=self.background,
                                highlightthickness=0, cursor="pencil")
        self.canvas.grid(row=1, column=0, sticky="nsew", pady=(6, 6))
        buttons = ttk.Frame(left)
        buttons.grid(row=2, column=0, sticky="ew")
        self.clear_button = ttk.Button(buttons, text="Clear (Esc)", command=self.clear)
        self.clear_button.pack(side="left")
        self.undo_button = ttk.Button(buttons, text="Undo (Ctrl+Z)", command=self.undo)
        self.undo_button.pack(side="left", padx=(6, 0))
        ttk.Label(buttons, text="digit keys 0-9 label the drawing", style="Muted.TLabel").pack(side="right")
        self.canvas.bind("<ButtonPress-1>", self._press)
        self.canvas.bind("<B1-Motion>", self._motion)
        self.canvas.bind("<ButtonRelease-1>", self._release)
        self.canvas.bind("<Configure>", self._resized)

    def _build_side(self, root) -> None:
        side = ttk.Frame(root, padding=(6, 10, 10, 10), width=SIDE_WIDTH)
        side.grid(row=0, column=1, sticky="ns")
        top = ttk.Frame(side)
        top.pack(fill="x")
        self.preview = tk.PhotoImage(width=28, height=28)
        self.preview_big = tk.PhotoImage(width=28 * PREVIEW_ZOOM, height=28 * PREVIEW_ZOOM)
        seen = ttk.Frame(top)
        seen.pack(side="left")
        tk.Label(seen, image=self.preview_big, borderwidth=1, relief="solid").pack()
        ttk.Label(seen, text="what the network sees", style="Muted.TLabel").pack()
        answer = ttk.Frame(top, padding=(14, 0, 0, 0))
        answer.pack(side="left", fill="both", expand=True)
        ttk.Label(answer, text="It's a", style="Muted.TLabel").pack(anchor="w")
        self.answer = ttk.Label(answer, text="", style="Big.TLabel")
        self.answer.pack(anchor="w")
        self.confidence = ttk.Label(answer, text="", style="Muted.TLabel")
        self.confidence.pack(anchor="w")

        self.bars = tk.Canvas(side, width=SIDE_WIDTH, height=10, highlightthickness=0, background=self.background)
        self.bars.pack(fill="x", pady=(10, 2))
        self._build_bars()
        self.model_label = ttk.Label(side, text="", style="Muted.TLabel", wraplength=SIDE_WIDTH)
        self.model_label.pack(anchor="w")
        self._show_model_name()

        self.tabs = ttk.Notebook(side)
        self.tabs.pack(fill="both", expand=True, pady=(8, 0))
        self.inside_tab = ttk.Frame(self.tabs, padding=6)
        self.teach_tab = ttk.Frame(self.tabs, padding=6)
        self.tabs.add(self.inside_tab, text="Look inside")
        self.tabs.add(self.teach_tab, text="Teach it")
        self._build_inside(self.inside_tab)
        self._build_teach(self.teach_tab)

    def _build_bars(self) -> None:
        """One row per class: its name, a bar, the probability."""
        c = self.bars
        c.delete("all")
        names = self.recogniser.names
        row, width = BAR_ROW, SIDE_WIDTH - 96
        c.configure(height=row * len(names) + 2)
        self._bar_items = []
        for i, name in enumerate(names):
            y = i * row + 2
            c.create_text(14, y + row / 2 - 1, text=str(name), font=("DejaVu Sans", 11, "bold"), anchor="center")
            c.create_rectangle(30, y + 3, 30 + width, y + row - 3, fill=BAR_BACK, outline="")
            bar = c.create_rectangle(30, y + 3, 30, y + row - 3, fill=BAR, outline="")
            text = c.create_text(36 + width, y + row / 2 - 1, text="", anchor="w", font=("DejaVu Sans", 9))
            self._bar_items.append((bar, text, y))
        self._bar_width = width

    def _build_inside(self, tab) -> None:
        """The filters and, under each, its feature map, four (or eight) to a row.

        The images are made once and refilled afterwards (a fine-tuned model has
        the same architecture): Tk images dropped for new ones would be freed by
        the garbage collector, which on PyPy may run in the fine-tuning thread,
        where Tk must not be called.
        """
        c = self.inside = tk.Canvas(tab, width=SIDE_WIDTH - 20, height=290, highlightthickness=0,
                                    background="white")
        c.pack(fill="both", expand=True)
        self._filters = []  # per filter: (small kernel image, zoomed image, zoom)
        self._maps = []  # per filter: (small map image, zoomed map image, zoom)
        found = self.recogniser.filters()
        if found is None:
            c.create_text(10, 10, anchor="nw", width=SIDE_WIDTH - 40, fill=MUTED,
                          text="This model does not start with a convolution layer: no filters to show.")
            return
        kernels, (kh, kw) = found
        n = len(kernels)
        cols = 4 if n <= 8 else 8
        cell = (SIDE_WIDTH - 30) // cols
        mh, mw = self.recogniser.map_shape
        zoom = max(1, (cell - 6) // max(mh, mw))
        fzoom = max(1, 18 // max(kh, kw))
        c.create_text(4, 4, anchor="nw", font=("DejaVu Sans", 9, "bold"),
                      text=f"First conv layer: {n} filters of {kh}x{kw} (blue -, red +)")
        c.create_text(4, 19, anchor="nw", fill=MUTED, font=("DejaVu Sans", 9),
                      text=f"below each, its {mh}x{mw} feature map of your drawing")
        top = 38
        for k in range(n):
            x = 4 + (k % cols) * cell
            y = top + (k // cols) * (fzoom * kh + zoom * mh + 12)
            small, big = tk.PhotoImage(width=kw, height=kh), tk.PhotoImage(width=kw * fzoom, height=kh * fzoom)
            c.create_image(x, y, image=big, anchor="nw")
            c.create_text(x + kw * fzoom + 4, y + kh * fzoom / 2, anchor="w", text=f"#{k + 1}",
                          fill=MUTED, font=("DejaVu Sans", 8))
            map_small, map_big = tk.PhotoImage(width=mw, height=mh), tk.PhotoImage(width=mw * zoom, height=mh * zoom)
            c.create_image(x, y + kh * fzoom + 4, image=map_big, anchor="nw")
            self._filters.append((small, big, fzoom))
            self._maps.append((map_small, map_big, zoom))
        rows = (n + cols - 1) // cols
        c.configure(height=top + rows * (fzoom * kh + zoom * mh + 12))
        self._show_filters()

    def _show_filters(self) -> None:
        """Paint the live model's first-layer kernels (on one colour scale)."""
        if not self._filters:
            return
        kernels, (kh, kw) = self.recogniser.filters()
        for (small, big, zoom), weights in zip(self._filters, pictures.normalise(kernels, signed=True)):
            small.put(pictures.photo_data(weights, kw, kh, pictures.DIVERGING))
            _zoom_into(big, small, zoom)

    def _build_teach(self, tab) -> None:
        ttk.Label(tab, text="Label your drawing: press its digit key or button.").pack(anchor="w")
        grid = ttk.Frame(tab)
        grid.pack(anchor="w", pady=(6, 2))
        self.label_buttons = []
        self.count_labels = []
        for d in range(10):
            b = ttk.Button(grid, text=str(d), width=2, command=lambda d=d: self.label(d))
            b.grid(row=0, column=d, padx=1)
            n = ttk.Label(grid, text="", style="Muted.TLabel", anchor="center")
            n.grid(row=1, column=d)
            self.label_buttons.append(b)
            self.count_labels.append(n)
        self.folder_label = ttk.Label(tab, text="", style="Muted.TLabel", wraplength=SIDE_WIDTH - 12)
        self.folder_label.pack(anchor="w", pady=(0, 8))
        row = ttk.Frame(tab)
        row.pack(fill="x")
        self.finetune_button = ttk.Button(row, text="Fine-tune", command=self.finetune)
        self.finetune_button.pack(side="left")
        self.save_button = ttk.Button(row, text="Save model as...", command=self.save_model_as, state="disabled")
        self.save_button.pack(side="left", padx=(6, 0))
        self.progress = ttk.Progressbar(tab, mode="determinate", length=SIDE_WIDTH - 30)
        self.progress.pack(fill="x", pady=(8, 4))
        # three lines reserved, so that a long message does not make the window jump
        self.status = tk.Label(tab, text="", wraplength=SIDE_WIDTH - 12, justify="left", anchor="nw", height=3,
                               background=self.background)
        self.status.pack(anchor="w", fill="x")
        self._show_counts()

    def _bind_keys(self, root) -> None:
        root.bind("<Escape>", lambda e: self.clear())
        root.bind("<Delete>", lambda e: self.clear())
        root.bind("<Control-z>", lambda e: self.undo())
        root.bind("<Control-Z>", lambda e: self.undo())
        for d in range(10):
            root.bind(str(d), lambda e, d=d: self.label(d))

    # ------------------------------------------------------------- drawing
    def _to_sheet(self, x: float, y: float):
        sx, sy, side = self._sheet
        scale = PAPER / side
        return (x - sx) * scale, (y - sy) * scale

    def _to_screen(self, points):
        sx, sy, side = self._sheet
        scale = side / PAPER
        out = []
        for x, y in points:
            out += [sx + x * scale, sy + y * scale]
        return out

    def _pen(self) -> float:
        return self.drawing.pen_width * self._sheet[2] / PAPER

    def _stroke_item(self, stroke):
        coords = self._to_screen(stroke if len(stroke) > 1 else stroke * 2)  # a dot: a line of length 0
        return self.canvas.create_line(*coords, width=self._pen(), fill=INK, capstyle="round",
                                       joinstyle="round", smooth=True, tags="ink")

    def _press(self, event) -> None:
        self.drawing.begin(*self._to_sheet(event.x, event.y))
        self._line = self._stroke_item(self.drawing.strokes[-1])
        self._schedule()

    def _motion(self, event) -> None:
        if self._line is None or not self.drawing.extend(*self._to_sheet(event.x, event.y)):
            return
        self.canvas.coords(self._line, *self._to_screen(self.drawing.strokes[-1]))
        self._schedule()

    def _release(self, event) -> None:
        if self._line is None:
            return
        self._motion(event)
        self.drawing.end()
        self._line = None
        self.predict_now()  # always show the answer for the finished stroke

    def _resized(self, event) -> None:
        side = max(1, min(event.width, event.height) - 2 * MARGIN)
        self._sheet = ((event.width - side) / 2, MARGIN, side)  # centred across, at the top
        self._redraw()

    def _redraw(self) -> None:
        c = self.canvas
        c.delete("all")
        x, y, side = self._sheet
        c.create_rectangle(x + 3, y + 3, x + side + 3, y + side + 3, fill="#c3c8d0", outline="")  # a shadow
        c.create_rectangle(x, y, x + side, y + side, fill=PAPER_COLOUR, outline="#b8bec8")
        items = [self._stroke_item(stroke) for stroke in self.drawing.strokes]
        self._line = items[-1] if self.drawing.pen_down else None  # a resize in mid-stroke: keep drawing it

    def clear(self) -> None:
        """Empty the sheet (button, Esc, Delete)."""
        self.drawing.clear()
        self._redraw()
        self.predict_now()

    def undo(self) -> None:
        """Remove the last stroke (button, Ctrl+Z)."""
        if self.drawing.undo():
            self._redraw()
            self.predict_now()

    # ---------------------------------------------------------- predicting
    def _schedule(self) -> None:
        if self._pending is None:
            self._pending = self.root.after(THROTTLE_MS, self.predict_now)

    def predict_now(self) -> None:
        """Recognise the drawing as it is and show (and log) the answer."""
        if self._pending is not None:
            self.root.after_cancel(self._pending)
            self._pending = None
        self.show(self.recogniser.recognise(self.drawing))
        record = {"event": "prediction", "strokes": len(self.drawing.strokes)}
        if self.prediction is None:
            record.update(digit=None, confidence=None, classes=self.recogniser.names, probabilities=None)
        else:
            record.update(self.prediction.to_json())
        self.log(record)

    def show(self, prediction: Optional[Prediction]) -> None:
        """Put ``prediction`` on screen: the answer, the bars, the input, the feature maps."""
        self.prediction = prediction
        names = self.recogniser.names
        if prediction is None:
            self.answer.configure(text="")
            self.confidence.configure(text="(draw a digit)")
            probabilities, best = [0.0] * len(names), None
            self.preview.put(pictures.photo_data([0.0] * 784, 28, 28, pictures.GRAY))
        elif not prediction.is_digit:
            self.answer.configure(text="?")
            self.confidence.configure(text=f"not a digit ({prediction.not_digit:.1%} sure)")
            probabilities, best = prediction.probabilities, None
            self.preview.put(pictures.photo_data(prediction.input, 28, 28, pictures.GRAY))
        else:
            self.answer.configure(text=str(prediction.label))
            self.confidence.configure(text=f"{prediction.confidence:.1%} sure")
            probabilities, best = prediction.probabilities, prediction.best
            self.preview.put(pictures.photo_data(prediction.input, 28, 28, pictures.GRAY))
        _zoom_into(self.preview_big, self.preview, PREVIEW_ZOOM)
        for i, (bar, text, y) in enumerate(self._bar_items):
            p = probabilities[i]
            self.bars.coords(bar, 30, y + 3, 30 + p * self._bar_width, y + BAR_ROW - 3)
            self.bars.itemconfigure(bar, fill=ACCENT if i == best else BAR)
            self.bars.itemconfigure(text, text=f"{p:.1%}" if prediction is not None else "",
                                    fill="black" if i == best else MUTED,
                                    font=("DejaVu Sans", 9, "bold" if i == best else "normal"))
        self._show_maps(prediction)

    def _show_maps(self, prediction: Optional[Prediction]) -> None:
        if not self._maps:
            return
        maps = prediction.feature_maps if prediction is not None else None
        mh, mw = self.recogniser.map_shape
        values = pictures.normalise(maps) if maps else [[0.0] * (mh * mw)] * len(self._maps)
        for (small, big, zoom), v in zip(self._maps, values):
            small.put(pictures.photo_data(v, mw, mh, pictures.HEAT))
            _zoom_into(big, small, zoom)

    def _show_model_name(self) -> None:
        k = len(self.recogniser.names)
        tuned = ", fine-tuned" if self.tuned else f", {k} classes"  # unsaved: the Save button is on
        self.model_label.configure(text=f"model: {self.model_name}{tuned}")

    # ------------------------------------------------------------ teaching
    def label(self, digit: int) -> None:
        """Save the current drawing as a ``digit`` (digit keys, the 0-9 buttons) and start a new one."""
        x = self.drawing.to_input()
        if x is None:
            self.say("Draw a digit first, then label it.")
            return
        try:
            self.drawings.add(x, digit)
        except OSError as e:
            self.say(f"Could not save the drawing: {e.strerror or e} ({self.drawings.folder})")
            return
        n = self.drawings.counts()[digit]
        self.say(f"Saved as a {digit} ({n} drawing{'s' if n != 1 else ''} of {digit}, {len(self.drawings)} in all). "
                 "Draw the next one.")
        self._show_counts()
        self.log({"event": "labelled", "digit": digit, "drawings": len(self.drawings)})
        self.clear()

    def _show_counts(self) -> None:
        counts = self.drawings.counts()
        for d, label in enumerate(self.count_labels):
            label.configure(text=str(counts[d]) if counts[d] else "")
        home = os.path.expanduser("~")
        folder = self.drawings.folder
        if folder.startswith(home + os.sep):
            folder = "~" + folder[len(home):]
        self.folder_label.configure(text=f"{len(self.drawings)} drawings saved in {folder}")

    def say(self, text: str) -> None:
        self.status.configure(text=text)

    def finetune(self) -> None:
        """Start fine-tuning a copy of the model on the labelled drawings (or cancel a running job)."""
        if self.job is not None:
            self.job.cancel()
            self.say("Cancelling...")
            return
        if not len(self.drawings):
            self.say("Label a few drawings first (draw, then press the digit key).")
            return
        try:
            self.job = FineTune(self.recogniser.model, self.drawings.images(), self.drawings.labels,
                                **self.finetune_options)
        except ValueError as e:
            self.say(str(e))
            return
        self.finetune_button.configure(text="Cancel")
        self.save_button.configure(state="disabled")
        self.progress.configure(value=0, maximum=1)
        self.say(f"Fine-tuning on {len(self.job.drawings)} drawings + {self.job.replay_size} MNIST images...")
        self.job.start(lambda done, total: self._progress.put((done, total)))
        self.root.after(POLL_MS, self._poll)

    def _poll(self) -> None:
        """Show the job's progress; when it has ended, take its model (or report why not)."""
        job = self.job
        if job is None:
            return
        running = job.running  # asked first: a job that ends now has already queued its last report
        while not self._progress.empty():
            done, total = self._progress.get_nowait()
            self.progress.configure(value=done, maximum=max(total, 1))
        if running:
            self.root.after(POLL_MS, self._poll)
            return
        self.job = None
        self.finetune_button.configure(text="Fine-tune")
        if isinstance(job.error, Cancelled):
            self.progress.configure(value=0)
            self.say("Cancelled: the model is unchanged.")
        elif job.error is not None:
            self.say(f"Fine-tuning failed: {job.error}")
        else:
            result = job.result
            self.tuned = True
            self.log({"event": "finetuned", "user_before": result.user_before,
                      "user_after": result.user_after, "trained_on": list(result.trained_on)})
            self.use_model(result.model)  # and shows what the new model makes of the drawing
            self._show_model_name()
            self.say(result.summary() + ". Save it to keep it.")
        self._set_save_state()

    def _set_save_state(self) -> None:
        self.save_button.configure(state="normal" if self.tuned else "disabled")

    def use_model(self, model) -> None:
        """Swap the live model (same classes) and show what it makes of the drawing."""
        self.recogniser = Recogniser(model, self.recogniser.names)
        self._show_filters()
        self.predict_now()

    def save_model_as(self, path: Optional[str] = None) -> Optional[str]:
        """Save the live model (asks for a file name unless ``path`` is given); returns the path."""
        if path is None:
            path = filedialog.asksaveasfilename(
                parent=self.root, title="Save model as", defaultextension=".safetensors",
                initialfile="my-model.safetensors", filetypes=[("purenet model", "*.safetensors")])
            if not path:
                return None
        try:
            self.recogniser.model.save(path)
        except OSError as e:
            self.say(f"Could not save the model: {e.strerror or e} ({path})")
            return None
        self.tuned = False
        self.model_name = os.path.basename(path)
        self._show_model_name()
        self._set_save_state()
        self.say(f"Saved to {path}. Start from it next time: purenet draw --model {path}")
        self.log({"event": "saved", "path": path})
        return path

    def close(self) -> None:
        """Window closed: stop a running job and leave (labelled drawings are already on disk).

        A fine-tuned model lives only in memory until it is saved, so closing
        with one asks first: save it (then close, unless the save was
        cancelled or failed), close without it, or stay.
        """
        if self.tuned:
            answer = self.ask_save()
            if answer is None or (answer and self.save_model_as() is None):
                return
        if self.job is not None:
            self.job.cancel()
        self.root.destroy()

    def ask_save(self) -> Optional[bool]:
        """Ask whether to save the fine-tuned model: True (save), False (don't), None (stay)."""
        return messagebox.askyesnocancel(
            "Save the fine-tuned model?",
            "The model was fine-tuned on your drawings and not saved. Save it before closing?",
            parent=self.root)


def _zoom_into(big, small, zoom: int) -> None:
    """Copy ``small`` into ``big`` enlarged ``zoom`` times (Tk does the pixel work)."""
    big.tk.call(big.name, "copy", small.name, "-zoom", zoom, zoom)

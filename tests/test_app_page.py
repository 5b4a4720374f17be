"""purenet.app.page: the web page's Python side, run here on CPython (and in Pyodide by web/tests)."""

import os
import sys

import pytest

import purenet as pn
from purenet.app import page
from purenet.app.pictures import DIVERGING, GRAY, HEAT
from purenet.app.state import Drawing, Recogniser
from purenet.cli import PRETRAINED_MODEL

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import drawings  # noqa: E402  (scripts/drawings.py: synthetic mouse drawings)

ONE = [[140, 40], [140, 140], [140, 240]]


@pytest.fixture(scope="module")
def shipped():
    return pn.load(PRETRAINED_MODEL)


def test_nothing_drawn_is_no_guess(shipped):
    view = page.Sketch(shipped).view(inside=True)
    assert view["digit"] == "" and view["verdict"] is None
    assert view["seen"] is None and view["seen_rgba"] is None and view["maps"] is None
    assert view["names"] == [str(d) for d in range(10)] and view["probabilities"] == [0.0] * 10
    assert view["strokes"] == []


def test_the_pen_builds_the_apps_drawing_and_its_prediction(shipped):
    sketch = page.Sketch(shipped)
    sketch.begin(*ONE[0])
    sketch.extend(ONE[1:])
    view = sketch.end()
    reference = Drawing()
    reference.begin(*ONE[0])
    for p in ONE[1:]:
        reference.extend(*p)
    reference.end()
    expected = Recogniser(shipped).recognise(reference)
    assert view["digit"] == "1" == str(expected.label)
    assert view["probabilities"] == expected.probabilities and view["seen"] == expected.input
    assert view["strokes"] == [[[float(x), float(y)] for x, y in ONE]]
    assert view["maps"] is None  # only asked for with inside=True


def test_the_picture_of_what_the_network_sees(shipped):
    sketch = page.Sketch(shipped)
    view = sketch.load_strokes([ONE])
    assert len(view["seen_rgba"]) == 28 * 28 * 4
    for i in (0, 300, 406):
        assert view["seen_rgba"][4 * i : 4 * i + 4] == page.rgba([view["seen"][i]], GRAY)
    assert sum(view["seen_rgba"][0::4]) > 0  # some ink shows


def test_look_inside_gives_every_feature_map_and_filter(shipped):
    sketch = page.Sketch(shipped)
    view = sketch.load_strokes([ONE], inside=True)
    assert view["map_shape"] == [26, 26] and len(view["maps"]) == 8
    assert all(len(m) == 26 * 26 * 4 for m in view["maps"])
    assert len({bytes(m) for m in view["maps"]}) > 1
    found = sketch.filters()
    assert found["shape"] == [3, 3] and len(found["kernels"]) == 8
    assert all(len(k) == 9 * 4 for k in found["kernels"])
    mlp = pn.Sequential([pn.Flatten(), pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28), seed=0)
    assert page.Sketch(mlp).filters() is None
    assert page.Sketch(mlp).load_strokes([ONE], inside=True)["maps"] is None


def test_rgba_uses_the_windows_colours():
    assert page.rgba([0.0, 1.0], GRAY) == bytes([0, 0, 0, 255, 255, 255, 255, 255])
    for palette, v in ((HEAT, 0.6), (DIVERGING, -0.4)):
        colour = palette(v)
        assert page.rgba([v], palette) == bytes([int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255])


def test_undo_clear_and_labelled(shipped):
    sketch = page.Sketch(shipped)
    sketch.load_strokes([ONE, [[20, 20], [60, 20]]])
    assert len(sketch.undo()["strokes"]) == 1
    assert sketch.labelled() == Recogniser(shipped).recognise(sketch.drawing).input
    assert sketch.clear()["digit"] == "" and sketch.labelled() is None


def test_drawings_read_like_the_tk_canvas_path(shipped):
    sketch = page.Sketch(shipped)
    items = list(drawings.generate(20, seed=3, split="held_out"))
    right = sum(sketch.load_strokes(d.strokes)["digit"] == str(d.digit) for d in items)
    assert right >= 18


def test_model_bytes_round_trip(shipped):
    data = page.model_to_bytes(shipped)
    again = page.model_from_bytes(data)
    assert again.architecture == shipped.architecture
    assert all(again.state_dict()[k].data == v.data for k, v in shipped.state_dict().items())


def test_a_bad_model_file_is_named_as_the_person_named_it():
    with pytest.raises(pn.ModelFileError) as e:
        page.model_from_bytes(b"\x08\0\0\0\0\0\0\0{}      ", name="C:/Users/me/mine.safetensors")
    assert str(e.value).startswith("mine.safetensors: ") and "tmp" not in str(e.value)
    with pytest.raises(TypeError, match="bytes"):
        page.model_from_bytes("not bytes")


def test_set_model_reads_the_drawing_with_the_new_model(shipped):
    from purenet.architectures import build

    sketch = page.Sketch(shipped)
    sketch.load_strokes([ONE])
    two = build("cnn-small", classes=2, seed=1)
    view = sketch.set_model(two)
    assert view["names"] == ["0", "1"] and len(view["probabilities"]) == 2 and view["strokes"]
    assert sketch.describe()["parameters"] == two.count_params() == 8 * 9 + 8 + 1352 * 2 + 2


def test_finetune_returns_a_loadable_model_and_reports_progress(shipped):
    images, digits = pn.datasets.load_bundled("test")
    seen = []
    result = page.finetune(shipped, [images[i] for i in range(4)], digits[:4], seed=1,
                           on_progress=lambda done, total: seen.append((done, total)), replay_size=12,
                           check=0, epochs=1)
    model = page.model_from_bytes(result["model"])
    assert model.count_params() == shipped.count_params()
    assert any(model.state_dict()[k].data != v.data for k, v in shipped.state_dict().items())
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)  # (4 x 3 repeats + 12 replayed) / 16 per batch
    assert result["summary"].startswith("Fine-tuned on 4 drawings + 12 MNIST images")
    assert result["check_before"] is None and 0.0 <= result["user_after"] <= 1.0


def test_training_from_scratch_steps_through_its_epochs():
    run = page.Training("cnn-small", epochs=2, batch_size=8, seed=0, limit=40, test_limit=20)
    states = []
    while not run.done:
        states.append(run.step(batches=2))
    assert [s["seen"] for s in states] == [16, 32, 40, 56, 72, 80]
    assert [s["epoch"] for s in states] == [0, 0, 1, 1, 1, 2] and states[-1]["done"]
    assert [s["test_accuracy"] is not None for s in states] == [False, False, True, False, False, True]
    assert len(run.history["loss"]) == 6 and len(run.history["test_accuracy"]) == 2
    assert run.optimizer.lr == pytest.approx(run.lr * run.lr_decay)  # the second epoch's rate
    assert states[-1]["samples_per_s"] > 0
    assert page.model_from_bytes(run.model_bytes()).count_params() == 13610
    with pytest.raises(ValueError, match="all 2 epochs done"):
        run.step()


def test_training_refuses_an_unknown_architecture():
    with pytest.raises(ValueError, match="Received: 'resnet'"):
        page.Training("resnet")


def test_a_drawing_that_is_no_digit_says_so_in_words(shipped):
    """The page's verdict is the core's not-a-digit answer: the prediction is then empty."""
    sketch = page.Sketch(shipped)
    for strokes in ([[(60, 60), (220, 220)], [(220, 60), (60, 220)]],           # a letter X
                    [[(40 + i * 20, 60 if i % 2 else 220) for i in range(11)]]):  # a zigzag scribble
        view = sketch.load_strokes(strokes)
        expected = Recogniser(shipped).recognise(sketch.drawing)
        assert not expected.is_digit
        assert view["digit"] == "" and view["verdict"] == "not a digit"
    view = sketch.load_strokes([ONE])
    assert view["digit"] == "1" and view["verdict"] is None


def test_an_onnx_model_loads_in_the_page_like_a_model_file(shipped, tmp_path):
    """The shipped model exported to ONNX, read back from its bytes as the page reads a dropped file."""
    path = tmp_path / "lenet.onnx"
    pn.export_onnx(shipped, path)
    for name in ("lenet.onnx", "dropped-file"):  # by its name, or by its first byte
        model = page.model_from_bytes(path.read_bytes(), name)
        sketch, reference = page.Sketch(model), page.Sketch(shipped)
        view, expected = sketch.load_strokes([ONE]), reference.load_strokes([ONE])
        assert view["digit"] == expected["digit"] == "1"
        assert max(abs(a - b) for a, b in zip(view["probabilities"], expected["probabilities"])) < 1e-5

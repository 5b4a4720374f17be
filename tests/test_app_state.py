"""The drawing app's plain-Python state: strokes, undo, recognition, feature maps, pictures."""

import math

import pytest

import purenet as pn
from purenet import architectures
from purenet.app import pictures
from purenet.app.state import PAPER, PEN_WIDTH, Drawing, Prediction, Recogniser, class_names
from purenet.app.strokes import to_input
from purenet.cli import PRETRAINED_MODEL
from purenet.vision.rejection import THRESHOLD


@pytest.fixture(scope="module")
def shipped():
    return Recogniser(pn.load(PRETRAINED_MODEL))


def draw(drawing, points):
    drawing.begin(*points[0])
    for p in points[1:]:
        drawing.extend(*p)
    drawing.end()


def ring(n=40):
    return [(140 + 60 * math.sin(2 * math.pi * i / n), 140 - 90 * math.cos(2 * math.pi * i / n)) for i in range(n + 1)]


# ------------------------------------------------------------------ Drawing
def test_strokes_undo_and_clear():
    d = Drawing()
    assert d.empty and d.to_input() is None
    draw(d, [(10, 10), (20, 20)])
    draw(d, [(30, 30)])  # a dot
    assert d.strokes == [[(10.0, 10.0), (20.0, 20.0)], [(30.0, 30.0)]]
    assert d.undo() and d.strokes == [[(10.0, 10.0), (20.0, 20.0)]]
    d.clear()
    assert d.empty and not d.undo()


def test_extend_needs_a_pen_down_and_skips_repeats():
    d = Drawing()
    assert not d.extend(5, 5)  # a motion without a press
    d.begin(5, 5)
    assert d.pen_down and not d.extend(5, 5) and d.extend(6, 5)
    d.end()
    assert not d.pen_down
    assert not d.extend(7, 5) and d.strokes == [[(5.0, 5.0), (6.0, 5.0)]]


def test_to_input_is_what_strokes_gives_on_the_sheet():
    d = Drawing()
    draw(d, ring())
    assert d.to_input() == to_input(d.strokes, PAPER, PAPER, PEN_WIDTH)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None])
def test_bad_points_are_refused(bad):
    with pytest.raises(ValueError, match="two finite numbers"):
        Drawing().begin(bad, 1)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "20"])
def test_bad_pen_width_is_refused(bad):
    with pytest.raises(ValueError, match="pen_width"):
        Drawing(bad)


# --------------------------------------------------------------- Recogniser
def test_recognise_a_one_and_a_zero_and_nothing(shipped):
    d = Drawing()
    assert shipped.recognise(d) is None
    draw(d, [(140, 40), (140, 240)])
    p = shipped.recognise(d)
    assert p.label == 1 and p.best == 1 and p.confidence == max(p.probabilities)
    assert sum(p.probabilities) == pytest.approx(1.0)
    d.clear()
    draw(d, ring())
    assert shipped.recognise(d).label == 0


def test_prediction_agrees_with_model_predict(shipped):
    d = Drawing()
    draw(d, ring())
    x = d.to_input()
    p = shipped.predict(x)
    assert p.probabilities == pytest.approx(shipped.model.predict([x]).data, abs=1e-12)


def test_feature_maps_are_the_first_conv_blocks_output(shipped):
    d = Drawing()
    draw(d, ring())
    p = shipped.recognise(d)
    assert p.map_shape == shipped.map_shape == (26, 26) and len(p.feature_maps) == 8
    model = shipped.model
    out = model.layers[1].forward(model.layers[0].forward(pn.Matrix([p.input])))  # conv, then ReLU
    assert [v for m in p.feature_maps for v in m] == pytest.approx(out.data)
    assert min(min(m) for m in p.feature_maps) >= 0.0  # after ReLU


def test_filters_are_the_first_conv_kernels(shipped):
    kernels, shape = shipped.filters()
    assert shape == (3, 3) and len(kernels) == 8
    assert [v for k in kernels for v in k] == shipped.model.layers[0].weight.data  # one input channel


def test_a_model_without_convolution_has_no_filters_or_maps():
    r = Recogniser(architectures.build("mlp"))
    d = Drawing()
    draw(d, ring())
    p = r.recognise(d)
    assert r.filters() is None and r.map_shape is None
    assert p.feature_maps is None and len(p.probabilities) == 10


def test_two_class_model_uses_its_class_names():
    model = architectures.build("cnn-small", classes=2)
    model.classes = [3, 8]
    r = Recogniser(model)
    d = Drawing()
    draw(d, ring())
    p = r.recognise(d)
    assert r.names == [3, 8] and p.label in (3, 8) and len(p.probabilities) == 2
    assert p.to_json()["classes"] == [3, 8] and p.to_json()["digit"] == p.label


def test_class_names_default_and_mismatch():
    model = architectures.build("mlp", classes=3)
    assert class_names(model) == [0, 1, 2]
    model.classes = [0, 1]
    with pytest.raises(ValueError, match="3 outputs"):
        class_names(model)


def test_recogniser_refuses_other_inputs():
    model = pn.Sequential([pn.Dense(2), pn.Softmax()], input_shape=(10,))
    with pytest.raises(ValueError, match="28x28"):
        Recogniser(model)


def test_prediction_json_is_plain_data():
    import json

    p = Prediction([0.0] * 784, [0.2, 0.7, 0.1], ["a", "b", "c"])
    record = json.loads(json.dumps(p.to_json()))
    assert record == {"digit": "b", "confidence": 0.7, "classes": ["a", "b", "c"], "probabilities": [0.2, 0.7, 0.1],
                      "is_digit": True, "not_digit": None}
    above = (1 + THRESHOLD) / 2  # the rejection model's probability of no digit, above its threshold
    refused = Prediction([0.0] * 784, [0.2, 0.7, 0.1], ["a", "b", "c"], not_digit=above).to_json()
    assert refused["digit"] is None and refused["is_digit"] is False and refused["not_digit"] == above


# ----------------------------------------------------------------- pictures
def test_photo_data_rows_and_colours():
    assert pictures.photo_data([0.0, 1.0], 2, 1, pictures.gray) == "{#000000 #ffffff}"
    assert pictures.gray(-1.0) == "#000000" and pictures.gray(2.0) == "#ffffff"
    with pytest.raises(ValueError, match="2 x 2 = 4 values"):
        pictures.photo_data([0.0], 2, 2, pictures.gray)


def test_colour_ramps_are_monotone_in_brightness():
    def light(c):
        return sum(int(c[i : i + 2], 16) for i in (1, 3, 5))

    heat = [light(pictures.heat(i / 20)) for i in range(21)]
    assert heat == sorted(heat) and heat[0] < heat[-1]
    assert pictures.diverging(-0.5) != pictures.diverging(0.5)
    assert light(pictures.diverging(0.0)) > light(pictures.diverging(-1.0))


def test_normalise_shares_one_scale():
    assert pictures.normalise([[1.0, 2.0], [4.0]]) == [[0.25, 0.5], [1.0]]
    assert pictures.normalise([[-2.0, 1.0]], signed=True) == [[-1.0, 0.5]]
    assert pictures.normalise([[0.0, 0.0]]) == [[0.0, 0.0]]


def test_palettes_match_their_colour_functions_and_clamp():
    for i in range(256):
        assert pictures.GRAY(i / 255) == pictures.gray(i / 255)
    assert pictures.HEAT(0.5) == pictures.heat(pictures.HEAT.low + 128 / pictures.HEAT.scale)
    assert pictures.DIVERGING(-1.0) == pictures.diverging(-1.0) and pictures.DIVERGING(1.0) == pictures.diverging(1.0)
    assert pictures.GRAY(-3.0) == "#000000" and pictures.GRAY(7.0) == "#ffffff"

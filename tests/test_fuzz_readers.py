"""Fuzzing every file reader: hostile input gives a result or the documented error, quickly.

Each reader (IDX and MNIST pairs, safetensors, model files, weights into a
model, checkpoints, PNG, PGM/PPM, JPEG, read_image) gets seeded Hypothesis cases
from ``tests/fuzzing.py``: valid files, byte-level mutations of them and
structured lies (see there). Every case must end in a result or the reader's
documented error (``DatasetError``, ``ModelFileError``, ``ImageError``),
never another exception; and each runs under guards against hangs and
blowups: an alarm, a generous time limit (this machine is shared, so the
real 1 s limit is measured by ``scripts/fuzz_readers.py``, not asserted
here) and tracemalloc's peak, which does not depend on load, held under
100 MB.

The second half checks what fuzzing cannot see: that loading never looks
names up outside purenet's registries, whatever a file calls its layers,
optimizer or loss.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings

import purenet as pn
from conftest import resave
import fuzzing
from fuzzing import tracemalloc

GUARD_SECONDS = 5.0  # catches hangs and pathological slowness, not ordinary noise
MAX_BYTES = 100 * 1024 * 1024
CASES = {"idx": 60, "mnist": 30, "safetensors": 60, "model": 50, "weights": 30, "checkpoint": 50,
         "png": 80, "pgm": 50, "jpeg": 120, "image": 40, "image-reduced": 40, "onnx": 80}


@pytest.fixture(scope="module")
def traced():
    """tracemalloc running for the module's tests (False on PyPy, which has none)."""
    if tracemalloc is None:
        yield False
        return
    tracemalloc.start()
    yield True
    tracemalloc.stop()


def test_every_reader_is_fuzzed():
    assert set(CASES) == set(fuzzing.READERS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reader_survives_hostile_input(name, traced, tmp_path):
    reader = fuzzing.READERS[name]
    results = []

    @settings(max_examples=CASES[name], database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much, HealthCheck.large_base_example])
    @given(reader.strategy())
    def case(data):
        results.append(fuzzing.run_case(reader, data, str(tmp_path), GUARD_SECONDS, MAX_BYTES).result)

    case()
    # The cases reach both sides: some inputs are valid, and the reader rejects others.
    assert "ok" in results and any(r != "ok" for r in results), sorted(set(results))


def test_the_guards_catch_what_they_should(traced, tmp_path):
    """The runner itself: an undocumented exception, a blowup and a hang are findings."""

    def reader(function):
        return fuzzing.Reader("probe", (pn.ModelFileError,), fuzzing._in_memory(function), None)

    with pytest.raises(fuzzing.Finding, match="undocumented KeyError"):
        fuzzing.run_case(reader(lambda data: {}[data]), b"x", str(tmp_path), GUARD_SECONDS, MAX_BYTES)
    if traced:
        with pytest.raises(fuzzing.Finding, match="allocated at peak"):
            fuzzing.run_case(reader(lambda data: bytearray(2 * MAX_BYTES)), b"", str(tmp_path), GUARD_SECONDS,
                             MAX_BYTES)
    with pytest.raises(fuzzing.Finding, match="no answer after"):
        fuzzing.run_case(reader(lambda data: [0 for _ in iter(int, 1)]), b"", str(tmp_path), 0.05, MAX_BYTES)
    outcome = fuzzing.run_case(reader(lambda data: pn.load(data)), b"not a path", str(tmp_path), GUARD_SECONDS,
                               MAX_BYTES)
    assert outcome.result == "ModelFileError"


# --- names in files are looked up in registries, never anywhere else -----------

HOSTILE_NAMES = ["os.system", "__import__", "eval", "builtins.exec", "subprocess.Popen", "Layer", "Sequential",
                 "__class__", "dense", "Dense ", ""]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    model = pn.Sequential([pn.Dense(3), pn.ReLU(), pn.Dense(2), pn.Softmax()], input_shape=(4,), seed=0)
    optimizer = pn.SGD(0.1, momentum=0.9)
    model.fit([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 1.0]], [0, 1], epochs=1, optimizer=optimizer,
              loss=pn.CrossEntropy())
    model.save(str(d / "model.safetensors"))
    pn.save_checkpoint(str(d / "run.ckpt"), model, optimizer, epoch=1)
    return d


def _with_json(key, edit):
    import json

    def meta(m):
        value = json.loads(m[key])
        edit(value)
        m[key] = json.dumps(value)

    return meta


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_layer_class_outside_the_registry_is_refused(files, tmp_path, name):
    path = resave(files / "model.safetensors", tmp_path / "hostile.safetensors",
                  meta=_with_json("architecture", lambda a: a["layers"][1].update({"class": name})))
    with pytest.raises(pn.ModelFileError, match="layer 1 class: expected one of .*Dense.*the unknown layer"):
        pn.load(str(path))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_an_optimizer_or_loss_class_outside_the_registry_is_refused(files, tmp_path, name):
    path = resave(files / "run.ckpt", tmp_path / "opt.ckpt",
                  meta=_with_json("optimizer", lambda o: o.update({"class": name})))
    with pytest.raises(pn.ModelFileError, match="optimizer'\\] class: expected one of .*the unknown optimizer"):
        pn.load_checkpoint(str(path))
    path = resave(files / "run.ckpt", tmp_path / "loss.ckpt",
                  meta=_with_json("loss", lambda o: o.update({"class": name})))
    with pytest.raises(pn.ModelFileError, match="loss'\\] class: expected one of .*the unknown loss"):
        pn.load_checkpoint(str(path))


def test_config_keys_cannot_reach_past_the_constructor(files, tmp_path):
    """Config keys become keyword arguments of the registered class and nothing else."""
    for key in ("__class__", "__init__", "__dict__", "self"):
        path = resave(files / "model.safetensors", tmp_path / f"{key}.safetensors",
                      meta=_with_json("architecture", lambda a: a["layers"][0]["config"].update({key: "os.system"})))
        with pytest.raises(pn.ModelFileError, match="layer 0 \\(Dense\\) config"):
            pn.load(str(path))


# --- the limits that bound what a small hostile file can cost -----------------

def test_a_json_bomb_is_refused_before_it_is_parsed():
    from purenet.io.safetensors import MAX_JSON_ITEMS, parse_safetensors

    header = ('{"a": [' + "{}," * MAX_JSON_ITEMS + "{}]}").encode()  # 0.75 MB that would parse to 250,000 dicts
    with pytest.raises(pn.ModelFileError, match=f"expected JSON of at most {MAX_JSON_ITEMS:,} values"):
        parse_safetensors(fuzzing.assemble_safetensors(header, b""))


def test_a_model_file_of_too_many_layers_is_refused(files, tmp_path):
    from purenet.io.modelfile import MAX_LAYERS

    many = [{"class": "ReLU", "config": {}}] * MAX_LAYERS
    path = resave(files / "model.safetensors", tmp_path / "deep.safetensors",
                  meta=_with_json("architecture", lambda a: a.update(layers=many + a["layers"])))
    with pytest.raises(pn.ModelFileError, match=f"layers: expected at most {MAX_LAYERS} layers"):
        pn.load(str(path))


def test_a_png_bomb_is_bounded_by_the_pixel_limit(traced):
    """A few kilobytes of zlib can declare any image: over MAX_PIXELS it is refused
    before inflating anything; at the limit, read as ``purenet predict`` reads
    (``min_side``), decoding holds the reduced image and a few rows."""
    import struct
    import zlib

    from purenet.io.image import MAX_PIXELS
    from purenet.io.png import SIGNATURE, decode_png

    def png(width, height):
        deflate = zlib.compressobj(9)
        size = fuzzing.scanline_bytes(width, height, 0, 8, 0)
        stream = b"".join(deflate.compress(bytes(1 << 20)) for _ in range(size >> 20))
        stream += deflate.compress(bytes(size & ((1 << 20) - 1))) + deflate.flush()
        return SIGNATURE + b"".join([
            fuzzing.png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)),
            fuzzing.png_chunk(b"IDAT", stream),
            fuzzing.png_chunk(b"IEND", b""),
        ])

    width = 4000
    height = MAX_PIXELS // width
    with pytest.raises(pn.ImageError, match="larger than this reader accepts"):
        decode_png(png(width, height + 1))
    bomb = png(width, height)
    if traced:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    image = decode_png(bomb, min_side=300)
    assert image.size == (width // 8, height // 8) and len(bomb) < width * height // 500
    if traced:  # (not on PyPy)
        peak = tracemalloc.get_traced_memory()[1] - base
        assert peak < 2 * width * height // 64 + 8 * 1024 * 1024  # the reduced image twice, a few rows


def test_an_endless_image_file_is_read_up_to_the_limit_only(tmp_path):
    from purenet.io.image import MAX_FILE_BYTES

    if os.path.exists("/dev/zero"):
        with pytest.raises(pn.ImageError, match=f"at most {MAX_FILE_BYTES:,} bytes. Received: more than that"):
            pn.io.read_image("/dev/zero")
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: checked by its size, never read
    with pytest.raises(pn.ImageError, match=f"Received: {MAX_FILE_BYTES + 1:,} bytes"):
        pn.io.read_image(str(big))


@pytest.mark.parametrize("compressed", [False, True])
def test_an_idx_file_over_the_payload_limit_is_refused_before_reading(tmp_path, compressed):
    import struct

    from purenet.datasets.idx import MAX_PAYLOAD, read_idx

    header = bytes((0, 0, 8, 1)) + struct.pack(">I", MAX_PAYLOAD + 1)
    path = tmp_path / "big-idx1-ubyte"
    if compressed:  # what a gzip bomb of MAX_PAYLOAD + 1 zeros would start with
        path.write_bytes(fuzzing._gzip(header + bytes(1000)))
    else:  # a sparse file of exactly the declared size: consistent, just too big
        with open(path, "wb") as f:
            f.write(header)
            f.truncate(len(header) + MAX_PAYLOAD + 1)
    with pytest.raises(pn.DatasetError, match=f"expected at most {MAX_PAYLOAD} elements"):
        read_idx(str(path))


@pytest.mark.parametrize("gap", [b" " * 5_000_000, b"#" + b"x" * 5_000_000 + b"\n", b"#\n" * 2_000_000])
def test_a_pgm_header_of_endless_whitespace_or_comments_is_refused(gap):
    from purenet.io.pgm import decode_pgm

    with pytest.raises(pn.ImageError, match="the header .* runs past"):
        decode_pgm(b"P5" + gap + b"1 1 255\n\x07")

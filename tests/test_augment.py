"""Augmentation (purenet.augment): exact cases by hand, everything else
against a plain per-pixel bilinear resampler written here (and PyTorch's
``grid_sample`` when it is installed)."""

import math
import random

import pytest

from conftest import require
from purenet.augment import Augment, affine, inverse_affine
from purenet.datasets import ImageSet, load_bundled
from purenet.matrix import Matrix


def reference(values, width, height, matrix, offset, channels=1):
    """Output (x, y) <- bilinear source at matrix @ (x, y) + offset, 0 outside."""
    (m00, m01), (m10, m11) = matrix
    ox, oy = offset
    plane = width * height
    out = []
    for c in range(channels):

        def pixel(i, j):
            return values[c * plane + j * width + i] if 0 <= i < width and 0 <= j < height else 0.0

        for y in range(height):
            for x in range(width):
                sx, sy = m00 * x + m01 * y + ox, m10 * x + m11 * y + oy
                i, j = math.floor(sx), math.floor(sy)
                fx, fy = sx - i, sy - j
                out.append(
                    (1 - fx) * (1 - fy) * pixel(i, j)
                    + fx * (1 - fy) * pixel(i + 1, j)
                    + (1 - fx) * fy * pixel(i, j + 1)
                    + fx * fy * pixel(i + 1, j + 1)
                )
    return out


def grid(values, width):
    return [values[i : i + width] for i in range(0, len(values), width)]


@pytest.fixture(scope="module")
def digits():
    return load_bundled("test")[0][:32]  # ImageSet (32, 1, 28, 28)


# ------------------------------------------------------------- exact cases
def test_identity_is_exact(digits):
    still = Augment(max_shift=0, max_rotation=0, scale=(1, 1), rng=random.Random(3))
    assert still(digits) == digits.to_matrix()
    rng = random.Random(0)
    image = [rng.random() for _ in range(3 * 5 * 7)]
    assert affine(image, 7, 5, *inverse_affine(7, 5), channels=3) == image
    assert inverse_affine(28, 28) == (((1.0, 0.0), (0.0, 1.0)), (0.0, 0.0))


@pytest.mark.parametrize("dx, dy", [(2, -1), (-3, 2), (0, 2), (4, 0)])
def test_integer_shift_moves_a_pixel_exactly(dx, dy):
    width, height = 9, 7
    image = [0.0] * (width * height)
    image[4 * width + 3] = 1.0  # (x, y) = (3, 4)
    out = affine(image, width, height, *inverse_affine(width, height, shift=(dx, dy)))
    expected = [0.0] * (width * height)
    expected[(4 + dy) * width + 3 + dx] = 1.0
    assert out == expected


def test_shift_out_of_the_image_leaves_zeros():
    image = [1.0] * 16
    assert affine(image, 4, 4, *inverse_affine(4, 4, shift=(5.5, 0))) == [0.0] * 16
    assert affine(image, 4, 4, *inverse_affine(4, 4, shift=(0, -4))) == [0.0] * 16


def rot90(rows):  # counter-clockwise, as seen on screen
    n = len(rows)
    return [[rows[x][n - 1 - y] for x in range(n)] for y in range(n)]


@pytest.mark.parametrize("n", [4, 5])
def test_quarter_turns_map_pixel_centres_exactly(n):
    rng = random.Random(n)
    pattern = [[rng.random() for _ in range(n)] for _ in range(n)]
    pattern[0][1] = 1.0  # asymmetric whatever the draw
    flat = [v for row in pattern for v in row]
    expected = pattern
    for degrees in (90, 180, 270, 360):
        expected = rot90(expected)
        out = grid(affine(flat, n, n, *inverse_affine(n, n, rotation=degrees)), n)
        assert all(abs(a - b) <= 1e-9 for ra, rb in zip(out, expected) for a, b in zip(ra, rb)), degrees
    three_quarters = grid(affine(flat, n, n, *inverse_affine(n, n, rotation=-90)), n)
    assert three_quarters == rot90(rot90(rot90(pattern)))


def test_quarter_turn_direction():
    # A dot right of the centre goes up under a counter-clockwise quarter turn.
    image = [0.0] * 25
    image[2 * 5 + 4] = 1.0  # (x, y) = (4, 2)
    out = affine(image, 5, 5, *inverse_affine(5, 5, rotation=90))
    assert out.index(1.0) == 0 * 5 + 2 and sum(out) == 1.0  # (2, 0)


def test_scale_two_about_the_centre():
    # A 2x2 block at the centre of a 6x6 image, scaled 2x: each row and
    # column profile becomes [1/4, 3/4, 1, 1, 3/4, 1/4] (all exact in binary).
    image = [1.0 if 2 <= x <= 3 and 2 <= y <= 3 else 0.0 for y in range(6) for x in range(6)]
    out = affine(image, 6, 6, *inverse_affine(6, 6, scale=2))
    profile = [0.25, 0.75, 1.0, 1.0, 0.75, 0.25]
    assert out == [py * px for py in profile for px in profile]
    # Any image: output (x, y) reads the source at c + ((x, y) - c) / 2.
    rng = random.Random(1)
    image = [rng.random() for _ in range(16)]
    out = affine(image, 4, 4, *inverse_affine(4, 4, scale=2))
    v = image  # out(0, 0) <- source (0.75, 0.75)
    corner = 0.0625 * v[0] + 0.1875 * v[1] + 0.1875 * v[4] + 0.5625 * v[5]
    assert out[0] == pytest.approx(corner, abs=1e-12)
    assert out == pytest.approx(reference(image, 4, 4, ((0.5, 0.0), (0.0, 0.5)), (0.75, 0.75)), abs=1e-12)


# ------------------------------------------------------ against the oracles
def transforms(width, height, rng):
    """Ordinary and extreme transforms for the comparisons below."""
    yield inverse_affine(width, height, rotation=30, scale=0.3)
    yield inverse_affine(width, height, rotation=-170, scale=3.0, shift=(1.5, -2.25))
    yield inverse_affine(width, height, shear=40, shift=(0.5, 0.5))
    yield inverse_affine(width, height, rotation=90, scale=0.8)
    yield inverse_affine(width, height, rotation=-45, shift=(width, 0))  # off the image
    yield ((0.0, 1.3), (-0.7, 0.2)), (width / 2, -1.5)  # any invertible map
    for _ in range(12):
        yield inverse_affine(
            width,
            height,
            rotation=rng.uniform(-180, 180),
            scale=rng.uniform(0.5, 2.0),
            shift=(rng.uniform(-3, 3), rng.uniform(-3, 3)),
            shear=rng.uniform(-30, 30),
        )


def test_matches_the_plain_resampler(digits):
    rng = random.Random(7)
    images = [digits[i] for i in range(4)]
    for width, height in ((28, 28), (8, 5), (3, 9)):
        images.append([rng.random() for _ in range(width * height)])  # no zero background
        images.append([0.0] * (width * height))  # blank
        edge = [0.0] * (width * height)
        edge[0] = edge[-1] = 1.0  # ink in two corners: the crop touches the border
        images.append(edge)
        sparse = [rng.choice([0.0, 0.0, 0.0, -0.5, 1.0]) for _ in range(width * height)]
        images.append(sparse)  # negative values are resampled too
    for image in images:
        size = len(image)
        width, height = (28, 28) if size == 784 else next(
            s for s in ((8, 5), (3, 9)) if s[0] * s[1] == size
        )
        for matrix, offset in transforms(width, height, rng):
            got = affine(image, width, height, matrix, offset)
            assert got == pytest.approx(reference(image, width, height, matrix, offset), abs=1e-9)


def test_matches_torch_grid_sample(digits):
    torch = require("torch")
    rng = random.Random(11)
    width, height = 28, 28
    image = digits[5]
    for matrix, offset in transforms(width, height, rng):
        (m00, m01), (m10, m11) = matrix
        coords = [
            [[(m00 * x + m01 * y + offset[0]) * 2 / (width - 1) - 1,
              (m10 * x + m11 * y + offset[1]) * 2 / (height - 1) - 1] for x in range(width)]
            for y in range(height)
        ]
        expected = torch.nn.functional.grid_sample(
            torch.tensor(image, dtype=torch.float64).reshape(1, 1, height, width),
            torch.tensor([coords], dtype=torch.float64),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=True,
        ).flatten().tolist()
        assert affine(image, width, height, matrix, offset) == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------- properties
def test_values_stay_in_unit_interval(digits):
    wild = Augment(max_shift=4, max_rotation=180, scale=(0.5, 2.0), max_shear=30, rng=random.Random(5))
    for _ in range(3):
        out = wild(digits)
        assert 0.0 <= min(out.data) and max(out.data) <= 1.0
    rng = random.Random(6)
    extremes = Matrix([[rng.choice([0.0, 1.0, rng.randrange(256) / 255]) for _ in range(100)] for _ in range(64)])
    out = wild(extremes, image_shape=(1, 10, 10))
    assert 0.0 <= min(out.data) and max(out.data) <= 1.0


def test_small_rotations_roughly_preserve_ink(digits):
    turn = Augment(max_shift=0, max_rotation=10, scale=(1, 1), rng=random.Random(2))
    before = digits.to_matrix()
    after = turn(digits)
    for n in range(len(digits)):
        ink = sum(before.data[n * 784 : (n + 1) * 784])
        assert sum(after.data[n * 784 : (n + 1) * 784]) == pytest.approx(ink, rel=0.10)


def test_default_augmentation_changes_images_but_keeps_them_digits(digits):
    out = Augment(rng=random.Random(0))(digits)
    before = digits.to_matrix()
    for n in range(len(digits)):
        a, b = before.data[n * 784 : (n + 1) * 784], out.data[n * 784 : (n + 1) * 784]
        assert a != b
        assert sum(b) == pytest.approx(sum(a), rel=0.35)  # scale up to 1.1^2 of the ink


# --------------------------------------------------- randomness and state
def test_same_seed_same_output_different_seed_different(digits):
    first = Augment(rng=random.Random(42))(digits)
    assert Augment(rng=random.Random(42))(digits) == first
    assert Augment(rng=42)(digits) == first
    assert Augment(rng=random.Random(43))(digits) != first
    augment = Augment(rng=random.Random(42))
    assert augment(digits) == first
    assert augment(digits) != first  # the generator moved on


def test_global_random_state_is_untouched(digits):
    random.seed(1234)
    state = random.getstate()
    Augment(max_shear=5)(digits)
    Augment(rng=random.Random(1))(digits.to_matrix(), image_shape=(1, 28, 28))
    assert random.getstate() == state


def test_every_image_draws_five_numbers_whatever_the_ranges():
    full = Augment(max_shift=2, max_rotation=12, scale=(0.9, 1.1), max_shear=5, rng=random.Random(9))
    still = Augment(max_shift=0, max_rotation=0, scale=(1, 1), rng=random.Random(9))
    for _ in range(3):
        full.draw(), still.draw()
    assert full.rng.getstate() == still.rng.getstate()


def test_channels_share_the_transform_and_are_resampled_separately():
    rng = random.Random(8)
    n, height, width = 4, 6, 7
    plane = height * width
    rows = [[rng.choice([0.0, 0.0, rng.random()]) for _ in range(3 * plane)] for _ in range(n)]
    colour = Augment(max_shear=10, rng=random.Random(21))(Matrix(rows), image_shape=(3, height, width))
    for c in range(3):
        channel = Matrix([row[c * plane : (c + 1) * plane] for row in rows])
        alone = Augment(max_shear=10, rng=random.Random(21))(channel, image_shape=(1, height, width))
        assert [row[c * plane : (c + 1) * plane] for row in colour.tolist()] == alone.tolist()
    assert colour.shape == (n, 3 * plane)


def test_inputs_image_collection_matrix_and_rows_agree(digits):
    matrix = digits.to_matrix()
    copy = list(matrix.data)
    out = Augment(rng=random.Random(4))(matrix, image_shape=(1, 28, 28))
    assert matrix.data == copy  # the input is not modified
    assert out is not matrix and out.data is not matrix.data
    assert Augment(rng=random.Random(4))(digits) == out
    assert Augment(rng=random.Random(4))(matrix.tolist(), image_shape=[1, 28, 28]) == out
    assert Augment(rng=random.Random(4))(digits, image_shape=(1, 28, 28)) == out


def test_config_and_repr():
    augment = Augment(max_shift=1, max_rotation=8, scale=[0.95, 1.05], max_shear=3, rng=7)
    config = augment.get_config()
    assert config == {"max_shift": 1.0, "max_rotation": 8.0, "scale": (0.95, 1.05), "max_shear": 3.0, "rng": 7}
    image = Matrix([[float(i % 3 == 0) for i in range(64)]])
    assert Augment(**config)(image, image_shape=(1, 8, 8)) == augment(image, image_shape=(1, 8, 8))
    assert repr(augment) == "Augment(max_shift=1.0, max_rotation=8.0, scale=(0.95, 1.05), max_shear=3.0)"
    assert "rng" not in Augment(rng=random.Random(0)).get_config()


# ------------------------------------------------------------------ errors
def test_shape_errors_name_expected_and_received(digits):
    augment = Augment()
    with pytest.raises(ValueError, match=r"expected rows of C\*H\*W = 784 .*Received: a \(2, 100\) Matrix"):
        augment(Matrix.zeros(2, 100), image_shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"expected image_shape=\(C, H, W\).*Received: None"):
        augment(Matrix.zeros(2, 784))
    with pytest.raises(ValueError, match=r"expected image_shape as \(C, H, W\).*Received: \(28, 28\)"):
        augment(Matrix.zeros(2, 784), image_shape=(28, 28))
    with pytest.raises(ValueError, match=r"expected image_shape \(1, 28, 28\).*Received: \(1, 14, 56\)"):
        augment(digits, image_shape=(1, 14, 56))
    with pytest.raises(TypeError, match=r"expected an image collection.*Received: str"):
        augment("digits.png")
    with pytest.raises(ValueError, match=r"expected 12 values .*C=3, H=2, W=2.*Received: 4"):
        affine([0.0] * 4, 2, 2, ((1, 0), (0, 1)), (0, 0), channels=3)
    with pytest.raises(ValueError, match=r"expected an invertible matrix"):
        affine([1.0] * 4, 2, 2, ((1, 2), (2, 4)), (0, 0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_shift": -1}, r"max_shift as a finite number >= 0; Received: -1"),
        ({"max_rotation": float("nan")}, r"max_rotation .*Received: nan"),
        ({"max_shear": 90}, r"max_shear .*< 90.0; Received: 90"),
        ({"scale": (1.1, 0.9)}, r"scale as \(low, high\) with 0 < low <= high; Received: \(1.1, 0.9\)"),
        ({"scale": 1.0}, r"scale as \(low, high\).*Received: 1.0"),
        ({"scale": (0, 1)}, r"Received: \(0, 1\)"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Augment(**kwargs)


def test_bad_rng():
    with pytest.raises(TypeError, match=r"random.Random or an int seed; Received: float"):
        Augment(rng=0.5)


def test_works_on_a_plain_image_set():
    images = ImageSet(bytes([0, 255, 0, 0] * 2), image_shape=(1, 2, 2))
    out = Augment(max_shift=0, max_rotation=0, scale=(1, 1))(images)
    assert out.tolist() == [[0.0, 1.0, 0.0, 0.0]] * 2


def test_non_finite_maps_are_refused():
    with pytest.raises(ValueError, match=r"expected finite matrix and offset; Received: .*nan"):
        affine([1.0] * 4, 2, 2, ((1, 0), (0, 1)), (float("nan"), 0))

"""Data augmentation: small random affine distortions of training images.

    >>> import random
    >>> from purenet.matrix import Matrix
    >>> augment = Augment(max_shift=2.0, max_rotation=12.0, scale=(0.9, 1.1), rng=random.Random(0))
    >>> augment
    Augment(max_shift=2.0, max_rotation=12.0, scale=(0.9, 1.1), max_shear=0.0)
    >>> batch = Matrix.zeros(4, 28 * 28)           # (N, C*H*W), floats in [0, 1]
    >>> augment(batch, image_shape=(1, 28, 28)).shape
    (4, 784)

What this file is for: ``purenet train --augment``. MNIST digits are
centred by their centre of mass, upright and of one size; digits drawn in
the app are not, so the model is trained on copies that are shifted,
rotated, scaled (and optionally sheared) by a little, a different random
amount for each image of each batch. :class:`Augment` draws the amounts
from its own ``random.Random``; :func:`inverse_affine` turns them into the
map from output pixels back to source pixels, and :func:`affine` resamples
one image along that map (bilinear interpolation, zero outside the image).

Coordinates: the pixel in row ``i``, column ``j`` has its centre at
``(x, y) = (j, i)``; ``x`` grows to the right and ``y`` downwards, as on
screen. Legend: N images, C channels, H height, W width.

What it is not: no elastic distortion, flips (a flipped digit is another
symbol), colour changes or crops, and it does not normalise. The fill is 0,
the background of MNIST; inputs with another background value get 0 where
the image moved away from the edge.

Speed: this runs on every training batch, so :func:`affine` computes only
output pixels whose source lands within one pixel of the source's bounding
box of nonzero values (a digit covers about a fifth of an MNIST image), and
walks each output row with the source position advanced incrementally.
"""

import math
import random
from numbers import Real
from typing import List, Optional, Sequence, Tuple, Union

from .matrix import Matrix

__all__ = ["Augment", "affine", "inverse_affine"]

Matrix2 = Tuple[Tuple[float, float], Tuple[float, float]]

# Slack, in source pixels, when deciding which output pixels can be nonzero.
# It only ever admits extra pixels (which then interpolate zeros from the
# two-pixel zero border of the cropped source), never drops a nonzero one.
_EPS = 1e-6


def _cos_sin_degrees(degrees: float) -> Tuple[float, float]:
    """cos and sin of an angle in degrees, exact at multiples of 90 degrees
    (math.cos(math.pi / 2) is 6e-17, which would blur a quarter turn)."""
    quarter, rest = divmod(degrees, 90.0)
    if rest == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter) % 4]
    t = math.radians(degrees)
    return math.cos(t), math.sin(t)


def inverse_affine(
    width: int,
    height: int,
    rotation: float = 0.0,
    scale: float = 1.0,
    shift: Tuple[float, float] = (0.0, 0.0),
    shear: float = 0.0,
) -> Tuple[Matrix2, Tuple[float, float]]:
    """The ``(matrix, offset)`` for :func:`affine` that rotates, scales, shears
    and shifts a ``width`` x ``height`` image about its centre.

    The image is moved by the forward map ``out = c + shift + A (src - c)``,
    with ``c = ((width - 1) / 2, (height - 1) / 2)`` the image centre and
    ``A = scale * R(rotation) * S(shear)``, where
    ``R(t) = [[cos t, sin t], [-sin t, cos t]]`` turns the image
    counter-clockwise on screen by ``t`` degrees (``y`` points down) and
    ``S(s) = [[1, tan s], [0, 1]]`` slants it horizontally by ``s`` degrees
    (rows further down move right). The function returns the inverse map,
    ``src = matrix @ out + offset``, which is what resampling needs: it
    says where each output pixel comes from.

    Args:
        width, height: image size in pixels.
        rotation: degrees, counter-clockwise; multiples of 90 are exact.
        scale: size factor, > 0 (2 doubles the digit about the centre).
        shift: ``(dx, dy)`` in pixels, right and down.
        shear: degrees, in (-90, 90).

    Example:
        >>> inverse_affine(5, 5, rotation=90)        # out (x, y) <- src (4 - y, x)
        (((0.0, -1.0), (1.0, 0.0)), (4.0, 0.0))
        >>> inverse_affine(28, 28, shift=(2, -1))
        (((1.0, 0.0), (0.0, 1.0)), (-2.0, 1.0))
    """
    if not (isinstance(scale, Real) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"inverse_affine: expected a scale > 0; Received: {scale!r}.")
    if not -90.0 < shear < 90.0:
        raise ValueError(f"inverse_affine: expected a shear in (-90, 90) degrees; Received: {shear!r}.")
    cos, sin = _cos_sin_degrees(rotation)
    tan = 0.0 if shear == 0 else math.tan(math.radians(shear))
    # A^-1 = S(shear)^-1 R(rotation)^-1 / scale, written out.
    inv = 1.0 / scale
    m00, m01 = (cos - tan * sin) * inv, (0.0 - sin - tan * cos) * inv
    m10, m11 = sin * inv, cos * inv
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    px, py = cx + shift[0], cy + shift[1]  # where the centre lands
    offset = (cx - (m00 * px + m01 * py), cy - (m10 * px + m11 * py))
    return ((m00, m01), (m10, m11)), offset


def affine(
    values: Sequence[float],
    width: int,
    height: int,
    matrix: Matrix2,
    offset: Tuple[float, float],
    channels: int = 1,
) -> List[float]:
    """Resample one image along an inverse affine map.

    Output pixel ``(x, y)`` takes the source value at
    ``(sx, sy) = matrix @ (x, y) + offset``, i.e.
    ``sx = m00*x + m01*y + ox`` and ``sy = m10*x + m11*y + oy``, by bilinear
    interpolation of the four source pixels around it, with pixels outside
    the image counted as 0 (so a source point less than one pixel outside
    the edge fades to 0; the same as ``torch.nn.functional.grid_sample``
    with ``align_corners=True, padding_mode="zeros"`` and
    ``scipy.ndimage.affine_transform(order=1, mode="grid-constant")``).
    Where the source point is a pixel centre the value is copied exactly.
    Every channel goes through the same map. Values from [0, 1] stay in [0, 1].

    Args:
        values: ``C*H*W`` floats, channel-first (one row of a batch Matrix).
        width, height: ``W`` and ``H``.
        matrix: ``((m00, m01), (m10, m11))``, see :func:`inverse_affine`.
        offset: ``(ox, oy)``.
        channels: ``C``.

    Returns:
        A new list of ``C*H*W`` floats.

    Shape:
        ``values``: ``(C*H*W,)`` -> ``(C*H*W,)``.

    Example:
        >>> image = [0.0, 1.0, 0.0,
        ...          0.0, 0.5, 0.0,
        ...          0.0, 0.0, 0.0]
        >>> affine(image, 3, 3, ((1, 0), (0, 1)), (-1, 0))   # shift right by 1
        [0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0]
        >>> affine(image, 3, 3, ((1, 0), (0, 1)), (0.5, 0))  # left by half a pixel
        [0.5, 0.5, 0.0, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0]
    """
    size = channels * height * width
    if len(values) != size:
        raise ValueError(
            f"affine: expected {size} values (C*H*W for C={channels}, H={height}, W={width}); "
            f"Received: {len(values)}."
        )
    out = [0.0] * size
    _affine_into(values, 0, out, 0, width, height, channels, matrix, offset)
    return out


def _affine_into(src, base, out, out_base, W, H, C, matrix, offset) -> None:
    """Write the transform of the image at ``src[base:base + C*H*W]`` into
    ``out[out_base:...]``, which must already hold zeros."""
    (m00, m01), (m10, m11) = matrix
    ox, oy = offset
    m00, m01, m10, m11, ox, oy = float(m00), float(m01), float(m10), float(m11), float(ox), float(oy)
    if not all(map(math.isfinite, (m00, m01, m10, m11, ox, oy))):
        raise ValueError(f"affine: expected finite matrix and offset; Received: {matrix!r}, {offset!r}.")
    plane = H * W
    if m00 == 1.0 and m11 == 1.0 and m01 == 0.0 and m10 == 0.0 and ox == 0.0 and oy == 0.0:
        out[out_base : out_base + C * plane] = src[base : base + C * plane]
        return
    det = m00 * m11 - m01 * m10
    if det == 0.0:
        raise ValueError(f"affine: expected an invertible matrix; Received: {matrix!r}.")
    # The forward map (output <- source), to find which output rows can see the digit.
    f10, f11 = -m10 / det, m00 / det  # second row of matrix^-1
    for c in range(C):
        start = base + c * plane
        rows = [src[s : s + W] for s in range(start, start + plane, W)]  # H x (W,)
        nonzero = list(map(any, rows))
        if True not in nonzero:
            continue  # a blank channel stays blank
        y0 = nonzero.index(True)
        y1 = H - 1 - nonzero[::-1].index(True)
        rows = rows[y0 : y1 + 1]
        columns = [any(col) for col in zip(*rows)]
        x0 = columns.index(True)
        x1 = W - 1 - columns[::-1].index(True)
        # The nonzero box, cropped with a border of two zero pixels: every
        # bilinear read below lands inside it, so the loop needs no bounds checks.
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        cw = bw + 4
        pad = [0.0, 0.0]
        buf = [0.0] * (2 * cw)
        for r in rows:
            buf += pad
            buf += r[x0 : x1 + 1]
            buf += pad
        buf += [0.0] * (2 * cw)
        # Source coordinates relative to the crop: (sx - x0 + 2, sy - y0 + 2).
        # Output pixels can be nonzero only where they fall in (1, bw + 2) x (1, bh + 2).
        cx, cy = ox - x0 + 2.0, oy - y0 + 2.0
        lo = 1.0 - _EPS
        hx, hy = bw + 2.0 + _EPS, bh + 2.0 + _EPS
        # Output rows that can see the box: the y-range of its forward-mapped corners.
        ys = [f10 * (sx - cx) + f11 * (sy - cy) for sx in (lo, hx) for sy in (lo, hy)]
        ya = max(0, math.ceil(min(ys)))
        yb = min(H, math.floor(max(ys)) + 1)
        # Output columns whose source is inside the box, as bounds linear in
        # the row y: x in [l1 + k1*y, u1 + k1*y] (from sx) and [l2 + k2*y, u2 + k2*y]
        # (from sy). A coefficient of 0 leaves x free; the row range took care of it.
        if m00 > 0.0:
            l1, u1, k1 = (lo - cx) / m00, (hx - cx) / m00, -m01 / m00
        elif m00 < 0.0:
            l1, u1, k1 = (hx - cx) / m00, (lo - cx) / m00, -m01 / m00
        else:
            l1, u1, k1 = -math.inf, math.inf, 0.0
        if m10 > 0.0:
            l2, u2, k2 = (lo - cy) / m10, (hy - cy) / m10, -m11 / m10
        elif m10 < 0.0:
            l2, u2, k2 = (hy - cy) / m10, (lo - cy) / m10, -m11 / m10
        else:
            l2, u2, k2 = -math.inf, math.inf, 0.0
        last = W - 1
        o = out_base + c * plane
        for y in range(ya, yb):
            a, b = l1 + k1 * y, l2 + k2 * y
            low = a if a > b else b
            a, b = u1 + k1 * y, u2 + k2 * y
            high = a if a < b else b
            if high < low or high < 0.0 or low > last:
                continue
            # xa = ceil(low) and xb = floor(high) + 1, clipped to the row.
            if low <= 0.0:
                xa = 0
            else:
                xa = int(low)
                if xa < low:
                    xa += 1
            xb = W if high >= last else int(high) + 1
            if xa < xb:
                s = o + y * W
                sx, sy = m00 * xa + m01 * y + cx, m10 * xa + m11 * y + cy
                out[s + xa : s + xb] = _row(buf, cw, sx, sy, m00, m10, xb - xa)


def _row(buf, cw, sx, sy, dx, dy, n) -> List[float]:
    """``n`` bilinear samples of the cropped image ``buf`` (rows of ``cw``),
    starting at ``(sx, sy)`` and stepping by ``(dx, dy)``; all coordinates are
    positive, so ``int`` is ``floor``."""
    row = []
    append = row.append
    for _ in range(n):
        ix = int(sx)
        iy = int(sy)
        fx = sx - ix
        i = iy * cw + ix
        a = buf[i]
        b = buf[i + cw]
        top = a + fx * (buf[i + 1] - a)
        append(top + (sy - iy) * (b + fx * (buf[i + cw + 1] - b) - top))
        sx += dx
        sy += dy
    return row


def _check_range(value, name, upper=None) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0 or (
        upper is not None and value >= upper
    ):
        bound = f" and < {upper}" if upper is not None else ""
        raise ValueError(f"Augment: expected {name} as a finite number >= 0{bound}; Received: {value!r}.")
    return float(value)


class Augment:
    """Randomly shift, rotate, scale (and shear) every image of a batch.

    Each image gets its own draw, in this order, from ``rng``::

        rotation = uniform(-max_rotation, max_rotation)   # degrees, counter-clockwise
        scale    = uniform(*scale)                         # size factor about the centre
        shear    = uniform(-max_shear, max_shear)          # degrees, horizontal slant
        dx, dy   = uniform(-max_shift, max_shift), uniform(-max_shift, max_shift)

    and is moved by ``out = c + (dx, dy) + scale * R(rotation) S(shear) (src - c)``
    about its centre ``c`` (see :func:`inverse_affine`), resampled bilinearly
    with 0 outside (see :func:`affine`). All channels of an image share its
    draw. Five numbers are drawn per image whatever the settings, so the
    stream of draws does not depend on which ranges are zero. With all
    ranges zero (``max_shift=0, max_rotation=0, scale=(1, 1)``) the output
    equals the input exactly.

    Args:
        max_shift: largest shift in pixels, along x and along y separately.
        max_rotation: largest rotation in degrees, either way.
        scale: ``(low, high)``, the range of the size factor, ``0 < low <= high``.
        max_shear: largest horizontal shear in degrees, either way (< 90).
        rng: a ``random.Random`` (shared, advanced by each call) or an int
            seed for a new one; ``None`` means ``random.Random(0)``. The
            global ``random`` state is never used.

    Shape:
        Input: an image collection of ``N`` images ``(C, H, W)``
        (:class:`purenet.datasets.ImageSet`, e.g. a slice of MNIST), or a
        Matrix / list of rows ``(N, C*H*W)`` together with ``image_shape=(C, H, W)``.
        Output: a new ``(N, C*H*W)`` Matrix.

    Example:
        >>> import random
        >>> from purenet.matrix import Matrix
        >>> dot = [0.0] * 25
        >>> dot[2 * 5 + 3] = 1.0                        # one dot: row 2, column 3
        >>> still = Augment(max_shift=0, max_rotation=0, scale=(1, 1))
        >>> still(Matrix([dot]), image_shape=(1, 5, 5)).data == dot
        True
        >>> a, b = Augment(rng=random.Random(7)), Augment(rng=random.Random(7))
        >>> a(Matrix([dot]), image_shape=(1, 5, 5)) == b(Matrix([dot]), image_shape=(1, 5, 5))
        True
        >>> sorted(a.draw())                            # one image's transform
        ['rotation', 'scale', 'shear', 'shift']
    """

    def __init__(
        self,
        max_shift: float = 2.0,
        max_rotation: float = 12.0,
        scale: Tuple[float, float] = (0.9, 1.1),
        max_shear: float = 0.0,
        rng: Union[random.Random, int, None] = None,
    ) -> None:
        self.max_shift = _check_range(max_shift, "max_shift")
        self.max_rotation = _check_range(max_rotation, "max_rotation", 360.0)
        self.max_shear = _check_range(max_shear, "max_shear", 90.0)
        if (
            not isinstance(scale, (tuple, list))
            or len(scale) != 2
            or not all(isinstance(s, Real) and not isinstance(s, bool) and math.isfinite(s) for s in scale)
            or not 0 < scale[0] <= scale[1]
        ):
            raise ValueError(f"Augment: expected scale as (low, high) with 0 < low <= high; Received: {scale!r}.")
        self.scale = (float(scale[0]), float(scale[1]))
        if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
            self.seed: Optional[int] = 0 if rng is None else rng
            self.rng = random.Random(self.seed)
        elif isinstance(rng, random.Random):
            self.seed = None
            self.rng = rng
        else:
            raise TypeError(f"Augment: expected rng as a random.Random or an int seed; Received: {type(rng).__name__}.")

    def get_config(self) -> dict:
        """The constructor arguments (``rng`` as ``seed`` when it was a seed)."""
        cfg = {
            "max_shift": self.max_shift,
            "max_rotation": self.max_rotation,
            "scale": self.scale,
            "max_shear": self.max_shear,
        }
        if self.seed is not None:
            cfg["rng"] = self.seed
        return cfg

    def __repr__(self) -> str:
        cfg = self.get_config()
        cfg.pop("rng", None)
        return "Augment(" + ", ".join(f"{k}={v!r}" for k, v in cfg.items()) + ")"

    #: ``random()`` calls per image (:meth:`draw`'s five ``uniform`` draws): a process that
    #: transforms part of a batch skips this many per image before its own (purenet.parallel).
    DRAWS_PER_IMAGE = 5

    def draw(self, rng: Optional[random.Random] = None) -> dict:
        """Draw one image's transform: ``{"rotation", "scale", "shear", "shift"}``
        (the keyword arguments of :func:`inverse_affine`), from ``rng`` if given, else
        from :attr:`rng`."""
        uniform = (rng or self.rng).uniform
        rotation = uniform(-self.max_rotation, self.max_rotation)
        scale = uniform(*self.scale)
        shear = uniform(-self.max_shear, self.max_shear)
        shift = (uniform(-self.max_shift, self.max_shift), uniform(-self.max_shift, self.max_shift))
        return {"rotation": rotation, "scale": scale, "shear": shear, "shift": shift}

    def __call__(self, batch, image_shape: Optional[Sequence[int]] = None, rng: Optional[random.Random] = None) -> Matrix:
        """Return a new Matrix with every image of ``batch`` randomly transformed (the
        transforms drawn from ``rng`` if given, else from :attr:`rng`)."""
        if hasattr(batch, "to_matrix") and hasattr(batch, "image_shape"):  # an ImageSet
            if image_shape is not None and tuple(image_shape) != tuple(batch.image_shape):
                raise ValueError(
                    f"Augment: expected image_shape {tuple(batch.image_shape)} (that of the images) "
                    f"or None; Received: {tuple(image_shape)}."
                )
            image_shape = batch.image_shape
            batch = batch.to_matrix()
        elif isinstance(batch, (list, tuple)):
            batch = Matrix(batch)
        elif not isinstance(batch, Matrix):
            raise TypeError(
                "Augment: expected an image collection, a Matrix or a list of rows; "
                f"Received: {type(batch).__name__}."
            )
        if image_shape is None:
            raise ValueError(
                f"Augment: expected image_shape=(C, H, W) with a {batch.shape} Matrix; Received: None."
            )
        shape = tuple(image_shape)
        if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
            raise ValueError(
                f"Augment: expected image_shape as (C, H, W), three positive ints; Received: {image_shape!r}."
            )
        C, H, W = shape
        size = C * H * W
        if batch.cols != size:
            raise ValueError(
                f"Augment: expected rows of C*H*W = {size} values for image_shape {shape}; "
                f"Received: a {batch.shape} Matrix."
            )
        src = batch.data
        out = [0.0] * len(src)
        for n in range(batch.rows):
            matrix, offset = inverse_affine(W, H, **self.draw(rng))
            _affine_into(src, n * size, out, n * size, W, H, C, matrix, offset)
        return Matrix.from_flat(out, batch.rows, size)  # (N, C*H*W)

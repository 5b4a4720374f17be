"""Inverse DCTs of one 8x8 block, at full size and reduced to 4x4, 2x2 and 1x1.

An 8x8 block of dequantized DCT coefficients ``F(u, v)`` (natural order,
``F[v * 8 + u]``, ``u`` horizontal frequency) becomes samples

    f(x, y) = 128 + sum_u sum_v C(u)/2 C(v)/2 F(u, v) cos((2x+1) u pi / 16) cos((2y+1) v pi / 16)

with ``C(0) = 1/sqrt(2)``, ``C(k) = 1`` otherwise (ITU-T T.81 A.3.3),
rounded and clamped to 0..255. The reduced forms give the block at 1/2,
1/4 and 1/8 scale: the means of ``f`` over its 2x2, 4x4 and 8x8 groups of
samples, computed straight from the coefficients (the mean of each cosine
over a group is a constant, zero for some frequencies, e.g. ``u = 4`` at
1/2 scale), so that libjpeg decodes a picture at reduced size without
decoding it at full size first; 1x1 is ``128 + F(0, 0) / 8``.

The arithmetic is libjpeg's, integer for integer (``jidctint.c``'s
``jpeg_idct_islow`` and ``jidctred.c``'s reduced forms: 13-bit fixed-point
constants, 2 extra bits between the passes), so that a decoded picture is
the same as the one libjpeg (and so Pillow, browsers, most viewers) shows,
not merely close to it. Out-of-range results wrap the way libjpeg's range
table does (only a corrupt file gets there).

Legend: ``block`` is a list of 64 ints (``F[v * 8 + u]``, dequantized);
each function returns the ``n * n`` samples row by row as bytes.
"""

from typing import List, Tuple

__all__ = ["idct_8x8", "idct_4x4", "idct_2x2", "idct_1x1", "RANGE_LIMIT"]

CONST_BITS = 13
PASS1_BITS = 2

#: ``RANGE_LIMIT[x & 1023]`` is ``x + 128`` clamped to 0..255 for ``-512 <= x < 512``
#: (libjpeg's post-IDCT range-limit table).
RANGE_LIMIT = bytes(min(255, max(0, (i if i < 512 else i - 1024) + 128)) for i in range(1024))

# round(c * 2**13) for the constants of jidctint.c / jidctred.c
F_0_211 = 1730
F_0_298 = 2446
F_0_390 = 3196
F_0_509 = 4176
F_0_541 = 4433
F_0_601 = 4926
F_0_720 = 5906
F_0_765 = 6270
F_0_850 = 6967
F_0_899 = 7373
F_1_061 = 8697
F_1_175 = 9633
F_1_272 = 10426
F_1_451 = 11893
F_1_501 = 12299
F_1_847 = 15137
F_1_961 = 16069
F_2_053 = 16819
F_2_172 = 17799
F_2_562 = 20995
F_3_072 = 25172
F_3_624 = 29692


def _islow(d0: int, d1: int, d2: int, d3: int, d4: int, d5: int, d6: int, d7: int) -> Tuple[int, ...]:
    """The 8-point 1-D IDCT of ``jpeg_idct_islow`` (one column, or one row), before descaling."""
    # even part
    z1 = (d2 + d6) * F_0_541
    tmp2 = z1 - d6 * F_1_847
    tmp3 = z1 + d2 * F_0_765
    tmp0 = (d0 + d4) << CONST_BITS
    tmp1 = (d0 - d4) << CONST_BITS
    tmp10 = tmp0 + tmp3
    tmp13 = tmp0 - tmp3
    tmp11 = tmp1 + tmp2
    tmp12 = tmp1 - tmp2
    # odd part
    z1 = d7 + d1
    z2 = d5 + d3
    z3 = d7 + d3
    z4 = d5 + d1
    z5 = (z3 + z4) * F_1_175
    z1 *= -F_0_899
    z2 *= -F_2_562
    z3 = z3 * -F_1_961 + z5
    z4 = z4 * -F_0_390 + z5
    t0 = d7 * F_0_298 + z1 + z3
    t1 = d5 * F_2_053 + z2 + z4
    t2 = d3 * F_3_072 + z2 + z3
    t3 = d1 * F_1_501 + z1 + z4
    return (tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0, tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3)


def _reduced4(d0: int, d1: int, d2: int, d3: int, d4: int, d5: int, d6: int, d7: int) -> Tuple[int, ...]:
    """The 1-D pass of ``jpeg_idct_4x4``: 4 outputs, ``d4`` unused, before descaling."""
    tmp0 = d0 << (CONST_BITS + 1)
    tmp2 = d2 * F_1_847 - d6 * F_0_765
    tmp10 = tmp0 + tmp2
    tmp12 = tmp0 - tmp2
    tmp0 = -d7 * F_0_211 + d5 * F_1_451 - d3 * F_2_172 + d1 * F_1_061
    tmp2 = -d7 * F_0_509 - d5 * F_0_601 + d3 * F_0_899 + d1 * F_2_562
    return (tmp10 + tmp2, tmp12 + tmp0, tmp12 - tmp0, tmp10 - tmp2)


def _reduced2(d0: int, d1: int, d2: int, d3: int, d4: int, d5: int, d6: int, d7: int) -> Tuple[int, ...]:
    """The 1-D pass of ``jpeg_idct_2x2``: 2 outputs, the even inputs past ``d0`` unused, before descaling."""
    tmp10 = d0 << (CONST_BITS + 2)
    tmp0 = -d7 * F_0_720 + d5 * F_0_850 - d3 * F_1_272 + d1 * F_3_624
    return (tmp10 + tmp0, tmp10 - tmp0)


def _two_pass(block: List[int], n: int, kernel, extra: int, columns=range(8)) -> bytes:
    """The ``n x n`` samples of ``block``: ``kernel`` down each column, descaled to
    ``PASS1_BITS`` fractional bits, then along each row, descaled and range-limited
    (``extra`` more bits each pass at reduced sizes, whose kernels scale up by that much).
    Only the ``columns`` whose results the kernel reads along the rows are transformed.

    A column or row whose inputs past the first are all zero comes out flat (libjpeg's
    shortcut, the same numbers the kernel would give: ``d0 << PASS1_BITS`` down a
    column, ``(d0 + 16) >> 5`` along a row; so a block whose coefficients past the first are
    all zero is flat, its :func:`idct_1x1`)."""
    if not any(block[1:]):
        return bytes((idct_1x1(block[0]),)) * (n * n)
    ws = [0] * (8 * n)  # n rows of 8 columns
    s = CONST_BITS - PASS1_BITS + extra
    r = 1 << (s - 1)
    for c in columns:
        column = block[c::8]
        if any(column[1:]):
            ws[c::8] = [(x + r) >> s for x in kernel(*column)]
        else:
            ws[c::8] = [column[0] << PASS1_BITS] * n
    out = bytearray(n * n)
    rl = RANGE_LIMIT
    s = CONST_BITS + PASS1_BITS + 3 + extra
    r = 1 << (s - 1)
    for o in range(0, n * n, n):
        row = ws[8 * o // n : 8 * o // n + 8]
        if any(row[1:]):
            out[o : o + n] = bytes([rl[((x + r) >> s) & 1023] for x in kernel(*row)])
        else:
            out[o : o + n] = bytes((rl[((row[0] + 16) >> 5) & 1023],)) * n
    return bytes(out)


def idct_8x8(block: List[int]) -> bytes:
    """Full-size inverse DCT (libjpeg's ``jpeg_idct_islow``)."""
    return _two_pass(block, 8, _islow, 0)


def idct_4x4(block: List[int]) -> bytes:
    """Inverse DCT reduced to 4x4, the block at 1/2 scale (libjpeg's ``jpeg_idct_4x4``)."""
    return _two_pass(block, 4, _reduced4, 1, (0, 1, 2, 3, 5, 6, 7))


def idct_2x2(block: List[int]) -> bytes:
    """Inverse DCT reduced to 2x2, the block at 1/4 scale (libjpeg's ``jpeg_idct_2x2``)."""
    return _two_pass(block, 2, _reduced2, 2, (0, 1, 3, 5, 7))


def idct_1x1(dc: int) -> int:
    """The block at 1/8 scale: its mean, ``128 + F(0, 0) / 8`` rounded (libjpeg's ``jpeg_idct_1x1``)."""
    return RANGE_LIMIT[((dc + 4) >> 3) & 1023]

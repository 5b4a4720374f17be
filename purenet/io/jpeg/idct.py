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

from typing import List

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


def idct_8x8(block: List[int]) -> bytes:
    """Full-size inverse DCT (libjpeg's ``jpeg_idct_islow``)."""
    ws = [0] * 64
    for c in range(8):
        d1, d2, d3, d4, d5, d6, d7 = (block[8 + c], block[16 + c], block[24 + c], block[32 + c],
                                      block[40 + c], block[48 + c], block[56 + c])
        if not (d1 or d2 or d3 or d4 or d5 or d6 or d7):
            dc = block[c] << PASS1_BITS
            ws[c] = ws[8 + c] = ws[16 + c] = ws[24 + c] = ws[32 + c] = ws[40 + c] = ws[48 + c] = ws[56 + c] = dc
            continue
        # even part
        z1 = (d2 + d6) * F_0_541
        tmp2 = z1 - d6 * F_1_847
        tmp3 = z1 + d2 * F_0_765
        d0 = block[c]
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
        t0 = d7 * F_0_298
        t1 = d5 * F_2_053
        t2 = d3 * F_3_072
        t3 = d1 * F_1_501
        z1 *= -F_0_899
        z2 *= -F_2_562
        z3 = z3 * -F_1_961 + z5
        z4 = z4 * -F_0_390 + z5
        t0 += z1 + z3
        t1 += z2 + z4
        t2 += z2 + z3
        t3 += z1 + z4
        r = 1 << (CONST_BITS - PASS1_BITS - 1)
        s = CONST_BITS - PASS1_BITS
        ws[c] = (tmp10 + t3 + r) >> s
        ws[56 + c] = (tmp10 - t3 + r) >> s
        ws[8 + c] = (tmp11 + t2 + r) >> s
        ws[48 + c] = (tmp11 - t2 + r) >> s
        ws[16 + c] = (tmp12 + t1 + r) >> s
        ws[40 + c] = (tmp12 - t1 + r) >> s
        ws[24 + c] = (tmp13 + t0 + r) >> s
        ws[32 + c] = (tmp13 - t0 + r) >> s
    out = bytearray(64)
    rl = RANGE_LIMIT
    s = CONST_BITS + PASS1_BITS + 3
    r = 1 << (s - 1)
    for o in range(0, 64, 8):
        d0, d1, d2, d3, d4, d5, d6, d7 = ws[o : o + 8]
        if not (d1 or d2 or d3 or d4 or d5 or d6 or d7):
            out[o : o + 8] = bytes((rl[((d0 + 16) >> 5) & 1023],)) * 8
            continue
        z1 = (d2 + d6) * F_0_541
        tmp2 = z1 - d6 * F_1_847
        tmp3 = z1 + d2 * F_0_765
        tmp0 = (d0 + d4) << CONST_BITS
        tmp1 = (d0 - d4) << CONST_BITS
        tmp10 = tmp0 + tmp3
        tmp13 = tmp0 - tmp3
        tmp11 = tmp1 + tmp2
        tmp12 = tmp1 - tmp2
        z1 = d7 + d1
        z2 = d5 + d3
        z3 = d7 + d3
        z4 = d5 + d1
        z5 = (z3 + z4) * F_1_175
        t0 = d7 * F_0_298
        t1 = d5 * F_2_053
        t2 = d3 * F_3_072
        t3 = d1 * F_1_501
        z1 *= -F_0_899
        z2 *= -F_2_562
        z3 = z3 * -F_1_961 + z5
        z4 = z4 * -F_0_390 + z5
        t0 += z1 + z3
        t1 += z2 + z4
        t2 += z2 + z3
        t3 += z1 + z4
        out[o] = rl[((tmp10 + t3 + r) >> s) & 1023]
        out[o + 7] = rl[((tmp10 - t3 + r) >> s) & 1023]
        out[o + 1] = rl[((tmp11 + t2 + r) >> s) & 1023]
        out[o + 6] = rl[((tmp11 - t2 + r) >> s) & 1023]
        out[o + 2] = rl[((tmp12 + t1 + r) >> s) & 1023]
        out[o + 5] = rl[((tmp12 - t1 + r) >> s) & 1023]
        out[o + 3] = rl[((tmp13 + t0 + r) >> s) & 1023]
        out[o + 4] = rl[((tmp13 - t0 + r) >> s) & 1023]
    return bytes(out)


def idct_4x4(block: List[int]) -> bytes:
    """Inverse DCT reduced to 4x4, the block at 1/2 scale (libjpeg's ``jpeg_idct_4x4``)."""
    ws = [0] * 32  # 4 rows of 8 (column 4 is never used)
    s1 = CONST_BITS - PASS1_BITS + 1
    r1 = 1 << (s1 - 1)
    for c in (0, 1, 2, 3, 5, 6, 7):
        d1, d2, d3, d5, d6, d7 = block[8 + c], block[16 + c], block[24 + c], block[40 + c], block[48 + c], block[56 + c]
        if not (d1 or d2 or d3 or d5 or d6 or d7):
            ws[c] = ws[8 + c] = ws[16 + c] = ws[24 + c] = block[c] << PASS1_BITS
            continue
        tmp0 = block[c] << (CONST_BITS + 1)
        tmp2 = d2 * F_1_847 - d6 * F_0_765
        tmp10 = tmp0 + tmp2
        tmp12 = tmp0 - tmp2
        tmp0 = -d7 * F_0_211 + d5 * F_1_451 - d3 * F_2_172 + d1 * F_1_061
        tmp2 = -d7 * F_0_509 - d5 * F_0_601 + d3 * F_0_899 + d1 * F_2_562
        ws[c] = (tmp10 + tmp2 + r1) >> s1
        ws[24 + c] = (tmp10 - tmp2 + r1) >> s1
        ws[8 + c] = (tmp12 + tmp0 + r1) >> s1
        ws[16 + c] = (tmp12 - tmp0 + r1) >> s1
    out = bytearray(16)
    rl = RANGE_LIMIT
    s2 = CONST_BITS + PASS1_BITS + 3 + 1
    r2 = 1 << (s2 - 1)
    for row in range(4):
        o = 8 * row
        d0, d1, d2, d3, _, d5, d6, d7 = ws[o : o + 8]
        if not (d1 or d2 or d3 or d5 or d6 or d7):
            out[4 * row : 4 * row + 4] = bytes((rl[((d0 + 16) >> 5) & 1023],)) * 4
            continue
        tmp0 = d0 << (CONST_BITS + 1)
        tmp2 = d2 * F_1_847 - d6 * F_0_765
        tmp10 = tmp0 + tmp2
        tmp12 = tmp0 - tmp2
        tmp0 = -d7 * F_0_211 + d5 * F_1_451 - d3 * F_2_172 + d1 * F_1_061
        tmp2 = -d7 * F_0_509 - d5 * F_0_601 + d3 * F_0_899 + d1 * F_2_562
        out[4 * row] = rl[((tmp10 + tmp2 + r2) >> s2) & 1023]
        out[4 * row + 3] = rl[((tmp10 - tmp2 + r2) >> s2) & 1023]
        out[4 * row + 1] = rl[((tmp12 + tmp0 + r2) >> s2) & 1023]
        out[4 * row + 2] = rl[((tmp12 - tmp0 + r2) >> s2) & 1023]
    return bytes(out)


def idct_2x2(block: List[int]) -> bytes:
    """Inverse DCT reduced to 2x2, the block at 1/4 scale (libjpeg's ``jpeg_idct_2x2``)."""
    ws = [0] * 16  # 2 rows of 8 (the even columns past 0 are never used)
    s1 = CONST_BITS - PASS1_BITS + 2
    r1 = 1 << (s1 - 1)
    for c in (0, 1, 3, 5, 7):
        d1, d3, d5, d7 = block[8 + c], block[24 + c], block[40 + c], block[56 + c]
        if not (d1 or d3 or d5 or d7):
            ws[c] = ws[8 + c] = block[c] << PASS1_BITS
            continue
        tmp10 = block[c] << (CONST_BITS + 2)
        tmp0 = -d7 * F_0_720 + d5 * F_0_850 - d3 * F_1_272 + d1 * F_3_624
        ws[c] = (tmp10 + tmp0 + r1) >> s1
        ws[8 + c] = (tmp10 - tmp0 + r1) >> s1
    out = bytearray(4)
    rl = RANGE_LIMIT
    s2 = CONST_BITS + PASS1_BITS + 3 + 2
    r2 = 1 << (s2 - 1)
    for row in range(2):
        o = 8 * row
        d0, d1, d3, d5, d7 = ws[o], ws[o + 1], ws[o + 3], ws[o + 5], ws[o + 7]
        if not (d1 or d3 or d5 or d7):
            out[2 * row] = out[2 * row + 1] = rl[((d0 + 16) >> 5) & 1023]
            continue
        tmp10 = d0 << (CONST_BITS + 2)
        tmp0 = -d7 * F_0_720 + d5 * F_0_850 - d3 * F_1_272 + d1 * F_3_624
        out[2 * row] = rl[((tmp10 + tmp0 + r2) >> s2) & 1023]
        out[2 * row + 1] = rl[((tmp10 - tmp0 + r2) >> s2) & 1023]
    return bytes(out)


def idct_1x1(dc: int) -> int:
    """The block at 1/8 scale: its mean, ``128 + F(0, 0) / 8`` rounded (libjpeg's ``jpeg_idct_1x1``)."""
    return RANGE_LIMIT[((dc + 4) >> 3) & 1023]

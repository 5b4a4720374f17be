"""Decoding a parsed JPEG: entropy-coded scans to coefficients, coefficients to samples.

Legend: ``W x H`` the image, ``n`` the output size of one 8x8 block (8 at
full size; 4, 2, 1 at 1/2, 1/4, 1/8 scale), ``h x v`` a component's
sampling factors and ``hmax x vmax`` the largest ones. An MCU (minimum
coded unit) of an interleaved scan holds ``h * v`` blocks of each
component; a single-component scan codes that component's blocks one by one.

Every scan's codes go into each component's coefficient array (64 per
block, or only the DC at 1/8 scale: then the AC codes are read and dropped,
and a progressive frame's AC scans are not even read); after the last scan
every block goes through the inverse DCT. A sequential (baseline) scan and
the first DC scan of a progressive frame are the same loop
(:func:`_first_pass`); the progressive refinements have their own.

The entropy decoder is the hot loop: a photo holds millions of codes. See
:mod:`purenet.io.jpeg.huffman` for the lookahead tables that decode a
coefficient per list lookup, and skip several AC codes per lookup when
only the DC terms are needed.
"""

from array import array
from operator import mul
from typing import List

from .huffman import ac_table, dc_table, extend, skip_table, symbol_table, words
from .idct import idct_1x1, idct_2x2, idct_4x4, idct_8x8
from .markers import Frame, Scan

__all__ = ["ZIGZAG", "Plane", "decode_frame"]

#: ``ZIGZAG[k]`` is the natural (row-major) index of the ``k``-th coefficient in zigzag order.
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)
_IDCT = {8: idct_8x8, 4: idct_4x4, 2: idct_2x2}


class Plane:
    """One component's samples at its own resolution (``stride`` bytes a row,
    ``width x height`` of them meaningful, the rest padding up to whole blocks)."""

    __slots__ = ("h", "v", "size", "blocks_w", "blocks_h", "width", "height", "stride", "samples",
                 "coefs", "quant", "tq")

    def __init__(self, frame: Frame, index: int, n: int, wanted: bool = True) -> None:
        c = frame.components[index]
        hmax = max(x.h for x in frame.components)
        vmax = max(x.v for x in frame.components)
        self.h, self.v, self.tq = c.h, c.v, c.tq
        # libjpeg's choice: chroma is transformed at a larger size rather than upsampled
        # afterwards when its sampling factors allow it (4:2:0 at 1/2 scale: chroma at 8x8)
        size = n
        while wanted and size < 8 and (hmax * n) % (c.h * size * 2) == 0 and (vmax * n) % (c.v * size * 2) == 0:
            size *= 2
        self.size = size
        mcus_w = -(-frame.width // (8 * hmax))
        mcus_h = -(-frame.height // (8 * vmax))
        self.blocks_w = mcus_w * c.h
        self.blocks_h = mcus_h * c.v
        # the component's own size (T.81 A.1.1), at this output scale
        self.width = -(-frame.width * c.h * size // (hmax * 8))
        self.height = -(-frame.height * c.v * size // (vmax * 8))
        self.stride = self.blocks_w * size
        self.samples = bytearray(self.stride * self.blocks_h * size)
        self.coefs = None  # the coefficients (64 a block, or the DC alone at size 1), set by decode_frame
        self.quant = None  # natural-order quantization table, latched at the component's first scan


def decode_frame(frame: Frame, scans: List[Scan], n: int, fail, wanted=None) -> List[Plane]:
    """The components' samples after every scan, each block at ``n x n``.

    Components not in ``wanted`` (indices; all by default) are decoded at 1/8
    scale whatever ``n`` is, their AC codes read and dropped: a caller that
    needs only the luma of a colour picture pays for the chroma's entropy
    decoding alone (progressive chroma AC scans are not even read).
    """
    planes = [Plane(frame, i, n if wanted is None or i in wanted else 1, wanted is None or i in wanted)
              for i in range(len(frame.components))]
    # Every block is coded at least once with at least one bit (its DC term), so
    # data much shorter than that is truncated, or a few bytes declaring a huge
    # image: refuse it before allocating anything the size of the image.
    hmax = max(c.h for c in frame.components)
    vmax = max(c.v for c in frame.components)
    blocks = sum(-(-frame.width * c.h // (8 * hmax)) * -(-frame.height * c.v // (8 * vmax))
                 for c in frame.components)
    data = sum(len(segment) for scan in scans for segment in scan.segments)
    if 8 * data + 64 < blocks:
        fail(f"{data} bytes of scan data cannot hold the {blocks} blocks the frame declares (truncated?)")
    tables = {}  # (kind, the table's bytes) -> lookup table, built once even if redefined alike
    try:
        for p in planes:
            # 16 bits hold any coefficient of an 8-bit JPEG (a corrupt one overflows:
            # OverflowError, reported below)
            p.coefs = array("h", bytes(2 * p.blocks_w * p.blocks_h * (64 if p.size > 1 else 1)))
        for scan in scans:
            _latch_quant(scan, planes, fail)
            if not frame.progressive or (scan.ss == 0 and scan.ah == 0):
                _first_pass(frame, scan, planes, tables, fail)
            elif scan.ss == 0:
                _refine_dc(frame, scan, planes, fail)
            elif planes[scan.components[0]].size > 1:
                _progressive_ac(frame, scan, planes, tables, fail)
            # at 1/8 scale only the DC terms matter: progressive AC scans are skipped unread
        for p in planes:
            _transform_all(p)
    except OverflowError:
        fail("a coefficient out of range (corrupt data)")
    except IndexError:  # the bit reader ran past the zero padding after a segment's data
        fail("scan data ends early (truncated?)")
    return planes


def _latch_quant(scan: Scan, planes, fail) -> None:
    """Each component keeps the quantization table in force at its first scan (as libjpeg)."""
    for i in scan.components:
        p = planes[i]
        if p.quant is None:
            table = scan.quant.get(p.tq)
            if table is None:
                fail(f"a component uses quantization table {p.tq}, which no DQT segment defines")
            natural = [0] * 64
            for k in range(64):
                natural[ZIGZAG[k]] = table[k]
            p.quant = tuple(natural)


def _table(tables, scan: Scan, kind: int, slot: int, build, fail):
    key = (kind, slot)
    spec = scan.huffman.get(key)
    if spec is None:
        fail(f"the scan uses {'DC' if kind == 0 else 'AC'} Huffman table {slot}, which no DHT segment defines")
    cache_key = (build, spec)
    table = tables.get(cache_key)
    if table is None:
        table = tables[cache_key] = build(spec[0], spec[1], fail)
    return table


def _skip(tables, scan: Scan, slot: int, fail):
    single = _table(tables, scan, 1, slot, ac_table, fail)
    key = ("skip", id(single))
    table = tables.get(key)
    if table is None:
        table = tables[key] = skip_table(single)
    return table


def _intervals(frame: Frame, scan: Scan, planes, fail):
    """``(segment bytes, blocks)`` of each restart interval, ``blocks`` yielding
    ``(scan component, the block's index in its plane)`` in the scan's order."""
    hmax = max(c.h for c in frame.components)
    vmax = max(c.v for c in frame.components)
    if len(scan.components) == 1:
        p = planes[scan.components[0]]
        # a single-component scan codes only the blocks the component's own size covers
        mcus_w = -(-frame.width * p.h // (8 * hmax))
        mcus_h = -(-frame.height * p.v // (8 * vmax))
        layout = [(0, p.blocks_w, 1, 1, 0, 0)]
    else:
        mcus_w = -(-frame.width // (8 * hmax))
        mcus_h = -(-frame.height // (8 * vmax))
        layout = [(j, planes[i].blocks_w, planes[i].h, planes[i].v, dx, dy)
                  for j, i in enumerate(scan.components) for dy in range(planes[i].v) for dx in range(planes[i].h)]
    total = mcus_w * mcus_h
    ri = scan.restart_interval or total
    count = -(-total // ri)
    if len(scan.segments) < count:
        fail(f"scan data ends after {len(scan.segments)} of its {count} restart intervals (truncated?)")

    def blocks(first, last):
        for m in range(first, last):
            my, mx = divmod(m, mcus_w)
            for j, blocks_w, h, v, dx, dy in layout:
                yield j, (my * v + dy) * blocks_w + mx * h + dx

    return [(scan.segments[i], blocks(i * ri, min(total, i * ri + ri))) for i in range(count)]


def _first_pass(frame: Frame, scan: Scan, planes, tables, fail) -> None:
    """A sequential scan (each block's DC and AC coefficients), or the first DC scan of
    a progressive frame (the DC terms alone, ``al`` bits short): the coefficients into
    the planes' ``coefs``, the DC alone for a plane decoded at 1/8 scale."""
    sequential = not frame.progressive
    al = scan.al
    comps = []
    for j, i in enumerate(scan.components):
        p = planes[i]
        keep = p.size > 1  # all 64 coefficients; else the AC codes are read and dropped
        comps.append((
            _table(tables, scan, 0, scan.dc_tables[j], dc_table, fail),
            _table(tables, scan, 1, scan.ac_tables[j], ac_table, fail) if sequential else None,
            _skip(tables, scan, scan.ac_tables[j], fail) if sequential and not keep else None,
            p.coefs,
            64 if keep else 1,
        ))
    zz1 = (0,) + ZIGZAG
    for segment, blocks in _intervals(frame, scan, planes, fail):
        w, bits = words(segment)
        # the bit accumulator: nb bits in the low end of acc, 32 more whenever fewer
        # than 32 are left, so that a code and its extra bits (at most 31) are there;
        # acc stays below 2**63, an int of the machine's word on PyPy
        wi, acc, nb = 0, 0, 0
        pred = [0] * len(comps)
        # One loop over the codes of the whole interval, DC and AC alike (flat: PyPy's
        # JIT then makes the common path, an AC lookup, its loop). k is the position
        # of the block's next coefficient, 64 when its last is decoded.
        k = 64
        j = b = stride = -1
        while True:
            if nb < 32:
                acc = ((acc & 0x7FFFFFFF) << 32) | w[wi]
                wi += 1
                nb += 32
            look = (acc >> (nb - 16)) & 0xFFFF
            if k < 64:  # --- AC: (run, value) codes up to end-of-block
                if skip is not None:  # several codes at once, unless they run past the block's end
                    e = skip[look]
                    if k < (e >> 5) & 127:
                        nb -= e & 31
                        k += e >> 12
                        continue
                n, r, v = act[look]
                nb -= n
                if v is None:
                    if r < 0:
                        fail(_bad_code(b))
                    s = r & 15
                    nb -= s
                    v = extend((acc >> nb) & ((1 << s) - 1), s)
                    r = (r >> 4) + 1
                k += r
                if k <= stride:
                    coefs[b + zz1[k]] = v
                continue
            # --- the block is done: on to the next one and its DC, the difference from
            # the previous block's of the same component
            if 32 * wi - nb > bits:
                fail(f"scan data ends inside block {b // stride} of component {j} (truncated?)")
            block = next(blocks, None)
            if block is None:
                break
            j, b = block
            dct, act, skip, coefs, stride = comps[j]
            n, s, d = dct[look]
            nb -= n
            if d is None:
                if s < 0:
                    fail(_bad_code(b))
                nb -= s
                d = extend((acc >> nb) & ((1 << s) - 1), s)
            d += pred[j]
            pred[j] = d
            b *= stride
            coefs[b] = d << al
            k = 64 if act is None else 1


def _bad_code(b: int) -> str:
    return f"invalid Huffman code in the scan data at block {b} (corrupt data)"


class _Bits:
    """A bit reader for the progressive scans (a few codes per coefficient, not the hot loop)."""

    __slots__ = ("w", "wi", "acc", "nb", "bits")

    def __init__(self, segment: bytes) -> None:
        self.w, self.bits = words(segment)
        self.wi = self.acc = self.nb = 0

    def fill(self) -> None:
        """At least 32 bits in the accumulator (see :func:`_first_pass`)."""
        if self.nb < 32:
            self.acc = ((self.acc & 0x7FFFFFFF) << 32) | self.w[self.wi]
            self.wi += 1
            self.nb += 32

    def get(self, count: int) -> int:
        self.fill()
        self.nb -= count
        return (self.acc >> self.nb) & ((1 << count) - 1)

    def symbol(self, table, fail) -> int:
        self.fill()
        n, symbol = table[(self.acc >> (self.nb - 16)) & 0xFFFF]
        if symbol < 0:
            fail("invalid Huffman code in the scan data (corrupt data)")
        self.nb -= n
        return symbol

    def overrun(self) -> bool:
        return 32 * self.wi - self.nb > self.bits


def _refine_dc(frame: Frame, scan: Scan, planes, fail) -> None:
    """A progressive DC refinement scan: one more bit of each block's DC term."""
    bit = 1 << scan.al
    comps = [(planes[i].coefs, 64 if planes[i].size > 1 else 1) for i in scan.components]
    for segment, blocks in _intervals(frame, scan, planes, fail):
        reader = _Bits(segment)
        for j, b in blocks:
            coefs, stride = comps[j]
            if reader.get(1):
                coefs[b * stride] |= bit
            if reader.overrun():
                fail(f"scan data ends inside block {b} of component {j} (truncated?)")


def _progressive_ac(frame: Frame, scan: Scan, planes, tables, fail) -> None:
    """A progressive AC scan (one component, coefficients ``ss..se``): a first pass, or a refinement."""
    table = _table(tables, scan, 1, scan.ac_tables[0], symbol_table, fail)
    ss, se, al = scan.ss, scan.se, scan.al
    coefs = planes[scan.components[0]].coefs
    p1, m1 = 1 << al, -1 << al
    for segment, blocks in _intervals(frame, scan, planes, fail):
        bits = _Bits(segment)
        eobrun = 0
        for _, m in blocks:
            base = m * 64
            if scan.ah == 0:  # first pass over these coefficients
                if eobrun:
                    eobrun -= 1
                    continue
                k = ss
                while k <= se:
                    symbol = bits.symbol(table, fail)
                    r, s = symbol >> 4, symbol & 15
                    if s:
                        k += r
                        if k > 63:
                            break
                        coefs[base + ZIGZAG[k]] = extend(bits.get(s), s) * p1
                        k += 1
                    elif r == 15:
                        k += 16
                    else:
                        eobrun = (1 << r) - 1 + (bits.get(r) if r else 0)
                        break
            else:  # refinement: one more bit of each coefficient
                k = ss
                if eobrun == 0:
                    while k <= se:
                        symbol = bits.symbol(table, fail)
                        r, s = symbol >> 4, symbol & 15
                        value = 0
                        if s:
                            value = p1 if bits.get(1) else m1
                        elif r != 15:
                            eobrun = (1 << r) + (bits.get(r) if r else 0)
                            break
                        # skip r zero coefficients (refining the nonzero ones passed on the way)
                        while k <= se:
                            z = base + ZIGZAG[k]
                            c = coefs[z]
                            if c:
                                if bits.get(1) and not c & p1:
                                    coefs[z] = c + (p1 if c >= 0 else m1)
                            else:
                                if r == 0:
                                    break
                                r -= 1
                            k += 1
                        if value and k <= 63:
                            coefs[base + ZIGZAG[k]] = value
                        k += 1
                if eobrun:
                    while k <= se:
                        z = base + ZIGZAG[k]
                        c = coefs[z]
                        if c and bits.get(1) and not c & p1:
                            coefs[z] = c + (p1 if c >= 0 else m1)
                        k += 1
                    eobrun -= 1
            if bits.overrun():
                fail(f"scan data ends inside block {m} (truncated?)")


def _transform_all(p: Plane) -> None:
    """The inverse DCT of every block of a component, after the last scan."""
    q = p.quant or (0,) * 64
    coefs = p.coefs
    if p.size == 1:
        samples = p.samples
        q0 = q[0]
        for by in range(p.blocks_h):
            row = by * p.blocks_w
            o = by * p.stride
            samples[o : o + p.blocks_w] = bytes([idct_1x1(c * q0) for c in coefs[row : row + p.blocks_w]])
        return
    idct = _IDCT[p.size]
    n = p.size
    stride = p.stride
    samples = p.samples
    o = 0  # the block's coefficients
    for by in range(p.blocks_h):
        for bx in range(p.blocks_w):
            data = idct(list(map(mul, coefs[o : o + 64], q)))  # dequantized
            o += 64
            s = by * n * stride + bx * n  # the block's first sample
            for r in range(0, n * n, n):
                samples[s : s + n] = data[r : r + n]
                s += stride

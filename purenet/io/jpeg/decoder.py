"""Decoding a parsed JPEG: entropy-coded scans to coefficients, coefficients to samples.

Legend: ``W x H`` the image, ``n`` the output size of one 8x8 block (8 at
full size; 4, 2, 1 at 1/2, 1/4, 1/8 scale), ``h x v`` a component's
sampling factors and ``hmax x vmax`` the largest ones. An MCU (minimum
coded unit) of an interleaved scan holds ``h * v`` blocks of each
component; a single-component scan codes that component's blocks one by one.

Sequential (baseline) scans are decoded block by block: each block's
coefficients are complete when its end-of-block code is read, so it goes
through the inverse DCT straight away and only the component's samples are
kept. Progressive scans refine coefficients spread over several scans, so
those are kept (64 per block, or only the DC at 1/8 scale: then the AC
scans are not even read) and transformed after the last scan.

The entropy decoder is the hot loop: a photo holds millions of codes. See
:mod:`purenet.io.jpeg.huffman` for the lookahead tables that decode a
coefficient per list lookup.
"""

from array import array
from typing import List, NoReturn

from .huffman import ac_table, dc_table, extend, skip_table, symbol_table, words
from .idct import RANGE_LIMIT, idct_1x1, idct_2x2, idct_4x4, idct_8x8
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
        self.coefs = None  # progressive only
        self.quant = None  # natural-order quantization table, latched at the component's first scan

    def put(self, bx: int, by: int, data: bytes) -> None:
        """Store the ``size x size`` samples of block (bx, by)."""
        n = self.size
        stride = self.stride
        o = by * n * stride + bx * n
        samples = self.samples
        for r in range(n):
            samples[o : o + n] = data[r * n : r * n + n]
            o += stride


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
        if frame.progressive:
            for p in planes:
                count = p.blocks_w * p.blocks_h
                # 16 bits hold any coefficient of an 8-bit JPEG (a corrupt one overflows:
                # OverflowError, reported below)
                p.coefs = array("h", bytes(2 * count * (64 if p.size > 1 else 1)))
            for scan in scans:
                _latch_quant(scan, planes, fail)
                if scan.ss == 0:
                    _progressive_dc(frame, scan, planes, tables, fail)
                elif planes[scan.components[0]].size > 1:
                    _progressive_ac(frame, scan, planes, tables, fail)
                # at 1/8 scale only the DC terms matter: AC scans are skipped unread
            for p in planes:
                _transform_all(p)
        else:
            for scan in scans:
                _latch_quant(scan, planes, fail)
                _sequential(frame, scan, planes, tables, fail)
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


def _mcu_layout(frame: Frame, scan: Scan, planes):
    """``(MCUs per row, MCU rows, [(scan component, dx, dy), ...] blocks of one MCU)``."""
    if len(scan.components) == 1:
        p = planes[scan.components[0]]
        # a single-component scan codes only the blocks the component's own size covers
        hmax = max(c.h for c in frame.components)
        vmax = max(c.v for c in frame.components)
        width = -(-frame.width * p.h // hmax)
        height = -(-frame.height * p.v // vmax)
        return -(-width // 8), -(-height // 8), [(0, 0, 0)], True
    hmax = max(c.h for c in frame.components)
    vmax = max(c.v for c in frame.components)
    layout = []
    for j, i in enumerate(scan.components):
        p = planes[i]
        layout += [(j, dx, dy) for dy in range(p.v) for dx in range(p.h)]
    return -(-frame.width // (8 * hmax)), -(-frame.height // (8 * vmax)), layout, False


def _intervals(scan: Scan, total: int, fail):
    """``(first MCU, MCU count, segment bytes)`` of each restart interval."""
    ri = scan.restart_interval or total
    count = -(-total // ri)
    if len(scan.segments) < count:
        fail(f"scan data ends after {len(scan.segments)} of its {count} restart intervals (truncated?)")
    return [(i * ri, min(ri, total - i * ri), scan.segments[i]) for i in range(count)]


def _sequential(frame: Frame, scan: Scan, planes, tables, fail) -> None:
    mcus_w, mcus_h, layout, single = _mcu_layout(frame, scan, planes)
    comps = []
    for j, i in enumerate(scan.components):
        p = planes[i]
        q = p.quant
        comps.append((
            p,
            _table(tables, scan, 0, scan.dc_tables[j], dc_table, fail),
            _table(tables, scan, 1, scan.ac_tables[j], ac_table, fail),
            _skip(tables, scan, scan.ac_tables[j], fail) if p.size == 1 else None,
            q[0],
            (0,) + tuple(q[ZIGZAG[k]] for k in range(64)),  # zigzag position k + 1 -> its quantizer
            p.size,
        ))
    zz1 = (0,) + ZIGZAG
    rl = RANGE_LIMIT
    blocks = []
    for j, dx, dy in layout:
        c = comps[j]
        p, size = c[0], c[-1]
        h, v = (1, 1) if single else (p.h, p.v)
        # the block's first sample: MCU row * row_step + MCU column * column_step + offset
        blocks.append(c[1:] + (j, p.samples, p.stride, v * size * p.stride, h * size,
                               dy * size * p.stride + dx * size))
    for first, count, segment in _intervals(scan, mcus_w * mcus_h, fail):
        w, bits = words(segment)
        # the bit accumulator: nb bits in the low end of acc (at most 48, an int
        # of the machine's word on PyPy), 32 more whenever fewer than 16 are left
        wi, acc, nb = 0, 0, 0
        pred = [0] * len(comps)
        for m in range(first, first + count):
            my, mx = divmod(m, mcus_w)
            for dct, act, skip, q0, q1, size, j, samples, stride, row_step, column_step, offset in blocks:
                o = my * row_step + mx * column_step + offset
                # --- DC: the difference from the previous block's DC
                if nb < 16:
                    acc = ((acc & 0xFFFF) << 32) | w[wi]
                    wi += 1
                    nb += 32
                n, s, d = dct[(acc >> (nb - 16)) & 0xFFFF]
                nb -= n
                if d is None:
                    if s < 0:
                        fail(_bad_code(scan, m))
                    if nb < s:
                        acc = ((acc & 0xFFFF) << 32) | w[wi]
                        wi += 1
                        nb += 32
                    nb -= s
                    d = extend((acc >> nb) & ((1 << s) - 1), s)
                dc = pred[j] + d
                pred[j] = dc
                # --- AC: (run, value) codes up to end-of-block
                k = 1
                if size == 1:  # only the DC term is needed: the AC codes are read and dropped
                    while k < 64:
                        if nb < 16:
                            acc = ((acc & 0xFFFF) << 32) | w[wi]
                            wi += 1
                            nb += 32
                        look = (acc >> (nb - 16)) & 0xFFFF
                        n, r = skip[look]
                        # several codes at once, unless they run past the block's last coefficient
                        if n:
                            r += k
                            if r <= 64 or 1000 < r <= 1064:
                                nb -= n
                                k = r
                                continue
                        n, r, v = act[look]
                        nb -= n
                        if v is None:
                            if r < 0:
                                fail(_bad_code(scan, m))
                            if nb < 16:
                                acc = ((acc & 0xFFFF) << 32) | w[wi]
                                wi += 1
                                nb += 32
                            nb -= r & 15
                            r = (r >> 4) + 1
                        k += r
                    samples[o] = rl[((dc * q0 + 4) >> 3) & 1023]  # idct_1x1
                    continue
                block = [0] * 64
                block[0] = dc * q0
                while k < 64:
                    if nb < 16:
                        acc = ((acc & 0xFFFF) << 32) | w[wi]
                        wi += 1
                        nb += 32
                    n, r, v = act[(acc >> (nb - 16)) & 0xFFFF]
                    nb -= n
                    if v is None:
                        if r < 0:
                            fail(_bad_code(scan, m))
                        s = r & 15
                        if nb < s:
                            acc = ((acc & 0xFFFF) << 32) | w[wi]
                            wi += 1
                            nb += 32
                        nb -= s
                        v = extend((acc >> nb) & ((1 << s) - 1), s)
                        r = (r >> 4) + 1
                    k += r
                    if k > 64:
                        break
                    block[zz1[k]] = v * q1[k]
                data = _IDCT[size](block)
                for r in range(0, size * size, size):
                    samples[o : o + size] = data[r : r + size]
                    o += stride
            if 32 * wi - nb > bits:
                fail(f"scan data ends inside MCU {m} (truncated?)")


def _bad_code(scan: Scan, m: int) -> str:
    return f"invalid Huffman code in the scan data at MCU {m} (corrupt data)"


class _Bits:
    """A bit reader for the progressive scans (a few codes per coefficient, not the hot loop)."""

    __slots__ = ("w", "wi", "acc", "nb", "bits")

    def __init__(self, segment: bytes) -> None:
        self.w, self.bits = words(segment)
        self.wi = self.acc = self.nb = 0

    def get(self, count: int) -> int:
        if self.nb < 16:
            self.acc = ((self.acc & 0xFFFF) << 32) | self.w[self.wi]
            self.wi += 1
            self.nb += 32
        self.nb -= count
        return (self.acc >> self.nb) & ((1 << count) - 1)

    def symbol(self, table, fail) -> int:
        if self.nb < 16:
            self.acc = ((self.acc & 0xFFFF) << 32) | self.w[self.wi]
            self.wi += 1
            self.nb += 32
        n, symbol = table[(self.acc >> (self.nb - 16)) & 0xFFFF]
        if symbol < 0:
            fail("invalid Huffman code in the scan data (corrupt data)")
        self.nb -= n
        return symbol

    def overrun(self) -> bool:
        return 32 * self.wi - self.nb > self.bits


def _progressive_dc(frame: Frame, scan: Scan, planes, tables, fail) -> None:
    mcus_w, mcus_h, layout, single = _mcu_layout(frame, scan, planes)
    refine = scan.ah > 0
    al = scan.al
    comps = [(planes[i], None if refine else _table(tables, scan, 0, scan.dc_tables[j], dc_table, fail))
             for j, i in enumerate(scan.components)]
    for first, count, segment in _intervals(scan, mcus_w * mcus_h, fail):
        bits = _Bits(segment)
        pred = [0] * len(comps)
        for m in range(first, first + count):
            my, mx = divmod(m, mcus_w)
            for j, dx, dy in layout:
                p, dct = comps[j]
                bx, by = (mx, my) if single else (mx * p.h + dx, my * p.v + dy)
                o = (by * p.blocks_w + bx) * (64 if p.size > 1 else 1)
                if refine:
                    if bits.get(1):
                        p.coefs[o] |= 1 << al
                    continue
                if bits.nb < 16:
                    bits.get(0)
                n, s, d = dct[(bits.acc >> (bits.nb - 16)) & 0xFFFF]
                if s < 0:
                    fail(_bad_code(scan, m))
                bits.nb -= n
                if d is None:
                    d = extend(bits.get(s), s)
                pred[j] += d
                p.coefs[o] = pred[j] << al
            if bits.overrun():
                fail(f"scan data ends inside MCU {m} (truncated?)")


def _progressive_ac(frame: Frame, scan: Scan, planes, tables, fail) -> None:
    mcus_w, mcus_h, layout, single = _mcu_layout(frame, scan, planes)
    p = planes[scan.components[0]]
    table = _table(tables, scan, 1, scan.ac_tables[0], symbol_table, fail)
    ss, se, al = scan.ss, scan.se, scan.al
    coefs = p.coefs
    p1, m1 = 1 << al, -1 << al
    for first, count, segment in _intervals(scan, mcus_w * mcus_h, fail):
        bits = _Bits(segment)
        eobrun = 0
        for m in range(first, first + count):
            my, mx = divmod(m, mcus_w)
            base = (my * p.blocks_w + mx) * 64
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
    """The inverse DCT of every block of a progressive component, after its last scan."""
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
    for by in range(p.blocks_h):
        for bx in range(p.blocks_w):
            o = (by * p.blocks_w + bx) * 64
            p.put(bx, by, idct([c * qq for c, qq in zip(coefs[o : o + 64], q)]))

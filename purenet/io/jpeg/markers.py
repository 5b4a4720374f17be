"""The JPEG file's structure: its marker segments, read into plain data.

A JPEG file (ITU-T T.81, Annex B) is a list of marker segments: ``FF xx``
then, for most markers, a 2-byte big-endian length that counts itself and
the body. The frame header (``SOFn``) gives the size and the components
with their sampling factors and quantization table; ``DHT`` and ``DQT``
define Huffman and quantization tables; ``DRI`` sets the restart interval;
each ``SOS`` starts a scan whose entropy-coded data runs to the next marker
that is not a restart marker (``RSTn``) and not a stuffed ``FF 00``.

What this file is for: walking the segments, checking every length and
value against the format, and handing the scans, in order, with the tables
in force when each started, to :mod:`purenet.io.jpeg.decoder`. APP1 ``Exif``
is read for its orientation tag only; APP14 ``Adobe`` for its colour
transform flag; everything else (JFIF, comments, ICC profiles, thumbnails)
is skipped.

What it is not: arithmetic coding, lossless and hierarchical JPEG, 12-bit
samples and CMYK are refused with an :class:`~purenet.errors.ImageError`.
"""

import re
import struct
from typing import Callable, Dict, List, NamedTuple, NoReturn, Optional, Tuple

from .huffman import codes

__all__ = ["Component", "Frame", "Scan", "parse", "MAX_SCANS"]

#: Most scans a file may hold. Each scan visits every block of its
#: components, so a few bytes of ``SOS`` segments could otherwise cost
#: seconds each on a large image; encoders write 1 (baseline) to about 10
#: (progressive) scans, mozjpeg's searched progressions a few more.
MAX_SCANS = 100

_SOF_NAMES = {
    0xC3: "lossless", 0xC5: "differential sequential", 0xC6: "differential progressive",
    0xC7: "differential lossless", 0xC9: "arithmetic-coded sequential", 0xCA: "arithmetic-coded progressive",
    0xCB: "arithmetic-coded lossless", 0xCD: "differential arithmetic-coded sequential",
    0xCE: "differential arithmetic-coded progressive", 0xCF: "differential arithmetic-coded lossless",
}

# The end of a scan's entropy-coded data: FF followed by anything but 00
# (a stuffed FF data byte) or another FF (fill bytes before a marker).
_MARKER = re.compile(rb"\xff+[^\x00\xff]")


class Component(NamedTuple):
    id: int
    h: int  # horizontal sampling factor, 1..4
    v: int  # vertical sampling factor, 1..4
    tq: int  # quantization table slot, 0..3


class Frame(NamedTuple):
    progressive: bool
    width: int
    height: int
    components: Tuple[Component, ...]


class Scan(NamedTuple):
    components: Tuple[int, ...]  # indices into Frame.components
    dc_tables: Tuple[int, ...]  # Huffman table slot of each scanned component
    ac_tables: Tuple[int, ...]
    ss: int  # spectral selection start and end (0, 63 for a sequential scan)
    se: int
    ah: int  # successive approximation: bit position high and low
    al: int
    huffman: Dict[Tuple[int, int], Tuple[bytes, bytes]]  # (class 0 DC / 1 AC, slot) -> (counts, symbols)
    quant: Dict[int, Tuple[int, ...]]  # slot -> 64 values in zigzag order
    restart_interval: int
    segments: List[bytes]  # entropy-coded data, split at RSTn markers, still byte-stuffed


class Parsed(NamedTuple):
    frame: Frame
    scans: List[Scan]
    orientation: int  # EXIF orientation 1..8 (1 when absent or unreadable)
    adobe_transform: Optional[int]  # APP14 Adobe colour transform, None without that segment
    jfif: bool


def parse(data: bytes, fail: Callable[[str], NoReturn], frame_check: Callable[[int, int], None]) -> Parsed:
    """Walk the marker segments of ``data`` (a whole JPEG file).

    ``frame_check(width, height)`` is called as soon as the frame header is
    read, before any scan is collected, so an oversized image is refused early.
    """
    if data[:2] != b"\xff\xd8":
        fail(f"not a JPEG file (the first 2 bytes are {data[:2]!r}, expected b'\\xff\\xd8')")
    pos, end = 2, len(data)
    frame: Optional[Frame] = None
    huffman: Dict[Tuple[int, int], Tuple[bytes, bytes]] = {}
    quant: Dict[int, Tuple[int, ...]] = {}
    restart = 0
    scans: List[Scan] = []
    orientation = 1
    adobe: Optional[int] = None
    jfif = False
    while True:
        if pos >= end:
            fail("file ends before the end-of-image marker (truncated?)" if scans or frame
                 else "file ends before any image data (truncated?)")
        if data[pos] != 0xFF:
            fail(f"expected a marker (byte FF) at byte {pos}, found {data[pos]:#04x} (corrupt file?)")
        while pos < end and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= end:
            fail("file ends inside a marker (truncated?)")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: markers without a body
            continue
        if marker == 0xD8:
            fail(f"a second start-of-image marker at byte {pos - 2}")
        if pos + 2 > end:
            fail(f"file ends inside the length of marker FF{marker:02X} (truncated?)")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            fail(f"marker FF{marker:02X} at byte {pos - 2} declares a length of {length}, expected at least 2")
        if pos + length > end:
            fail(f"marker FF{marker:02X} at byte {pos - 2} needs {length} bytes, only {end - pos} left (truncated?)")
        body = data[pos + 2 : pos + length]
        pos += length
        if marker in (0xC0, 0xC1, 0xC2):
            if frame is not None:
                fail("more than one frame header (SOF marker)")
            frame = _frame(body, marker == 0xC2, fail)
            frame_check(frame.width, frame.height)
        elif marker in _SOF_NAMES:
            fail(f"{_SOF_NAMES[marker]} JPEG (SOF{marker - 0xC0}) is not supported; "
                 "expected baseline or progressive Huffman-coded JPEG")
        elif marker == 0xC4:
            _huffman(body, huffman, fail)
        elif marker == 0xCC:
            fail("arithmetic coding (DAC marker) is not supported; expected Huffman-coded JPEG")
        elif marker == 0xDB:
            _quant(body, quant, fail)
        elif marker == 0xDD:
            if len(body) != 2:
                fail(f"DRI segment of {len(body)} bytes, expected 2")
            (restart,) = struct.unpack(">H", body)
        elif marker == 0xDA:
            if frame is None:
                fail("scan (SOS marker) before the frame header (SOF marker)")
            if len(scans) >= MAX_SCANS:
                fail(f"expected at most {MAX_SCANS} scans. Received: more")
            header = _scan_header(body, frame, fail)
            # the entropy-coded data: up to the first marker other than RSTn
            segments = []
            start = pos
            while True:
                m = _MARKER.search(data, pos)
                if m is None:
                    segments.append(data[start:])
                    pos = end
                    break
                code = data[m.end() - 1]
                if 0xD0 <= code <= 0xD7:
                    segments.append(data[start : m.start()])
                    pos = start = m.end()
                    continue
                segments.append(data[start : m.start()])
                pos = m.start()
                break
            scans.append(Scan(*header, huffman=dict(huffman), quant=dict(quant), restart_interval=restart,
                              segments=segments))
        elif marker == 0xDC:
            fail("a DNL marker (image height given after the scan) is not supported")
        elif marker == 0xE1 and body[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(body[6:])
        elif marker == 0xEE and body[:5] == b"Adobe" and len(body) >= 12:
            adobe = body[11]
        elif marker == 0xE0 and body[:5] == b"JFIF\x00":
            jfif = True
        # other APPn, COM, and anything else with a length: skipped
    if frame is None:
        fail("no frame header (SOF marker): the file holds no image")
    if not scans:
        fail("no scan (SOS marker): the file holds no image data")
    return Parsed(frame, scans, orientation, adobe, jfif)


def _frame(body: bytes, progressive: bool, fail) -> Frame:
    if len(body) < 6:
        fail(f"frame header of {len(body)} bytes, expected at least 6")
    precision, height, width, count = struct.unpack_from(">BHHB", body)
    if precision != 8:
        fail(f"{precision}-bit samples are not supported; expected 8-bit JPEG")
    if height == 0:
        fail("image height 0 (given later by a DNL marker) is not supported")
    if width == 0:
        fail("image width 0: width must be positive")
    if count not in (1, 3):
        what = "CMYK or YCCK (4 components)" if count == 4 else f"{count} components"
        fail(f"{what} is not supported; expected 1 (grayscale) or 3 (YCbCr or RGB) components")
    if len(body) != 6 + 3 * count:
        fail(f"frame header of {len(body)} bytes for {count} components, expected {6 + 3 * count}")
    components = []
    for i in range(count):
        cid, hv, tq = body[6 + 3 * i : 9 + 3 * i]
        h, v = hv >> 4, hv & 15
        if not (1 <= h <= 4 and 1 <= v <= 4):
            fail(f"component {cid} has sampling factors {h}x{v}, expected 1 to 4 each")
        if tq > 3:
            fail(f"component {cid} uses quantization table {tq}, expected 0 to 3")
        if any(c.id == cid for c in components):
            fail(f"two components share the id {cid}")
        components.append(Component(cid, h, v, tq))
    if sum(c.h * c.v for c in components) > 10 and count > 1:
        fail("the components' sampling factors need more than the 10 blocks a JPEG MCU may hold")
    return Frame(progressive, width, height, tuple(components))


def _huffman(body: bytes, tables, fail) -> None:
    pos = 0
    while pos < len(body):
        if pos + 17 > len(body):
            fail("DHT segment ends inside a table's 16 code-length counts")
        tc, th = body[pos] >> 4, body[pos] & 15
        if tc > 1 or th > 3:
            fail(f"Huffman table class {tc} slot {th}: expected class 0 (DC) or 1 (AC), slot 0 to 3")
        counts = body[pos + 1 : pos + 17]
        total = sum(counts)
        if total > 256:
            fail(f"Huffman table declares {total} codes, expected at most 256")
        symbols = body[pos + 17 : pos + 17 + total]
        if len(symbols) != total:
            fail("DHT segment ends inside a table's symbols")
        codes(counts, symbols, fail)  # checks that the codes fit their lengths
        tables[(tc, th)] = (counts, symbols)
        pos += 17 + total


def _quant(body: bytes, tables, fail) -> None:
    pos = 0
    while pos < len(body):
        pq, tq = body[pos] >> 4, body[pos] & 15
        if pq > 1 or tq > 3:
            fail(f"quantization table precision {pq} slot {tq}: expected precision 0 or 1, slot 0 to 3")
        size = 64 * (pq + 1)
        if pos + 1 + size > len(body):
            fail("DQT segment ends inside a table")
        if pq:
            values = struct.unpack_from(">64H", body, pos + 1)
        else:
            values = tuple(body[pos + 1 : pos + 65])
        tables[tq] = values
        pos += 1 + size


def _scan_header(body: bytes, frame: Frame, fail):
    if not body:
        fail("empty scan header")
    count = body[0]
    if not 1 <= count <= 4 or len(body) != 4 + 2 * count:
        fail(f"scan header of {len(body)} bytes for {count} components, expected {4 + 2 * count} "
             "and 1 to 4 components")
    ids = [c.id for c in frame.components]
    chosen, dcs, acs = [], [], []
    for i in range(count):
        cid, t = body[1 + 2 * i : 3 + 2 * i]
        if cid not in ids:
            fail(f"scan names component {cid}, which the frame does not have (it has {ids})")
        index = ids.index(cid)
        if index in chosen:
            fail(f"scan names component {cid} twice")
        if chosen and index < chosen[-1]:
            fail("scan lists its components out of the frame's order")
        chosen.append(index)
        dcs.append(t >> 4)
        acs.append(t & 15)
        if t >> 4 > 3 or t & 15 > 3:
            fail(f"scan component {cid} uses Huffman tables {t >> 4}/{t & 15}, expected 0 to 3")
    ss, se, a = body[1 + 2 * count : 4 + 2 * count]
    ah, al = a >> 4, a & 15
    if count > 1 and sum(frame.components[i].h * frame.components[i].v for i in chosen) > 10:
        fail("scan's components need more than the 10 blocks a JPEG MCU may hold")
    if frame.progressive:
        if ss > se or se > 63 or (ss == 0) != (se == 0) or al > 13 or ah > 13:
            fail(f"progressive scan with spectral selection {ss}..{se} and approximation {ah}/{al}: "
                 "expected 0..0 (DC) or 1..63 ranges, approximation bits 0 to 13")
        if ss > 0 and count != 1:
            fail(f"progressive AC scan of {count} components, expected 1")
        if ah and ah != al + 1:
            fail(f"progressive refinement from bit {ah} to {al}, expected one bit at a time")
    elif (ss, se, ah, al) != (0, 63, 0, 0):
        # libjpeg ignores these in sequential files; so does this reader (some writers put junk here)
        ss, se, ah, al = 0, 63, 0, 0
    return tuple(chosen), tuple(dcs), tuple(acs), ss, se, ah, al


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in an Exif TIFF structure; 1 if absent or malformed
    (a broken Exif block is metadata to ignore, as browsers do, not a broken picture)."""
    if tiff[:4] == b"II*\x00":
        e = "<"
    elif tiff[:4] == b"MM\x00*":
        e = ">"
    else:
        return 1
    if len(tiff) < 8:
        return 1
    (ifd,) = struct.unpack_from(e + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(e + "H", tiff, ifd)
    for i in range(min(count, (len(tiff) - ifd - 2) // 12)):
        tag, kind, n = struct.unpack_from(e + "HHI", tiff, ifd + 2 + 12 * i)
        if tag == 0x0112:
            if kind != 3 or n < 1:
                return 1
            (value,) = struct.unpack_from(e + "H", tiff, ifd + 2 + 12 * i + 8)
            return value if 1 <= value <= 8 else 1
    return 1

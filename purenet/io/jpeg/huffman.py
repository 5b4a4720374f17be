"""Huffman tables as 16-bit lookahead tables, and the bit stream they read.

Decoding one Huffman code bit by bit costs a dozen Python operations per
bit; a JPEG photo holds millions of codes. Instead each table becomes a list
of ``2**16`` entries indexed by the next 16 bits of the stream: the entry
says how many bits the code (and, when they fit in the same 16 bits, the
extra bits of the value after it) take, and what they decode to. One list
lookup then decodes a whole coefficient, run length included.

The bit stream is read 32 bits at a time: the scan's bytes (with their
``FF 00`` stuffing removed) padded with zeros and viewed as big-endian
32-bit words, added to an accumulator whenever it holds fewer than 32 bits.

Entries are tuples ``(bits, x, value)``:

- DC tables: ``x`` is the size ``s`` of the difference; ``value`` is the
  difference itself when ``bits`` covers its extra bits, else ``None`` (then
  ``bits`` is the code's length alone, and the caller reads ``s`` bits).
- AC tables: ``x`` is the step to the coefficient after this one (the zero
  run + 1; 16 for ZRL, 64 for end-of-block); ``value`` as for DC, with
  ``x`` the raw symbol ``run << 4 | size`` when ``value`` is ``None``.
- Symbol tables (progressive AC scans): ``(bits, symbol)``.

A 16-bit pattern no code starts is ``(0, -1, None)``: decoding it is an error.
"""

import sys
from array import array
from typing import List, Tuple

__all__ = ["dc_table", "ac_table", "skip_table", "symbol_table", "words", "extend", "INVALID"]

INVALID = (0, -1, None)
EOB_STEP = 64


def extend(bits: int, size: int) -> int:
    """The signed value of ``size`` extra bits (T.81 F.12): low half negative."""
    return bits if bits >> (size - 1) else bits - (1 << size) + 1


def codes(counts: bytes, symbols: bytes, fail) -> List[Tuple[int, int, int]]:
    """``(length, code, symbol)`` for each code of a canonical Huffman table (T.81 C.2),
    refusing tables whose codes do not fit their lengths."""
    out = []
    code = 0
    k = 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            out.append((length, code, symbols[k]))
            code += 1
            k += 1
        # as libjpeg: the last code of a length must still fit in it, and no code is all ones
        if counts[length - 1] and code >= (1 << length):
            fail(f"bad Huffman table: more codes of length {length} or less than such lengths allow")
        code <<= 1
    return out


def _table(counts, symbols, fail, ac: bool) -> list:
    table = [INVALID] * 65536
    for length, code, symbol in codes(counts, symbols, fail):
        size = symbol & 15
        if ac:
            run = symbol >> 4
            if size == 0:
                step = 16 if run == 15 else EOB_STEP  # ZRL, or end of block (a run < 15 of size 0)
                table_fill(table, code, length, (length, step, 0))
                continue
            step = run + 1
        else:
            if size > 11:
                fail(f"bad Huffman table: DC difference of {size} bits, expected at most 11")
            step = size
            if size == 0:
                table_fill(table, code, length, (length, 0, 0))
                continue
        if length + size <= 16:
            # the code and its extra bits in one entry per value of the extra bits
            shift = 16 - length - size
            base = code << (16 - length)
            span = 1 << shift
            for extra in range(1 << size):
                start = base | (extra << shift)
                table[start : start + span] = [(length + size, step, extend(extra, size))] * span
        else:
            table_fill(table, code, length, (length, symbol if ac else size, None))
    return table


def table_fill(table: list, code: int, length: int, entry) -> None:
    start = code << (16 - length)
    span = 1 << (16 - length)
    table[start : start + span] = [entry] * span


def dc_table(counts: bytes, symbols: bytes, fail) -> list:
    return _table(counts, symbols, fail, ac=False)


def ac_table(counts: bytes, symbols: bytes, fail) -> list:
    return _table(counts, symbols, fail, ac=True)


def skip_table(single: list) -> List[int]:
    """For skipping AC codes: all the whole codes (with their extra bits) that each
    16-bit pattern holds, from an :func:`ac_table`, as one int
    ``bits | bound << 5 | step << 12``.

    With ``k`` the position of the next coefficient in the block (1 to 63),
    the codes may be skipped together when ``k < bound``: they then take
    ``bits`` bits and move to ``k + step``, past 63 when the last of them is
    end-of-block (``step`` 64). Otherwise they would run past the block's
    last coefficient (a block whose coefficient 63 is coded has no
    end-of-block, and the bits after it are the next block's), or the first
    code does not fit in 16 bits (``bound`` 0): the caller decodes one code
    at a time. Photos average 5 to 6 bits a code, so one lookup skips two or
    three of them. Ints, not tuples: PyPy keeps a list of ints unboxed, and
    reads one without following a pointer. Built level by level: the entry
    for ``L`` known bits is the first code's, followed by the entry for the
    ``L - bits`` bits after it.
    """
    # level entries: bits | ends with end-of-block << 5 | the steps before it << 6
    levels = [[0]]
    for known in range(1, 17):
        shift = 16 - known
        below = levels
        level = []
        append = level.append
        for pattern in range(1 << known):
            n, step, value = single[pattern << shift]
            if value is None or n == 0 or n > known:
                append(0)
            elif step == EOB_STEP:
                append(n | 32)
            else:
                rest = known - n
                after = below[rest][pattern & ((1 << rest) - 1)]
                append(after + n + (step << 6))
        levels.append(level)
    table = []
    for entry in levels[16]:
        n, eob, steps = entry & 31, entry & 32, entry >> 6
        bound = (64 if eob else 65) - steps
        table.append(n | bound << 5 | (EOB_STEP if eob else steps) << 12 if n and bound > 0 else 0)
    return table


def symbol_table(counts: bytes, symbols: bytes, fail) -> list:
    """``(bits, symbol)`` for every 16-bit pattern; ``(0, -1)`` where no code starts."""
    table = [(0, -1)] * 65536
    for length, code, symbol in codes(counts, symbols, fail):
        table_fill(table, code, length, (length, symbol))
    return table


_WORD = "I" if array("I").itemsize == 4 else "L"
_SWAP = sys.byteorder == "little"


def words(segment: bytes) -> Tuple[array, int]:
    """``(big-endian 32-bit words of the unstuffed segment + 16 zero bytes, its length in bits)``."""
    data = segment.replace(b"\xff\x00", b"\xff") if b"\xff" in segment else segment
    bits = 8 * len(data)
    data += bytes(16 + (-len(data)) % 4)
    out = array(_WORD, data)
    if _SWAP:
        out.byteswap()
    return out, bits

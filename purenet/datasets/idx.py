"""Strict reader and writer for IDX files, the format MNIST ships in.

An IDX file is a 4-byte magic number (two zero bytes, a data-type code and
the number of dimensions), one big-endian uint32 per dimension, then the
elements in row-major order. The file may be gzip-compressed; compression is
detected from the gzip magic bytes (1f 8b), never from the file name.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny-idx1-ubyte.gz")
    >>> write_idx(path, (3,), bytes([7, 0, 9]))
    >>> read_idx(path)
    ((3,), b'\\x07\\x00\\t')

What this module is for: turning a file into ``(dims, payload bytes)`` and
back, refusing anything that does not match its own header. Any malformed,
truncated, oversized or corrupt file raises :class:`purenet.errors.DatasetError`
naming the file, what was expected and what was found; nothing is ever
allocated on the strength of a header before the header has been checked
against the real amount of data.

What it is not: only unsigned bytes (type code 0x08) are supported, which
is all MNIST-style image and label files use. It knows nothing about images,
labels or where datasets live (see ``images.py`` and ``mnist.py``).
"""

import gzip
import io
import os
import struct
import zlib
from typing import Optional, Sequence, Tuple, Union

from purenet.errors import DatasetError
from purenet.io.atomic import write_atomic

__all__ = ["read_idx", "write_idx", "MAX_PAYLOAD"]

PathLike = Union[str, "os.PathLike[str]"]

_GZIP_MAGIC = b"\x1f\x8b"
_UINT8 = 0x08
_MAX_DIMS = 4
# Deflate cannot expand data by more than 1032:1 (one 258-byte match in
# 2 bits), so a header claiming more than this many bytes per compressed
# byte is lying: reject it before decompressing anything.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20
#: The largest payload read by default: the biggest MNIST-style file, the full
#: training images (60,000 x 28 x 28), is 47 MB. Reading holds it twice at the
#: end (the chunks and their join), so a gzip "bomb" that honestly declares
#: this much (a file of 50 kB) still stays under 100 MB.
MAX_PAYLOAD = 50_000_000

_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def read_idx(path: PathLike, max_bytes: int = MAX_PAYLOAD) -> Tuple[Tuple[int, ...], bytes]:
    """Read an IDX file of unsigned bytes, raw or gzip-compressed.

    Args:
        path: the file to read. Gzip compression is detected from the
            content (magic bytes 1f 8b), whatever the file is called.
        max_bytes: refuse a header declaring more elements than this,
            before reading them (default :data:`MAX_PAYLOAD`).

    Returns:
        ``(dims, payload)``: the dimensions as a tuple of ints and the
        ``prod(dims)`` elements as bytes, row-major.

    Raises:
        DatasetError: the file is missing or unreadable, the gzip stream is
            corrupt, the magic number or data type is wrong, or the amount
            of data differs from what the header declares (truncated file,
            trailing bytes, lying header), or it declares more than
            ``max_bytes`` elements.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            compressed = f.read(2) == _GZIP_MAGIC
            f.seek(0)
            if compressed:
                return _read_gzip(name, f, size, max_bytes)
            return _read_raw(name, f, size, max_bytes)
    except OSError as exc:  # missing file, permission, I/O error
        raise DatasetError(
            f"cannot read IDX file {name}: expected a readable file. Received: {exc}"
        ) from exc


def _read_raw(name: str, f, size: int, max_bytes: int) -> Tuple[Tuple[int, ...], bytes]:
    dims, header_len = _read_header(name, f, "raw file")
    count = _check_count(name, dims, max_bytes)
    if size != header_len + count:
        _raise_size_mismatch(name, dims, header_len, count, size - header_len)
    payload = f.read(count)
    if len(payload) != count:  # the file shrank while we were reading it
        _raise_size_mismatch(name, dims, header_len, count, len(payload))
    return dims, payload


def _read_gzip(name: str, f, size: int, max_bytes: int) -> Tuple[Tuple[int, ...], bytes]:
    try:
        with gzip.GzipFile(fileobj=f, mode="rb") as gz:
            dims, header_len = _read_header(name, gz, "after gzip decompression")
            count = _check_count(name, dims, max_bytes)
            limit = _MAX_DEFLATE_RATIO * size
            if header_len + count > limit:
                raise DatasetError(
                    f"IDX file {name}: expected at most {limit} bytes, the most a "
                    f"{size}-byte gzip file can decompress to. Received: a header "
                    f"declaring dims {_fmt_dims(dims)} ({count} elements)."
                )
            # Read at most one byte more than declared: enough to detect
            # trailing data, never enough for a gzip bomb to exhaust memory.
            payload = _read_at_most(gz, count + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"IDX file {name}: expected a valid gzip stream. "
            f"Received: a corrupt or truncated one ({type(exc).__name__}: {exc})"
        ) from exc
    if len(payload) != count:
        found = len(payload) if len(payload) <= count else None
        _raise_size_mismatch(name, dims, header_len, count, found)
    return dims, payload


def _read_header(name: str, f, where: str) -> Tuple[Tuple[int, ...], int]:
    """Read and check the magic number and dims; return (dims, header length)."""
    magic = f.read(4)
    if not magic:
        raise DatasetError(
            f"IDX file {name} is empty: expected a 4-byte IDX magic number. "
            f"Received: 0 bytes ({where})."
        )
    if len(magic) < 4:
        raise DatasetError(
            f"IDX file {name} is truncated: expected a 4-byte IDX magic number. "
            f"Received: {len(magic)} bytes ({where})."
        )
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(
            f"{name} is not an IDX file: expected a magic number starting with "
            f"two zero bytes. Received: 0x{magic[0]:02x} 0x{magic[1]:02x}."
        )
    if magic[2] != _UINT8:
        kind = _TYPE_NAMES.get(magic[2], "unknown")
        raise DatasetError(
            f"IDX file {name} has an unsupported dtype: expected type code 0x08 "
            f"(unsigned byte). Received: 0x{magic[2]:02x} ({kind})."
        )
    ndim = magic[3]
    if not 1 <= ndim <= _MAX_DIMS:
        raise DatasetError(
            f"IDX file {name}: expected 1 to {_MAX_DIMS} dimensions. "
            f"Received: {ndim}."
        )
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) != 4 * ndim:
        raise DatasetError(
            f"IDX file {name} is truncated: expected {4 * ndim} bytes of "
            f"dimensions for {ndim} dims. Received: {len(raw_dims)} bytes."
        )
    dims = struct.unpack(f">{ndim}I", raw_dims)
    return dims, 4 + 4 * ndim


def _check_count(name: str, dims: Tuple[int, ...], max_bytes: int) -> int:
    """The number of elements ``dims`` declare, refused when over ``max_bytes``."""
    count = _prod(dims)
    if count > max_bytes:
        raise DatasetError(
            f"IDX file {name}: expected at most {max_bytes} elements (pass read_idx a larger "
            f"max_bytes to read more). Received: a header declaring dims {_fmt_dims(dims)} "
            f"({count} elements)."
        )
    return count


def _read_at_most(f, limit: int) -> bytes:
    # f.read(limit) would let BufferedReader allocate `limit` bytes up front.
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = f.read(min(remaining, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _raise_size_mismatch(
    name: str,
    dims: Tuple[int, ...],
    header_len: int,
    count: int,
    found: Optional[int],
) -> None:
    expected = (
        f"expected {header_len + count} bytes ({header_len}-byte header + "
        f"{count} bytes of data for dims {_fmt_dims(dims)})"
    )
    if found is None:
        received = f"more than {count} bytes of data (trailing bytes)"
    elif found < count:
        received = f"{found} bytes of data (the file is truncated)"
    else:
        received = f"{found} bytes of data ({found - count} trailing bytes)"
    raise DatasetError(f"IDX file {name}: {expected}. Received: {received}.")


def write_idx(
    path: PathLike,
    dims: Sequence[int],
    payload: Union[bytes, bytearray, memoryview],
    compress: Optional[bool] = None,
) -> None:
    """Write an IDX file of unsigned bytes, atomically.

    The file is written with :func:`purenet.io.atomic.write_atomic` (a
    temporary file, synced, then renamed into place), so readers never see a
    half-written file.
    Gzip output is deterministic (no timestamp, no file name): the same
    arguments always give the same bytes.

    Args:
        path: where to write.
        dims: 1 to 4 dimensions, each in ``0 .. 2**32 - 1``.
        payload: ``prod(dims)`` bytes, row-major.
        compress: gzip the file; ``None`` (default) means "if ``path`` ends
            in ``.gz``".

    Raises:
        ValueError: ``dims`` or the payload length is invalid.
        TypeError: ``payload`` is not bytes-like.
    """
    name = os.fspath(path)
    dims = tuple(dims)
    if not 1 <= len(dims) <= _MAX_DIMS or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**32 for d in dims
    ):
        raise ValueError(
            f"write_idx expected 1 to {_MAX_DIMS} dims, each an int in 0..2**32-1. "
            f"Received: {dims!r}"
        )
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"write_idx expected payload as bytes, bytearray or memoryview. "
            f"Received: {type(payload).__name__}"
        )
    data = bytes(payload)
    if len(data) != _prod(dims):
        raise ValueError(
            f"write_idx expected {_prod(dims)} bytes of payload for dims "
            f"{_fmt_dims(dims)}. Received: {len(data)} bytes."
        )
    if compress is None:
        compress = name.endswith(".gz")
    header = bytes((0, 0, _UINT8, len(dims))) + struct.pack(f">{len(dims)}I", *dims)
    if compress:
        buffer = io.BytesIO()
        # filename="" keeps any name out of the gzip header, mtime=0 the time.
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
            gz.write(header)
            gz.write(data)
        write_atomic(name, buffer.getvalue())
    else:
        write_atomic(name, [header, data])


def _prod(dims: Sequence[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _fmt_dims(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims)

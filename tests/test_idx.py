"""Tests for purenet.datasets.idx: round trips, and every way a file can be broken."""

import gzip
import io
import os
import struct
import time

import pytest

from purenet.datasets import idx
from purenet.datasets.idx import read_idx, write_idx
from purenet.errors import DatasetError

# The full MNIST files of the development machines, next to the repository.
MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
# CI lays shared/ beside the clone, so there a missing directory is a failure, not a skip.
needs_full_mnist = pytest.mark.skipif(
    not os.path.isdir(MNIST_DIR) and os.environ.get("CI") != "true",
    reason=f"full MNIST files not found in {MNIST_DIR}",
)


def header(dims, dtype=0x08):
    return bytes((0, 0, dtype, len(dims))) + struct.pack(f">{len(dims)}I", *dims)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def put(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def read_error(path):
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message, message  # every error names the file
    return message


# --- round trips -----------------------------------------------------------


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
@pytest.mark.parametrize("dims", [(5,), (2, 3), (4, 2, 3), (2, 1, 3, 2), (0, 28, 28)])
def test_round_trip(tmp_path, name, dims):
    count = 1
    for d in dims:
        count *= d
    payload = bytes((i * 37) % 256 for i in range(count))
    path = tmp_path / name
    write_idx(path, dims, payload)
    assert read_idx(path) == (dims, payload)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_raw_file_layout_is_the_idx_format(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, [3], bytearray([7, 2, 1]))
    assert path.read_bytes() == b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x07\x02\x01"


def test_compression_is_detected_from_content_not_name(tmp_path):
    gz_named_raw = tmp_path / "a.gz"
    raw_named_gz = tmp_path / "b"
    write_idx(gz_named_raw, (2,), b"\x01\x02", compress=False)
    write_idx(raw_named_gz, (2,), b"\x03\x04", compress=True)
    assert gz_named_raw.read_bytes()[:2] == b"\x00\x00"
    assert raw_named_gz.read_bytes()[:2] == b"\x1f\x8b"
    assert read_idx(gz_named_raw) == ((2,), b"\x01\x02")
    assert read_idx(raw_named_gz) == ((2,), b"\x03\x04")


def test_gzip_output_is_deterministic(tmp_path):
    a, b = tmp_path / "a.gz", tmp_path / "sub-b.gz"
    write_idx(a, (3, 4), bytes(range(12)))
    time.sleep(0.01)
    write_idx(b, (3, 4), bytes(range(12)))
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip mtime field


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "x.gz"
    write_idx(path, (2,), b"\x01\x02")
    write_idx(path, (3,), b"\x01\x02\x03")  # replaces
    assert read_idx(path) == ((3,), b"\x01\x02\x03")
    assert os.listdir(tmp_path) == ["x.gz"]

    def failing_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(idx.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_idx(path, (1,), b"\x09")
    assert read_idx(path) == ((3,), b"\x01\x02\x03")  # old file intact
    assert os.listdir(tmp_path) == ["x.gz"]  # temp file cleaned up


@pytest.mark.parametrize(
    "dims, payload, error",
    [
        ((), b"", ValueError),
        ((1, 1, 1, 1, 1), b"\x00", ValueError),
        ((2**32,), b"", ValueError),
        ((-1,), b"", ValueError),
        ((2.0,), b"\x00\x00", ValueError),
        ((3,), b"\x00\x00", ValueError),
        ((2,), [1, 2], TypeError),
        ((2,), "ab", TypeError),
    ],
)
def test_write_rejects_bad_arguments(tmp_path, dims, payload, error):
    with pytest.raises(error, match="Received"):
        write_idx(tmp_path / "x", dims, payload)
    assert os.listdir(tmp_path) == []


@needs_full_mnist
def test_reads_real_mnist_labels():
    dims, labels = read_idx(os.path.join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz"))
    assert dims == (10000,)
    assert labels[:5] == bytes([7, 2, 1, 0, 4])  # the well-known first test digits
    assert set(labels) == set(range(10))


# --- broken files -----------------------------------------------------------


def test_missing_file(tmp_path):
    message = read_error(tmp_path / "nope-idx1-ubyte")
    assert "No such file" in message


@pytest.mark.parametrize("compressed", [False, True])
def test_empty(tmp_path, compressed):
    message = read_error(put(tmp_path, "empty", gz(b"") if compressed else b""))
    assert "empty" in message and "Received: 0 bytes" in message


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_payload(tmp_path, compressed):
    content = header((10, 28, 28)) + bytes(10 * 784 - 5)
    path = put(tmp_path, "t", gz(content) if compressed else content)
    message = read_error(path)
    assert "expected 7856 bytes (16-byte header + 7840 bytes of data for dims 10x28x28)" in message
    assert "Received: 7835 bytes of data (the file is truncated)" in message


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_header(tmp_path, compressed):
    content = header((10, 28, 28))[:9]
    message = read_error(put(tmp_path, "t", gz(content) if compressed else content))
    assert "truncated" in message and "expected 12 bytes of dimensions" in message


def test_truncated_magic(tmp_path):
    message = read_error(put(tmp_path, "t", b"\x00\x00"))
    assert "truncated" in message and "Received: 2 bytes" in message


def test_trailing_bytes_raw(tmp_path):
    message = read_error(put(tmp_path, "t", header((2, 2)) + bytes(4) + b"junk"))
    assert "expected 16 bytes" in message and "4 trailing bytes" in message


def test_trailing_bytes_gzip(tmp_path):
    message = read_error(put(tmp_path, "t.gz", gz(header((2, 2)) + bytes(4) + b"junk")))
    assert "expected 16 bytes" in message and "trailing bytes" in message


@pytest.mark.parametrize("compressed", [False, True])
def test_lying_header_claiming_10_to_the_12_fails_fast(tmp_path, compressed):
    content = header((10000, 10000, 10000)) + bytes(784)
    path = put(tmp_path, "liar", gz(content) if compressed else content)
    start = time.perf_counter()
    message = read_error(path)  # a DatasetError, not a MemoryError
    assert time.perf_counter() - start < 1.0
    assert "10000x10000x10000" in message
    assert "1000000000000" in message


def test_gzip_bomb_is_read_with_a_cap(tmp_path, monkeypatch):
    # 16 MB of data behind a header that declares 100 bytes: only the header
    # and 101 bytes may be decompressed before the mismatch is reported.
    path = put(tmp_path, "bomb.gz", gz(header((100,)) + bytes(16 * 2**20)))
    assert path.stat().st_size < 100_000
    requests, returned = [], []

    class SpyGzipFile(gzip.GzipFile):
        def read(self, size=-1):
            requests.append(size)
            data = super().read(size)
            returned.append(len(data))
            return data

    monkeypatch.setattr(idx.gzip, "GzipFile", SpyGzipFile)
    message = read_error(path)
    assert "trailing bytes" in message
    assert sum(returned) == 4 + 4 + 101
    assert all(0 <= size <= 101 for size in requests), requests


def test_gzip_header_larger_than_data_but_within_deflate_limit(tmp_path):
    # Small enough to pass the deflate-ratio check: caught by the capped read.
    path = put(tmp_path, "short.gz", gz(header((4000,)) + bytes(100)))
    message = read_error(path)
    assert "Received: 100 bytes of data (the file is truncated)" in message


@pytest.mark.parametrize("first", [b"\x89PNG\r\n\x1a\n", b"\x00\x01\x08\x01", b"\x08\x03\x00\x00"])
def test_wrong_magic(tmp_path, first):
    message = read_error(put(tmp_path, "m", first + bytes(16)))
    assert "not an IDX file" in message and "two zero bytes" in message
    assert f"Received: 0x{first[0]:02x} 0x{first[1]:02x}" in message


@pytest.mark.parametrize("code, kind", [(0x0D, "float32"), (0x09, "signed byte"), (0x42, "unknown")])
def test_unsupported_dtype(tmp_path, code, kind):
    message = read_error(put(tmp_path, "d", header((2,), dtype=code) + bytes(8)))
    assert "unsupported dtype" in message
    assert "0x08" in message and f"Received: 0x{code:02x} ({kind})" in message


@pytest.mark.parametrize("ndim", [0, 5, 255])
def test_bad_number_of_dims(tmp_path, ndim):
    message = read_error(put(tmp_path, "n", bytes((0, 0, 8, ndim)) + bytes(64)))
    assert f"expected 1 to 4 dimensions. Received: {ndim}" in message


def test_corrupt_gzip_stream(tmp_path):
    content = bytearray(gz(header((50, 28, 28)) + bytes(range(256)) * 153 + bytes(32)))
    for i in range(20, 60):
        content[i] ^= 0x5A
    message = read_error(put(tmp_path, "c.gz", bytes(content)))
    assert "expected a valid gzip stream" in message


def test_truncated_gzip_stream(tmp_path):
    content = gz(header((50, 28, 28)) + bytes(range(256)) * 153 + bytes(32))
    message = read_error(put(tmp_path, "c.gz", content[: len(content) // 2]))
    assert "expected a valid gzip stream" in message and "EOFError" in message


def test_gzip_magic_followed_by_garbage(tmp_path):
    message = read_error(put(tmp_path, "g", b"\x1f\x8b" + b"not really gzip at all"))
    assert "expected a valid gzip stream" in message


def test_bad_gzip_crc(tmp_path):
    content = bytearray(gz(header((4,)) + b"\x01\x02\x03\x04"))
    content[-8] ^= 0xFF  # CRC32 of the uncompressed data
    message = read_error(put(tmp_path, "crc.gz", bytes(content)))
    assert "expected a valid gzip stream" in message and "CRC" in message

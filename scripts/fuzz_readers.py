"""Nightly-style fuzzing of every purenet file reader, with the figures issue 6 asks for.

    python scripts/fuzz_readers.py                 # 2,000 cases per reader, a random seed
    python scripts/fuzz_readers.py --cases 200 --seed 1 --readers png,pgm

For each reader in ``tests/fuzzing.py`` (IDX, MNIST pairs, safetensors,
model files, weights, checkpoints, ONNX models, PNG, PGM/PPM, JPEG, read_image) it runs
``--cases`` Hypothesis cases: valid files, mutations of them and structured
lies. Each case is read twice: once untraced, timed against ``--max-seconds``
(1 s), and once under ``tracemalloc``, whose peak (Python allocations
during the read) is held to ``--max-mb`` (100 MB). Any exception other than
the reader's documented error, any case over either limit, is a finding:
Hypothesis shrinks it, the script prints it and goes on to the next reader.

Prints one line per reader: cases, how many were read successfully and how
many rejected, how many distinct rejection messages (a rough measure of how
many checks the cases reached), the 99th-percentile and the slowest time
(on a busy machine the slowest is often another process's doing) and the
largest peak; then the process's peak RSS. Exits 1 if there was any finding.

This is a script, not a test: the time limit is only meaningful on an idle
machine, and thousands of cases take minutes. CI runs a few hundred seeded
cases through ``tests/test_fuzz_readers.py`` instead.

Then, unless ``--no-largest``, it reads the largest honest images the
readers accept (52 megapixels, read with ``min_side=300`` as ``purenet
predict`` reads them; 12 megapixels at full size; a PNG of zeros that size
is a few kilobytes, a flat JPEG a few hundred: the "decompression bombs" the
pixel limit bounds) and prints their time and peak memory: these must stay
under the memory limit too.
"""

import argparse
import collections
import os
import re
import struct
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import warnings  # noqa: E402

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis.errors import HypothesisWarning  # noqa: E402

import fuzzing  # noqa: E402
from fuzzing import tracemalloc  # noqa: E402  (None on PyPy: memory is then not measured)
from purenet.io.image import MAX_PIXELS  # noqa: E402
from purenet.io.imagefile import read_image  # noqa: E402
from purenet.io.png import SIGNATURE  # noqa: E402
from purenet.io.safetensors import HEADER_CAP, MAX_JSON_ITEMS  # noqa: E402


def fuzz_reader(reader, cases: int, run_seed: int, max_seconds: float, max_bytes: int, workdir: str):
    stats = {"cases": 0, "results": collections.Counter(), "messages": set(), "times": [], "max_bytes": 0.0}

    @seed(run_seed)
    @settings(max_examples=cases, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(reader.strategy())
    def case(data):
        timed = fuzzing.run_case(reader, data, workdir, max_seconds, None, trace=False, attempts=3)
        # time under tracing is inflated; only its memory is judged here
        peak = traced_peak(reader, data, workdir, max_seconds * 20, max_bytes)
        stats["cases"] += 1
        stats["results"][timed.result] += 1
        stats["times"].append(timed.seconds)
        stats["max_bytes"] = max(stats["max_bytes"], peak)
        if timed.result != "ok":
            stats["messages"].add(_message_kind(reader, data, workdir))

    finding = None
    try:
        case()
    except fuzzing.Finding as e:
        finding = str(e)
    except Exception as e:  # a generator problem is a failure of this script, say so plainly
        finding = f"the case generator failed: {type(e).__name__}: {e}"
    return stats, finding


def traced_peak(reader, data, workdir, max_seconds, max_bytes) -> float:
    """Peak traced allocation of one read, checked against ``max_bytes`` (NaN on PyPy)."""
    if tracemalloc is None:
        return float("nan")
    tracemalloc.start()
    try:
        return fuzzing.run_case(reader, data, workdir, max_seconds, max_bytes).peak_bytes
    finally:
        tracemalloc.stop()


def flat_jpeg(width: int, height: int) -> bytes:
    """A valid gray baseline JPEG of ``width x height`` mid-gray pixels, made without an
    encoder: with the standard tables every block is the 2-bit DC code of a zero
    difference and the 4-bit end-of-block code (T.81 K.3), so 6 bits a block."""
    dc_counts = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    ac_counts = bytes([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D])
    ac_symbols = bytes.fromhex(
        "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a"
        "3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a929394"
        "95969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8"
        "e9eaf1f2f3f4f5f6f7f8f9fa")
    blocks = -(-width // 8) * -(-height // 8)
    # "00" + "1010" per block: four blocks are the 3 bytes 28 A2 8A
    scan = b"\x28\xa2\x8a" * (blocks // 4) + {0: b"", 1: b"\x2b", 2: b"\x28\xaf", 3: b"\x28\xa2\xbf"}[blocks % 4]

    def segment(marker, body):
        return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body

    return b"".join((
        b"\xff\xd8",
        segment(0xDB, b"\x00" + bytes([1] * 64)),
        segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
        segment(0xC4, b"\x00" + dc_counts + bytes(range(12))),
        segment(0xC4, b"\x10" + ac_counts + ac_symbols),
        segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        scan, b"\xff\xd9",
    ))


def largest_inputs():
    """Files at the readers' size limits: images as a few kilobytes can declare them
    (read as ``purenet predict`` reads them, reduced to a shorter side of 300 or more,
    and the 12-megapixel ones at full size too), safetensors headers as large and as
    full of values as allowed. ``(label, reader name, bytes)``."""
    width, height = 4000, MAX_PIXELS // 4000
    cases = []
    for w, h, reader in ((4000, 3000, "png"), (width, height, "image-300")):
        for color_type, depth, what in ((0, 1, "gray 1-bit"), (3, 1, "palette 1-bit"), (0, 8, "gray"),
                                        (2, 8, "RGB"), (6, 8, "RGBA"), (6, 16, "RGBA 16-bit")):
            if reader == "image-300" and what not in ("gray", "RGBA 16-bit"):
                continue
            size = fuzzing.scanline_bytes(w, h, color_type, depth, 0)
            deflate = zlib.compressobj(9)
            stream = b"".join(deflate.compress(bytes(1 << 20)) for _ in range(size >> 20))
            stream += deflate.compress(bytes(size & ((1 << 20) - 1))) + deflate.flush()
            chunks = [fuzzing.png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))]
            if color_type == 3:
                chunks.append(fuzzing.png_chunk(b"PLTE", bytes(6)))
            chunks += [fuzzing.png_chunk(b"IDAT", stream), fuzzing.png_chunk(b"IEND", b"")]
            cases.append((f"PNG {w}x{h} {what}, zeros" + (", min_side" if reader != "png" else ""), reader,
                          SIGNATURE + b"".join(chunks)))
    cases.append((f"JPEG {width}x{height} gray, flat, min_side", "image-300", flat_jpeg(width, height)))
    cases.append(("JPEG 4000x3000 gray, flat", "jpeg", flat_jpeg(4000, 3000)))
    # JSON bombs just under the safetensors caps: the most values a header may hold, in the costliest forms
    n = MAX_JSON_ITEMS - 2
    for label, text in (("keys", "{" + ",".join(f'"k{i}":{{}}' for i in range(n // 2)) + "}"),
                        ("objects", '{"a": [' + "{}," * (n // 2 - 2) + "{}]}"),
                        ("floats", '{"a": [' + "1.5e300," * n + "1]}"),
                        ("string", '{"s": "' + "x" * (HEADER_CAP - 16) + '"}')):
        header = text.encode()
        cases.append((f"safetensors header: {len(header) / 1e6:.1f} MB, {label}", "safetensors",
                      struct.pack("<Q", len(header)) + header))
    cases.append(("PPM P6 4000x3000 16-bit", "pgm", b"P6 4000 3000 65535\n" + bytes(6 * 4000 * 3000)))
    cases.append(("PGM P2 4000x3000 plain", "pgm", b"P2 4000 3000 255\n" + b"7 " * (4000 * 3000)))
    return cases


_IMAGE_300 = fuzzing.Reader("image-300", fuzzing.READERS["image"].errors,
                            fuzzing._in_memory(lambda data: read_image(data, min_side=300)), None)


def measure_largest(max_bytes: int, workdir: str):
    """Time and peak memory of each of :func:`largest_inputs`; returns the labels over ``max_bytes``."""
    print("\nlargest inputs (at the size limits; not cases, so no time limit):")
    over = []
    for label, name, data in largest_inputs():
        reader = fuzzing.READERS[name] if name != "image-300" else _IMAGE_300
        timed = fuzzing.run_case(reader, data, workdir, 600, None, trace=False)
        peak = traced_peak(reader, data, workdir, 6000, None)
        print(f"  {label:<38} {len(data) / 1e3:>9.1f} kB file  {timed.result:<14} {timed.seconds:6.2f} s  "
              f"{peak / 1e6:7.1f} MB", flush=True)
        if peak > max_bytes:
            over.append(label)
    return over


def _message_kind(reader, data, workdir) -> str:
    """The rejection message with numbers, names and quoted text blanked out."""
    try:
        reader.read(data, workdir)()
    except reader.errors as e:
        text = re.sub(r"'[^']*'|\"[^\"]*\"|<bytes>|\S*/\S*", "_", str(e))
        return re.sub(r"-?\d[\d,.e+]*", "N", text)[:160]
    return "ok"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases per reader (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random, printed)")
    parser.add_argument("--readers", default=",".join(fuzzing.READERS), help="comma-separated reader names")
    parser.add_argument("--max-seconds", type=float, default=1.0, help="time limit per case (default 1 s)")
    parser.add_argument("--max-mb", type=float, default=100.0, help="peak traced allocation per case (default 100 MB)")
    parser.add_argument("--no-largest", action="store_true", help="skip measuring the largest valid images")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", HypothesisWarning)  # reprs of the seed files are long, and never shown
    run_seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    names = [n for n in args.readers.split(",") if n]
    unknown = [n for n in names if n not in fuzzing.READERS]
    if unknown:
        parser.error(f"unknown reader(s) {unknown}; expected some of {list(fuzzing.READERS)}")

    print(f"fuzz_readers: {args.cases} cases per reader, seed {run_seed}, limits {args.max_seconds:g} s and "
          f"{args.max_mb:g} MB per case, Python {sys.version.split()[0]}")
    print(f"{'reader':<12} {'cases':>6} {'ok':>6} {'rejected':>8} {'kinds':>6} {'p99 time':>9} {'max time':>9} "
          f"{'max memory':>11}  wall")
    findings = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            started = time.perf_counter()
            stats, finding = fuzz_reader(fuzzing.READERS[name], args.cases, run_seed, args.max_seconds,
                                         int(args.max_mb * 1024 * 1024), workdir)
            ok = stats["results"]["ok"]
            times = sorted(stats["times"]) or [0.0]
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"{name:<12} {stats['cases']:>6} {ok:>6} {stats['cases'] - ok:>8} {len(stats['messages']):>6} "
                  f"{p99 * 1000:>7.1f}ms {times[-1] * 1000:>7.1f}ms {stats['max_bytes'] / 1e6:>8.2f} MB  "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
            if finding:
                findings.append((name, finding))
                print(f"  FINDING in {name}: {finding}", flush=True)
        if not args.no_largest:
            findings += [(label, "over the memory limit") for label in measure_largest(int(args.max_mb * 1e6), workdir)]
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak RSS of the whole run: {rss / 1024:.0f} MB")
    except ImportError:  # Windows
        pass
    if findings:
        print(f"{len(findings)} reader(s) with findings: {', '.join(n for n, _ in findings)} (seed {run_seed})")
        return 1
    print("no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())

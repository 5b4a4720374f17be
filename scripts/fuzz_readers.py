"""Nightly-style fuzzing of every purenet file reader, with the figures issue 6 asks for.

    python scripts/fuzz_readers.py                 # 2,000 cases per reader, a random seed
    python scripts/fuzz_readers.py --cases 200 --seed 1 --readers png,pgm

For each reader in ``tests/fuzzing.py`` (IDX, MNIST pairs, safetensors,
model files, weights, checkpoints, ONNX models, PNG, PGM/PPM, read_image) it runs
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
readers accept (12 megapixels; a PNG of zeros that size is a few kilobytes,
the "decompression bomb" the pixel limit bounds) and prints their time and
peak memory: these must stay under the memory limit too.
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


def largest_inputs():
    """Files at the readers' size limits: images as a few kilobytes can declare them,
    safetensors headers as large and as full of values as allowed.
    ``(label, reader name, bytes)``."""
    width, height = 4000, 3000  # MAX_PIXELS
    assert width * height == MAX_PIXELS
    cases = []
    for color_type, depth, what in ((0, 1, "gray 1-bit"), (3, 1, "palette 1-bit"), (0, 8, "gray"), (2, 8, "RGB"),
                                    (6, 8, "RGBA"), (6, 16, "RGBA 16-bit")):
        size = fuzzing.scanline_bytes(width, height, color_type, depth, 0)
        deflate = zlib.compressobj(9)
        stream = b"".join(deflate.compress(bytes(1 << 20)) for _ in range(size >> 20))
        stream += deflate.compress(bytes(size & ((1 << 20) - 1))) + deflate.flush()
        chunks = [fuzzing.png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))]
        if color_type == 3:
            chunks.append(fuzzing.png_chunk(b"PLTE", bytes(6)))
        chunks += [fuzzing.png_chunk(b"IDAT", stream), fuzzing.png_chunk(b"IEND", b"")]
        cases.append((f"PNG {width}x{height} {what}, zeros", "png", SIGNATURE + b"".join(chunks)))
    # JSON bombs just under the safetensors caps: the most values a header may hold, in the costliest forms
    n = MAX_JSON_ITEMS - 2
    for label, text in (("keys", "{" + ",".join(f'"k{i}":{{}}' for i in range(n // 2)) + "}"),
                        ("objects", '{"a": [' + "{}," * (n // 2 - 2) + "{}]}"),
                        ("floats", '{"a": [' + "1.5e300," * n + "1]}"),
                        ("string", '{"s": "' + "x" * (HEADER_CAP - 16) + '"}')):
        header = text.encode()
        cases.append((f"safetensors header: {len(header) / 1e6:.1f} MB, {label}", "safetensors",
                      struct.pack("<Q", len(header)) + header))
    cases.append((f"PPM P6 {width}x{height} 16-bit", "pgm", b"P6 %d %d 65535\n" % (width, height) + bytes(6 * width * height)))
    cases.append((f"PGM P2 {width}x{height} plain", "pgm", b"P2 %d %d 255\n" % (width, height) + b"7 " * (width * height)))
    return cases


def measure_largest(max_bytes: int, workdir: str):
    """Time and peak memory of each of :func:`largest_inputs`; returns the labels over ``max_bytes``."""
    print("\nlargest inputs (at the size limits; not cases, so no time limit):")
    over = []
    for label, name, data in largest_inputs():
        reader = fuzzing.READERS[name]
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

"""Tests for download_file and load_mnist's downloads, against a local HTTP server.

Every "mirror" is a URL prefix on one ``ThreadingHTTPServer`` bound to
127.0.0.1 (port 0) in a thread, serving the real MNIST files of the shared
data directory:

    /good/<file>       the file
    /corrupt/<file>    the same length with one byte flipped
    /truncated/<file>  the right Content-Length, then the connection closes halfway
    /long/<file>       the file plus extra bytes, no Content-Length
    /missing/<file>    404
    /redirect-file/<file>, /redirect-ftp/<file>
                       302 to a file:// or ftp:// URL (must be refused)

Nothing here may reach another host: an autouse fixture makes any socket
connection to anything but 127.0.0.1 fail the test, proxies are unset, and
every request has a 5-second timeout.
"""

import hashlib
import os
import socket
import socketserver
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from purenet.datasets import load_mnist, read_idx, write_idx
from purenet.datasets import mnist
from purenet.datasets.download import download_file, sha256_file
from purenet.errors import DatasetError

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
TIMEOUT = 5
SERVED = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz")
LABELS = "t10k-labels-idx1-ubyte.gz"  # 4,542 bytes: the quick one for download_file tests
IMAGES = "t10k-images-idx3-ubyte.gz"


def mnist_dir():
    """The shared MNIST directory; skip without it, except under CI=true (fail)."""
    if not os.path.isdir(MNIST_DIR):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the MNIST files are missing: expected {MNIST_DIR}")
        pytest.skip(f"MNIST files not found in {MNIST_DIR}")
    return MNIST_DIR


# --- the local mirror server ------------------------------------------------------


class MirrorHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.record(self.path)
        parts = self.path.split("/")
        if len(parts) != 3 or parts[2] not in self.server.files:
            self.send_error(404)
            return
        mode, data = parts[1], self.server.files[parts[2]]
        if mode == "good":
            self.send_body(data)
        elif mode == "corrupt":
            k = len(data) // 2
            self.send_body(data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1 :])
        elif mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif mode == "long":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(data + b"\0" * 100_000)
            self.close_connection = True
        elif mode in ("redirect-file", "redirect-ftp"):
            where = {"redirect-file": "file://" + os.path.abspath(os.path.join(MNIST_DIR, parts[2])),
                     "redirect-ftp": "ftp://127.0.0.1/" + parts[2]}[mode]
            self.send_response(302)
            self.send_header("Location", where)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:  # /missing/ and anything unknown
            self.send_error(404)

    def send_body(self, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files):
        self.files = files
        self.requests = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), MirrorHandler)

    def server_bind(self):  # skip HTTPServer's getfqdn(): no name lookups at all
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def record(self, path):
        with self.lock:
            self.requests.append(path)

    def take_requests(self):
        with self.lock:
            taken, self.requests[:] = list(self.requests), []
        return taken


@pytest.fixture(scope="module")
def server():
    directory = mnist_dir()
    files = {}
    for name in SERVED:
        with open(os.path.join(directory, name), "rb") as f:
            files[name] = f.read()
    srv = MirrorServer(files)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_port}"
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()


@pytest.fixture
def mirror(server):
    """The server, with its request log cleared; ``mirror.at(kind)`` is a base URL."""
    server.take_requests()
    server.at = lambda kind: f"{server.url}/{kind}/"
    return server


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any test that opens a connection to anything but 127.0.0.1."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] != "127.0.0.1":
            raise AssertionError(f"a test tried to connect to {address!r}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No $PURENET_DATA, no $PURENET_OFFLINE, and ~/.cache/purenet inside tmp_path."""
    monkeypatch.delenv("PURENET_DATA", raising=False)
    monkeypatch.delenv("PURENET_OFFLINE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def expected(name):
    digest, size = mnist.MNIST_SHA256[name]
    return digest, size


def fetch(mirror, kinds, dest, name=LABELS, **kwargs):
    digest, size = expected(name)
    urls = [mirror.at(kind) + name for kind in kinds]
    return download_file(urls, dest, digest, timeout=TIMEOUT, size=size, **kwargs)


# --- the table ------------------------------------------------------------------------


def test_digest_table_matches_the_original_files():
    directory = mnist_dir()
    assert sorted(mnist.MNIST_SHA256) == sorted(f + ".gz" for pair in mnist.MNIST_FILES.values() for f in pair)
    for name, (digest, size) in mnist.MNIST_SHA256.items():
        path = os.path.join(directory, name)
        assert os.path.getsize(path) == size, name
        assert sha256_file(path) == digest, name


def test_default_mirrors():
    assert len(mnist.MNIST_MIRRORS) >= 2
    assert len(set(mnist.MNIST_MIRRORS)) == len(mnist.MNIST_MIRRORS)
    for base in mnist.MNIST_MIRRORS:
        assert base.startswith(("https://", "http://")) and base.endswith("/")


# --- download_file ----------------------------------------------------------------------


def test_good_mirror(mirror, tmp_path):
    dest = tmp_path / "sub" / LABELS  # the directory is created
    calls = []
    result = fetch(mirror, ["good"], dest, progress=lambda done, total: calls.append((done, total)))
    assert result == str(dest)
    assert dest.read_bytes() == mirror.files[LABELS]
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == expected(LABELS)[0]
    assert os.listdir(dest.parent) == [LABELS]  # no temp file
    assert mirror.take_requests() == [f"/good/{LABELS}"]
    size = expected(LABELS)[1]
    assert calls and calls[-1] == (size, size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_single_url_string_and_unknown_size(mirror, tmp_path):
    digest, size = expected(LABELS)
    dest = tmp_path / LABELS
    calls = []
    download_file(mirror.at("good") + LABELS, dest, digest.upper(), timeout=TIMEOUT,
                  progress=lambda done, total: calls.append(total))
    assert dest.read_bytes() == mirror.files[LABELS]
    assert set(calls) == {size}  # the total comes from Content-Length


def test_corrupt_mirror_falls_back(mirror, tmp_path):
    dest = tmp_path / LABELS
    fetch(mirror, ["corrupt", "good"], dest)
    assert dest.read_bytes() == mirror.files[LABELS]
    assert mirror.take_requests() == [f"/corrupt/{LABELS}", f"/good/{LABELS}"]
    assert os.listdir(tmp_path) == [LABELS]


def test_truncated_transfer_is_rejected(mirror, tmp_path):
    dest = tmp_path / LABELS
    fetch(mirror, ["truncated", "good"], dest)
    assert dest.read_bytes() == mirror.files[LABELS]
    assert mirror.take_requests() == [f"/truncated/{LABELS}", f"/good/{LABELS}"]


def test_truncated_transfer_is_rejected_without_known_size(mirror, tmp_path):
    digest = expected(LABELS)[0]
    with pytest.raises(DatasetError, match=r"truncated: the connection closed after 2271 of 4542 bytes"):
        download_file([mirror.at("truncated") + LABELS], tmp_path / LABELS, digest, timeout=TIMEOUT)
    assert os.listdir(tmp_path) == []


def test_wrong_announced_size_is_rejected_before_reading(mirror, tmp_path):
    digest = expected(LABELS)[0]
    with pytest.raises(DatasetError, match=r"wrong size: the server announced 4542 bytes, expected 4000"):
        download_file([mirror.at("good") + LABELS], tmp_path / LABELS, digest, timeout=TIMEOUT, size=4000)
    assert os.listdir(tmp_path) == []


def test_oversized_transfer_is_rejected(mirror, tmp_path):
    dest = tmp_path / LABELS
    with pytest.raises(DatasetError, match=r"oversized: more than 4542 bytes"):
        fetch(mirror, ["long"], dest)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("scheme", ["file", "ftp"])
def test_redirect_to_another_scheme_is_refused(mirror, tmp_path, scheme):
    with pytest.raises(DatasetError, match=rf"HTTP 302 .*(?i:redirect).* to url '?{scheme}://") as info:
        fetch(mirror, [f"redirect-{scheme}"], tmp_path / LABELS)
    # file:// is refused by urllib itself, ftp:// (which urllib would follow) by purenet
    assert ("is not allowed" if scheme == "file" else "only http and https are fetched") in str(info.value)
    assert os.listdir(tmp_path) == []
    assert mirror.take_requests() == [f"/redirect-{scheme}/{LABELS}"]


def test_all_mirrors_bad(mirror, tmp_path):
    dest = tmp_path / LABELS
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    kinds = ["missing", "corrupt", "truncated", "long"]
    urls = [mirror.at(k) + LABELS for k in kinds] + [closed + LABELS, "ftp://127.0.0.1/" + LABELS]
    digest, size = expected(LABELS)
    with pytest.raises(DatasetError) as info:
        download_file(urls, dest, digest, timeout=TIMEOUT, size=size)
    message = str(info.value)
    assert message.startswith(f"cannot download {LABELS}: expected {size} bytes with SHA-256 {digest} from one of 6 URLs")
    lines = message.split("\n")[1:]
    assert len(lines) == 6
    for line, url in zip(lines, urls):
        assert line.startswith(f"  {url}: ")
    assert "HTTP 404" in lines[0]
    assert "corrupt: SHA-256 " in lines[1] and f"expected {digest}" in lines[1]
    assert "truncated: the connection closed after 2271 of 4542 bytes" in lines[2]
    assert "oversized" in lines[3]
    assert "cannot connect" in lines[4]
    assert "not tried (only http:// and https:// URLs are fetched)" in lines[5]
    assert os.listdir(tmp_path) == []  # no partial file, no temp file
    assert mirror.take_requests() == [f"/{k}/{LABELS}" for k in kinds]  # ftp:// never opened


def test_failure_removes_the_directories_it_created(mirror, tmp_path):
    with pytest.raises(DatasetError):
        fetch(mirror, ["missing"], tmp_path / "a" / "b" / LABELS)
    assert os.listdir(tmp_path) == []


def test_failure_leaves_an_existing_file_untouched(mirror, tmp_path):
    dest = tmp_path / LABELS
    dest.write_bytes(b"older contents")
    with pytest.raises(DatasetError):
        fetch(mirror, ["corrupt", "truncated"], dest)
    assert dest.read_bytes() == b"older contents"
    assert os.listdir(tmp_path) == [LABELS]


def test_progress_errors_propagate_and_clean_up(mirror, tmp_path):
    def progress(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(mirror, ["good"], tmp_path / LABELS, progress=progress)
    assert os.listdir(tmp_path) == []


def test_unwritable_destination(mirror, tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DatasetError, match="expected a writable directory"):
        fetch(mirror, ["good"], tmp_path / "file" / LABELS)
    assert mirror.take_requests() == []


@pytest.mark.parametrize(
    "urls, digest, size, text",
    [
        ([], "0" * 64, None, "non-empty list of URL strings"),
        ([b"http://127.0.0.1/"], "0" * 64, None, "non-empty list of URL strings"),
        (["http://127.0.0.1/"], "0" * 63, None, "64 hex digits"),
        (["http://127.0.0.1/"], "g" * 64, None, "64 hex digits"),
        (["http://127.0.0.1/"], "0" * 64, -1, "non-negative int"),
    ],
)
def test_download_file_validates_arguments(tmp_path, urls, digest, size, text):
    with pytest.raises(ValueError, match=text) as info:
        download_file(urls, tmp_path / "x", digest, size=size)
    assert "Received" in str(info.value)
    assert os.listdir(tmp_path) == []


# --- load_mnist -------------------------------------------------------------------------


def test_load_mnist_downloads_falls_back_and_verifies(mirror, env):
    root = env / "data"
    seen = Counter()
    x, y = load_mnist("test", root=root, mirrors=[mirror.at("corrupt"), mirror.at("good")],
                      timeout=TIMEOUT, progress=lambda name, done, total: seen.update([name]))
    assert x.shape == (10000, 1, 28, 28) and len(y) == 10000
    _, pixels = read_idx(os.path.join(MNIST_DIR, IMAGES))
    _, labels = read_idx(os.path.join(MNIST_DIR, LABELS))
    assert x.data == pixels and y == list(labels)
    assert mirror.take_requests() == [f"/corrupt/{IMAGES}", f"/good/{IMAGES}", f"/corrupt/{LABELS}", f"/good/{LABELS}"]
    assert set(seen) == {IMAGES, LABELS}
    # the files and purenet's sha256sum-style markers, nothing else
    assert sorted(os.listdir(root)) == sorted([IMAGES, IMAGES + ".sha256", LABELS, LABELS + ".sha256"])
    assert (root / (LABELS + ".sha256")).read_text() == f"{expected(LABELS)[0]}  {LABELS}\n"
    # found now: loaded without a single request
    assert load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT)[1] == y
    assert mirror.take_requests() == []


def test_load_mnist_downloads_into_the_first_directory_searched(mirror, env, monkeypatch):
    monkeypatch.setattr(mnist, "_load_pair", lambda *paths: paths)  # skip parsing: only where matters
    both = sorted([IMAGES, IMAGES + ".sha256", LABELS, LABELS + ".sha256"])
    monkeypatch.setenv("PURENET_DATA", str(env / "shared"))
    paths = load_mnist("test", mirrors=[mirror.at("good")], timeout=TIMEOUT)
    assert paths == (str(env / "shared" / IMAGES), str(env / "shared" / LABELS))
    assert sorted(os.listdir(env / "shared")) == both
    cache = env / "home" / ".cache" / "purenet"
    assert not cache.exists()
    monkeypatch.delenv("PURENET_DATA")
    paths = load_mnist("test", mirrors=[mirror.at("good")], timeout=TIMEOUT)
    assert paths == (str(cache / IMAGES), str(cache / LABELS))
    assert sorted(os.listdir(cache)) == both
    assert len(mirror.take_requests()) == 4


@pytest.mark.parametrize("how", ["download=False", "PURENET_OFFLINE=1"])
def test_no_download_when_disabled(mirror, env, monkeypatch, how):
    root = env / "data"
    kwargs = {}
    if how == "download=False":
        kwargs["download"] = False
    else:
        monkeypatch.setenv("PURENET_OFFLINE", "1")
    with pytest.raises(DatasetError) as info:
        load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT, **kwargs)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte(.gz)" in message and "t10k-labels-idx1-ubyte(.gz)" in message
    assert f"{root}  (root)" in message
    assert f"{env / 'home' / '.cache' / 'purenet'}  (default cache)" in message
    assert f"downloading is disabled ({how};" in message or f"downloading is disabled by {how}" in message
    assert "Put the MNIST IDX files" in message
    assert mirror.take_requests() == []
    assert not root.exists()


@pytest.mark.parametrize("value", ["0", "", "false"])
def test_purenet_offline_off_values_allow_downloads(mirror, env, monkeypatch, value):
    monkeypatch.setenv("PURENET_OFFLINE", value)
    monkeypatch.setattr(mnist, "_load_pair", lambda *paths: paths)
    load_mnist("test", root=env / "data", mirrors=[mirror.at("good")], timeout=TIMEOUT)
    assert mirror.take_requests() == [f"/good/{IMAGES}", f"/good/{LABELS}"]


def test_load_mnist_download_failure_says_why(mirror, env):
    root = env / "data"
    with pytest.raises(DatasetError) as info:
        load_mnist("test", root=root, mirrors=[mirror.at("missing"), mirror.at("truncated")], timeout=TIMEOUT)
    message = str(info.value)
    assert message.startswith("MNIST 'test' files not found")
    assert f"downloading them into {root} failed: cannot download {IMAGES}" in message
    assert f"{mirror.at('missing')}{IMAGES}: HTTP 404" in message
    assert f"{mirror.at('truncated')}{IMAGES}: truncated" in message
    assert "load_bundled('test')" in message
    assert not root.exists()  # no partial file, no temp file, not even the directory it made
    assert mirror.take_requests() == [f"/missing/{IMAGES}", f"/truncated/{IMAGES}"]


def test_users_own_files_are_used_as_they_are(mirror, env):
    """Files without purenet's marker are not hashed (they may be raw or
    re-compressed) and never trigger a download."""
    root = env / "data"
    os.makedirs(root)
    write_idx(str(root / IMAGES), (3, 28, 28), bytes(3 * 784))  # not the original bytes
    write_idx(str(root / "t10k-labels-idx1-ubyte"), (3,), bytes([1, 2, 3]))  # raw
    x, y = load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT)
    assert len(x) == 3 and y == [1, 2, 3]
    assert mirror.take_requests() == []


def test_a_damaged_download_is_detected_and_fetched_again(mirror, env, monkeypatch):
    root = env / "data"
    load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT)
    mirror.take_requests()
    path = root / LABELS
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))

    monkeypatch.setenv("PURENET_OFFLINE", "1")
    with pytest.raises(DatasetError) as info:
        load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT)
    message = str(info.value)
    assert f"MNIST file {path} was downloaded by purenet" in message
    assert f"expected SHA-256 {expected(LABELS)[0]}. Received: SHA-256 " in message
    assert "PURENET_OFFLINE=1" in message
    assert mirror.take_requests() == []

    monkeypatch.delenv("PURENET_OFFLINE")
    x, y = load_mnist("test", root=root, mirrors=[mirror.at("corrupt"), mirror.at("good")], timeout=TIMEOUT)
    assert len(y) == 10000
    assert mirror.take_requests() == [f"/corrupt/{LABELS}", f"/good/{LABELS}"]
    assert path.read_bytes() == mirror.files[LABELS]


def test_an_interrupted_pair_is_completed(mirror, env):
    root = env / "data"
    # what a load that fetched the images and then failed on the labels leaves behind
    mnist._fetch_original(str(root / IMAGES), [mirror.at("good")], TIMEOUT, None)
    assert sorted(os.listdir(root)) == [IMAGES, IMAGES + ".sha256"]
    mirror.take_requests()
    x, y = load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT)
    assert len(x) == 10000 and len(y) == 10000
    assert mirror.take_requests() == [f"/good/{LABELS}"]  # only the missing one


def test_a_lone_user_file_is_not_paired_with_a_download(mirror, env):
    root = env / "data"
    os.makedirs(root)
    write_idx(str(root / IMAGES), (3, 28, 28), bytes(3 * 784))
    with pytest.raises(DatasetError) as info:
        load_mnist("test", root=root, mirrors=[mirror.at("good")], timeout=TIMEOUT)
    message = str(info.value)
    assert f"{root}  (root; holds only {IMAGES})" in message
    assert f"{root} holds {IMAGES}, which purenet did not download" in message
    assert mirror.take_requests() == []
    assert os.listdir(root) == [IMAGES]


@pytest.mark.parametrize(
    "mirrors, error, text",
    [
        ([], ValueError, "at least one mirror"),
        ([b"http://127.0.0.1/"], TypeError, "sequence of base-URL strings"),
        (42, TypeError, "sequence of base-URL strings"),
    ],
)
def test_load_mnist_validates_mirrors(env, mirrors, error, text):
    with pytest.raises(error, match=text):
        load_mnist("test", root=env / "data", mirrors=mirrors)

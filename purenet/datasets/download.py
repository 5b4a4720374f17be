"""Download one file from a list of mirrors, verified by SHA-256, written atomically.

    >>> import os, tempfile
    >>> dest = os.path.join(tempfile.mkdtemp(), "data.gz")
    >>> try:
    ...     download_file(["ftp://mirror.invalid/data.gz"], dest, "ab" * 32)
    ... except DatasetError as e:
    ...     print(e)
    cannot download data.gz: expected SHA-256 abababababababababababababababababababababababababababababababab from one of 1 URL. Received:
      ftp://mirror.invalid/data.gz: not tried (only http:// and https:// URLs are fetched)
    >>> os.listdir(os.path.dirname(dest))   # nothing was written, no temp file left
    []

What this module is for: :func:`download_file`, which tries each URL in
order, streams the body into a temporary file beside the destination while
hashing it, rejects a transfer that is truncated (shorter than its
``Content-Length``), oversized or whose SHA-256 differs, moves on to the next
URL, and only when a transfer checks out renames it onto the destination
with ``os.replace``. A file at the destination is therefore always complete
and verified; a failed or interrupted download leaves nothing behind (and
an older file at the destination untouched, and no directory it created).

What it is not: a general HTTP client. Only ``http://`` and ``https://``
URLs are fetched (redirects to any other scheme are refused), there are no
retries of the same URL and no resuming; which files to fetch from where is
decided by ``mnist.py``. Importing it does no network or file I/O.
"""

import hashlib
import os
import tempfile
from typing import Callable, List, Optional, Sequence, Union

from purenet.errors import DatasetError

__all__ = ["download_file", "sha256_file"]

ProgressCallback = Callable[[int, Optional[int]], None]

DEFAULT_TIMEOUT = 30.0  # seconds, per blocking socket operation (connect, each read)
# With neither an expected size nor a Content-Length, stop reading here.
MAX_UNKNOWN_SIZE = 1 << 30
_CHUNK = 1 << 16
_SCHEMES = ("http", "https")
_USER_AGENT = "purenet (Python urllib)"


class _LocalWriteError(Exception):
    """Writing the temporary file failed: no other mirror can fix that."""


class _CallbackError(Exception):
    """The progress callback raised: stop and re-raise its exception."""


def download_file(
    urls: Union[str, Sequence[str]],
    dest: Union[str, "os.PathLike[str]"],
    sha256: str,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Optional[ProgressCallback] = None,
    size: Optional[int] = None,
) -> str:
    """Fetch ``dest`` from the first of ``urls`` that serves the right bytes.

    Args:
        urls: the URLs to try, in order (a single string is one URL). Only
            ``http://`` and ``https://`` are fetched; any other URL is
            recorded as failed without being opened.
        dest: where the file goes; its directory is created if needed.
        sha256: the expected SHA-256 digest, 64 hex digits.
        timeout: seconds allowed for connecting and for each read.
        progress: called as ``progress(done_bytes, total_bytes)`` after each
            chunk; ``total_bytes`` is ``size``, else the server's
            ``Content-Length``, else ``None``. It starts again from 0 when a
            URL fails and the next one is tried.
        size: the expected size in bytes, if known: a server announcing
            another ``Content-Length`` is rejected before the body is read,
            and no more than ``size`` bytes are ever read or written.

    Returns:
        ``dest`` as a string, now a complete file with the expected digest.

    Raises:
        DatasetError: no URL served the file (each URL is listed with why it
            failed: HTTP status, connection error, truncated, oversized,
            wrong SHA-256, unsupported scheme), or the destination directory
            cannot be written. Nothing is left at ``dest`` that was not
            there before: no temporary file, no directory it created.
        ValueError: ``urls`` is empty, ``sha256`` is not 64 hex digits or
            ``size`` is negative.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list or not all(isinstance(u, str) for u in url_list):
        raise ValueError(f"download_file expected a non-empty list of URL strings. Received: {urls!r}")
    expected = sha256.lower() if isinstance(sha256, str) else sha256
    if not isinstance(expected, str) or len(expected) != 64 or not all(c in "0123456789abcdef" for c in expected):
        raise ValueError(f"download_file expected sha256 as 64 hex digits. Received: {sha256!r}")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValueError(f"download_file expected size as a non-negative int or None. Received: {size!r}")
    dest = os.path.abspath(os.fspath(dest))
    name = os.path.basename(dest)
    directory = os.path.dirname(dest)

    created = _missing_dirs(directory)  # removed again if the download fails
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + name + ".", suffix=".part")
    except OSError as exc:
        _remove_empty(created)
        raise DatasetError(
            f"cannot download {name}: expected a writable directory {directory}. Received: {exc}"
        ) from exc

    failures: List[str] = []
    renamed = False
    try:
        with os.fdopen(fd, "w+b") as f:
            opener = None
            for url in url_list:
                scheme = url.split(":", 1)[0].lower() if ":" in url else ""
                if scheme not in _SCHEMES:
                    failures.append(f"{url}: not tried (only http:// and https:// URLs are fetched)")
                    continue
                if opener is None:
                    opener = _opener()
                f.seek(0)
                f.truncate()
                why = _fetch(opener, url, f, expected, size, timeout, progress)
                if why is None:
                    f.flush()
                    os.fsync(f.fileno())
                    break
                failures.append(f"{url}: {why}")
            else:
                want = f"{size} bytes with " if size is not None else ""
                raise DatasetError(
                    f"cannot download {name}: expected {want}SHA-256 {expected} from one of "
                    f"{len(url_list)} URL{'s' if len(url_list) != 1 else ''}. Received:\n  "
                    + "\n  ".join(failures)
                )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data files are shareable
        os.replace(tmp, dest)
        renamed = True
    except _CallbackError as exc:
        raise exc.args[0]
    except _LocalWriteError as exc:
        raise DatasetError(
            f"cannot download {name}: expected to write it in {directory}. Received: {exc.args[0]}"
        ) from exc.args[0]
    except OSError as exc:  # fsync, chmod or rename of the finished file
        raise DatasetError(
            f"cannot download {name}: expected to write it in {directory}. Received: {exc}"
        ) from exc
    finally:
        if not renamed:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            _remove_empty(created)
    return dest


def sha256_file(path: Union[str, "os.PathLike[str]"]) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _missing_dirs(directory: str) -> List[str]:
    """The directories ``os.makedirs(directory)`` would create, deepest first."""
    missing = []
    while directory and not os.path.exists(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return missing


def _remove_empty(directories: List[str]) -> None:
    for directory in directories:  # deepest first; stops at the first that is not empty
        try:
            os.rmdir(directory)
        except OSError:
            return


def _opener():
    """An opener that follows redirects only to http and https URLs."""
    import urllib.error
    import urllib.request

    class HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if newurl.split(":", 1)[0].lower() not in _SCHEMES:
                why = f"{msg} - refused redirect to url {newurl!r} (only http and https are fetched)"
                raise urllib.error.HTTPError(req.full_url, code, why, headers, fp)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(HttpOnlyRedirects)


def _fetch(opener, url, f, expected, size, timeout, progress) -> Optional[str]:
    """Stream ``url`` into ``f``; return None on success, else why it failed."""
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    done = 0
    length = None
    try:
        with opener.open(request, timeout=timeout) as response:
            length = _content_length(response)
            if size is not None and length is not None and length != size:
                return f"wrong size: the server announced {length} bytes, expected {size}"
            total = size if size is not None else length
            cap = total if total is not None else MAX_UNKNOWN_SIZE
            while True:
                chunk = response.read(min(_CHUNK, cap + 1 - done))
                if not chunk:
                    break
                done += len(chunk)
                if done > cap:
                    return f"oversized: more than {cap} bytes"
                digest.update(chunk)
                try:
                    f.write(chunk)
                except OSError as exc:
                    raise _LocalWriteError(exc) from exc
                if progress is not None:
                    try:
                        progress(done, total)
                    except BaseException as exc:
                        raise _CallbackError(exc) from exc
    except http.client.IncompleteRead as exc:
        done += len(exc.partial)
        return _truncated(done, length if length is not None else size)
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"cannot connect ({exc.reason})"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"transfer failed after {done} bytes ({type(exc).__name__}: {exc})"
    if length is not None and done < length:
        return _truncated(done, length)
    if size is not None and done < size:
        return _truncated(done, size)
    actual = digest.hexdigest()
    if actual != expected:
        return f"corrupt: SHA-256 {actual}, expected {expected}"
    return None


def _truncated(done: int, total: Optional[int]) -> str:
    of = f" of {total}" if total is not None else ""
    return f"truncated: the connection closed after {done}{of} bytes"


def _content_length(response) -> Optional[int]:
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None

"""Write a file atomically: readers see the old file or the new one, never half of either.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> write_atomic(path, b"hello")
    >>> open(path, "rb").read()
    b'hello'

The bytes go to a temporary file in the target's own directory (a rename is
only atomic within one file system), which is flushed and ``fsync``-ed before
``os.replace`` puts it in place; the directory is then synced too, where the
platform allows, so the rename itself survives a power cut. A failure or a
Ctrl-C part-way removes the temporary file and leaves the old one untouched.
A kill that cannot be caught (SIGKILL, a power cut) leaves the old file
untouched too, and may leave the temporary file, ``.NAME.<random>.tmp``, behind:
it is harmless (nothing reads it, the next write picks a new name) and can be
deleted (tests/test_faults.py kills training in the middle of checkpoint writes).

What this is not: a lock. Two processes writing the same path both succeed,
and the last rename wins.
"""

import os
from typing import Iterable, Union

__all__ = ["write_atomic"]

PathLike = Union[str, "os.PathLike[str]"]


def write_atomic(path: PathLike, data: Union[bytes, Iterable[bytes]]) -> None:
    """Replace ``path`` with ``data`` (bytes, or an iterable of byte chunks) atomically.

    ``OSError`` (no such directory, no permission, disk full) propagates
    unchanged, after the temporary file is removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    fd, tmp = _create_temp(directory, base)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # includes KeyboardInterrupt: never leave the temporary file behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _create_temp(directory: str, base: str):
    """A new file next to the target, created with the usual permissions (0o666 minus the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        # os.urandom, not the random module: saving must not touch any generator's state
        tmp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {os.path.join(directory, base)!r}")


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Writing files so that a reader never sees half of one, with the modes the user expects."""
from __future__ import annotations

import errno
import hashlib
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import Location, ToolError

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFull(ToolError):
    """A write failed for want of room; what was written before is whole and kept."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"the disk is full: {Location(path)} could not be written ({reason}). "
                         "Nothing was left half-written: the files built and cached before are kept. "
                         "Free some space and build again.")


@lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the user's umask (0644 under the usual 022)."""
    return 0o666 & ~_umask()


def write_atomic(path: Path, data: bytes | str, mode: int | None = None, durable: bool = True) -> None:
    """Write to a temporary file beside `path`, flush it to disk, rename it into place:
    an interrupted write (Ctrl-C, kill -9, a full disk) leaves the old file, or none.
    The file gets the umask's mode (a temporary file starts private, 0600). Not `durable`:
    not flushed to the disk first (a file made again whenever it is not right, written on
    every save: after a crash of the system, it may be empty until then)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        if exc.errno in _FULL:
            raise DiskFull(path, exc.strerror or str(exc)) from None
        raise
    try:
        with os.fdopen(handle, "wb") as out:
            _chmod(out.fileno(), temporary, file_mode() if mode is None else mode)
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _FULL:
            raise DiskFull(path, exc.strerror or str(exc)) from None
        raise


def _chmod(handle: int, path: str, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(handle, mode)
    else:  # pragma: no cover (Windows: only read-only can be set)
        os.chmod(path, mode)


def write_private(path: Path, data: str) -> None:
    """A file only its owner may read (it holds a secret), written whole."""
    write_atomic(path, data, mode=0o600)


def write_if_changed(path: Path, data: bytes | str, durable: bool = True) -> bool:
    """`write_atomic` unless the file already holds exactly `data`; say whether it wrote."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if path.stat().st_size == len(raw) and path.read_bytes() == raw:
            return False
    except OSError:
        pass
    write_atomic(path, raw, durable=durable)
    return True


def copy_if_changed(source: Path, target: Path) -> bool:
    """Copy `source` to `target` (atomically, umask's mode) unless it is already there,
    judged by size and modification time; say whether it copied."""
    stat = source.stat()
    try:
        current = target.stat()
        if current.st_size == stat.st_size and current.st_mtime_ns == stat.st_mtime_ns:
            return False
    except OSError:
        pass
    write_atomic(target, source.read_bytes())
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return True


@dataclass(frozen=True)
class Stamp:
    """A hash of what an output is made from. Recorded in a stamp file when the output is
    written; while it matches and the output exists, the output need not be made again."""
    digest: str

    @classmethod
    def of(cls, *parts: str | bytes | Path) -> "Stamp":
        """Paths count by their content (a missing file counts as its name)."""
        digest = hashlib.sha256()
        for part in parts:
            data = part.read_bytes() if isinstance(part, Path) and part.exists() else \
                part if isinstance(part, bytes) else str(part).encode()
            digest.update(hashlib.sha256(data).digest())
        return cls(digest.hexdigest())

    def matches(self, output: Path, stamp_file: Path) -> bool:
        try:
            return output.exists() and stamp_file.read_text() == self.digest
        except OSError:
            return False

    def record(self, stamp_file: Path) -> None:
        write_atomic(stamp_file, self.digest)


@contextmanager
def file_lock(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (made if missing, never written), waiting for the
    process that holds it (`waiting` is called first when it must wait). It goes with its
    process however that ends: fcntl's flock, or msvcrt's locking on Windows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if not _try_lock(handle):
            if waiting is not None:
                waiting()
            _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)


if sys.platform == "win32":  # (tests/test_portability.py imports it so)
    import msvcrt

    def _try_lock(handle: BinaryIO) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _lock(handle: BinaryIO) -> None:
        while not _try_lock(handle):
            import time

            time.sleep(0.2)

    def _unlock(handle: BinaryIO) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(handle: BinaryIO) -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _lock(handle: BinaryIO) -> None:
        fcntl.flock(handle, fcntl.LOCK_EX)

    def _unlock(handle: BinaryIO) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def build_lock(build_dir: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """One build of a course at a time (builds, the watcher's rebuilds, publish, clean):
    a second one waits, saying for what. The lock goes with its process, however it ends,
    and taking it writes nothing."""
    path = build_dir / ".lock"
    with file_lock(path, lambda: waiting(f"waiting for {_holder(path)} to finish ...")):
        yield


def _holder(lock: Path) -> str:
    """Which process holds the lock, and since when (it has the file open)."""
    import psutil

    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if process.pid != os.getpid() and any(f.path == str(lock) for f in process.open_files()):
                since = datetime.fromtimestamp(process.info["create_time"]).strftime("%H:%M:%S")
                return f"the build running since {since} (process {process.pid})"
        except psutil.Error:
            continue
    return "the build running"

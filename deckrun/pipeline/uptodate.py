"""Is a whole build already done? A fingerprint of everything a build reads and writes
(the course's files, the outputs, the cache's records, deckrun itself, the installed
packages, the options), taken after a build that succeeded without a warning: while it
matches, nothing can have changed, and the build stops before importing anything heavy
(the way make and ninja skip a target whose inputs are older than it).

Kept in build/.stamps/uptodate-<options>. Anything a fingerprint misses is a change to
something outside the course; `--refresh` or any edit in the course makes a full build.
"""
from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path

from ..core.project import GENERATED

_DECKRUN = Path(__file__).resolve().parents[1]  # the package: every stage of it


def _stats(folder: Path, recursive: bool = True, hidden: bool = True) -> list[str]:
    """Every file's path, size and time under `folder` (what tools made left out; with
    `hidden` false, names starting with a dot too: the build's own stamps, locks, caches)."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not hidden and entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            if recursive and entry.name not in GENERATED:
                found += _stats(Path(entry.path), hidden=hidden)
        elif entry.is_file():
            stat = entry.stat()
            found.append(f"{entry.path} {stat.st_size} {stat.st_mtime_ns}")
    return found


def fingerprint(root: Path, options: str) -> str:
    parts = [options, sys.version, os.environ.get("CHROME_PATH", "")]
    parts += _stats(root)                                   # the course's sources
    parts += _stats(root / "build", hidden=False)           # the outputs (decks in folders too)
    parts += _stats(root / "_freeze" / "decks")             # the cache's records of the decks
    parts += _stats(_DECKRUN)                               # deckrun and its templates
    packages = Path(sysconfig.get_paths()["purelib"])
    parts.append(f"{packages} {packages.stat().st_mtime_ns}")  # an install or upgrade changes it
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def _record_file(root: Path, options: str) -> Path:
    return root / "build" / ".stamps" / f"uptodate-{hashlib.sha256(options.encode()).hexdigest()[:16]}"


def nothing_changed(root: Path, options: str) -> bool:
    try:
        return _record_file(root, options).read_text() == fingerprint(root, options)
    except OSError:
        return False


def record(root: Path, options: str) -> None:
    """After a build that did all it had to, without a warning."""
    from ..core.files import write_atomic

    write_atomic(_record_file(root, options), fingerprint(root, options))

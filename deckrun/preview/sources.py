"""File events under a course, turned into what changed: the saves a watcher rebuilds
for (a burst of an editor's events gathered into one), and the decks they affect."""
from __future__ import annotations

import os
import queue
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..core.project import COURSE_FILE, GENERATED, Project

# How a save ends, as editors write (inotify): in place (VS Code, Vim's default, `>`): opened,
# truncated, written, closed; by renaming a new file over it (JetBrains, Emacs, Vim with
# `backupcopy=no`, `sed -i`): a file written and closed elsewhere, then moved to its name
# within a millisecond. A path closed after writing, or moved into place, is complete: the
# build starts once GRACE passes with no other event (the rename that follows a close).
# Where the system says neither (FSEvents, Windows), DEBOUNCE seconds of quiet end a save.
DEBOUNCE = 0.03
GRACE = 0.001
QUIT, RESTART, WRITTEN = "quit", "restart", "written"
# Editors' own files: backups, swap and lock files, and the new file a save renames into place
# (JetBrains' NAME___jb_tmp___, sed -i's sedXXXXXX, Vim's 4913, a test of the folder).
_EDITORS_OWN = re.compile(r"^\.|~$|\.(swp|tmp|part)$|___jb_(tmp|old)___$|^sed[A-Za-z0-9]{6}$|^4913$")


class SourceWatcher(FileSystemEventHandler):
    """File events under the course become changed paths in `inbox` (build output,
    virtual environments, editors' temporary files are ignored)."""

    def __init__(self, root: Path, inbox: queue.Queue[Any]) -> None:
        self.root, self.inbox = root, inbox
        self.observer = Observer()
        self._watched: dict[Path, bool] = {}  # folder -> recursive

    def watch(self, folders: Iterable[Path], recursive: bool) -> None:
        for folder in folders:
            if folder.is_dir() and folder not in self._watched and not any(
                    folder.is_relative_to(w) for w, deep in self._watched.items() if deep):
                self.observer.schedule(self, str(folder), recursive=recursive)
                self._watched[folder] = recursive

    def stop(self) -> None:
        """No more events (if it was started)."""
        if self.observer.is_alive():
            self.observer.stop()
            self.observer.join(timeout=5)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        found = [Path(os.fsdecode(raw)) for raw in (event.src_path, getattr(event, "dest_path", "")) if raw]
        for path in filter(self._relevant, found):
            self.inbox.put(path.resolve())
        if event.event_type in ("closed", "moved") and self._relevant(found[-1]):
            self.inbox.put(WRITTEN)

    def _relevant(self, path: Path) -> bool:
        try:
            parts = path.resolve().relative_to(self.root).parts
        except ValueError:
            return False
        return bool(parts) and not (GENERATED & set(parts)) and not _EDITORS_OWN.search(parts[-1])


def next_batch(inbox: queue.Queue[Any]) -> set[Path] | str:
    """The next save (its events, until GRACE of quiet once one says it is complete, else
    DEBOUNCE of quiet), or a command."""
    batch = {inbox.get()}
    while True:
        try:
            batch.add(inbox.get(timeout=GRACE if WRITTEN in batch else DEBOUNCE))
        except queue.Empty:
            break
    for command in (QUIT, RESTART):
        if command in batch:
            return command
    return {item for item in batch if isinstance(item, Path)}


def affected_decks(project: Project, decks: list[Path], depends_on: dict[Path, set[Path]],
                   in_error: set[Path], changed: set[Path]) -> list[Path]:
    """The decks a set of changed files can change: those that use one of the files, and
    all of them for course.yaml, a theme, a template or an image under slides/. A deck in
    error may not know what it depends on (a broken partial): it is always retried."""
    def shared(path: Path) -> bool:
        return path == project.root / COURSE_FILE or any(
            path.is_relative_to(folder) for folder in (project.themes_dir, project.templates_dir)) \
            or (path.is_relative_to(project.slides_dir) and path.suffix != ".md")

    if any(shared(path) for path in changed):
        return decks
    return [deck for deck in decks if deck in in_error or depends_on.get(deck, {deck}) & changed]


def read_commands(inbox: queue.Queue[Any]) -> None:
    for line in sys.stdin:
        command = line.strip().lower()
        if command in ("r", "restart"):
            inbox.put(RESTART)
        elif command in ("q", "quit", "exit"):
            inbox.put(QUIT)
            return

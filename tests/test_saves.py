"""A save as the watcher hears it (inotify, through watchdog): an editor's save is complete
when the file is closed after writing or moved into place, whichever way the editor
writes, and the watcher builds then, not after a pause; other events wait for quiet."""
from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import pytest

from deckrun.preview.sources import DEBOUNCE, WRITTEN, SourceWatcher, next_batch

TEXT = "---\nmarp: true\n---\n\n# A deck\n\nSaved " + "at length. " * 2000 + "\n"


def in_place(path: Path) -> None:  # VS Code, Vim's default
    path.write_text(TEXT)


def renamed_over(path: Path) -> None:  # Emacs, and as sed -i names its file
    temporary = path.with_name("sedR4nd0m")
    temporary.write_text(TEXT)
    os.replace(temporary, path)


def jetbrains_safe_write(path: Path) -> None:
    temporary = path.with_name(f"{path.name}___jb_tmp___")
    temporary.write_text(TEXT)
    os.replace(path, path.with_name(f"{path.name}___jb_old___"))
    os.replace(temporary, path)
    path.with_name(f"{path.name}___jb_old___").unlink()


def backup_then_new(path: Path) -> None:  # Vim with backupcopy=no: the old file moved aside
    os.replace(path, path.with_name(path.name + "~"))
    path.write_text(TEXT)
    path.with_name(path.name + "~").unlink()


@pytest.mark.parametrize("save", [in_place, renamed_over, jetbrains_safe_write, backup_then_new])
def test_an_editors_save_is_whole_when_the_watcher_hears_it_is_done(tmp_path, save):
    root = tmp_path.resolve()
    deck = root / "slides" / "deck.md"
    deck.parent.mkdir()
    deck.write_text("# Before\n")
    inbox: queue.Queue = queue.Queue()
    watcher = SourceWatcher(root, inbox)
    watcher.watch([deck.parent], recursive=True)
    watcher.observer.start()
    try:
        time.sleep(0.2)
        save(deck)
        deadline = time.monotonic() + 10
        heard = []
        while WRITTEN not in heard and time.monotonic() < deadline:
            try:
                heard.append(inbox.get(timeout=1))
            except queue.Empty:
                continue
        assert WRITTEN in heard, heard
        assert deck in heard and deck.read_text() == TEXT  # complete when it was said to be
        assert {item for item in heard if item != WRITTEN} == {deck}  # (the editors' own files are not news)
    finally:
        watcher.stop()


def test_a_batch_ends_when_a_save_is_done_else_after_quiet(tmp_path):
    inbox: queue.Queue = queue.Queue()
    first, second, late = tmp_path / "a.md", tmp_path / "b.md", tmp_path / "c.md"
    for item in (first, WRITTEN, second):
        inbox.put(item)
    threading.Timer(DEBOUNCE, inbox.put, args=(late,)).start()
    assert next_batch(inbox) == {first, second}  # done: what came with it, not what comes after GRACE
    assert next_batch(inbox) == {late}           # no end said: quiet ends it

    inbox.put(first)
    threading.Timer(DEBOUNCE / 3, inbox.put, args=(second,)).start()
    assert next_batch(inbox) == {first, second}  # events of one save, ms apart

"""`deckrun watch`: build, serve build/ with live updates, rebuild what each save affects.

Its parts, each complete when made and wired here (as marp-cli wires its watcher): the
PreviewBuilder (builder.py: decks built with warm kernels and a loaded Marp CLI, the pages
told), the SlideChecker (checker.py: rebuilt slides looked at in the background), the
SourceWatcher (sources.py: file events into changed paths), served by serving.py (the
server, the preview's file for editors, Ctrl-C, teardown). The watcher only turns file
events into builds.

Kernels stay warm between rebuilds (a changed cell reruns in the kernel that already
holds the earlier cells' state and the imported libraries); prose edits run no code.
Mistakes never stop the watcher: the page shows the error over the last good deck.
Commands on the terminal: `r` + Enter restarts the kernels, `q` + Enter (or Ctrl-C) quits.
"""
from __future__ import annotations

import io
import queue
import threading
import time
from pathlib import Path
from typing import Any

from ..core.errors import Location
from ..core.options import FORMATS, BuildOptions
from ..core.progress import Progress
from ..core.project import Project
from ..pipeline.build import summarize
from .builder import PreviewBuilder
from .checker import SlideChecker
from .server import Broadcast, Extras
from .serving import serve
from .sources import QUIT, RESTART, SourceWatcher, next_batch, read_commands


class Watch:
    """The watch command's side of the served preview (see serving.Preview)."""

    def __init__(self, project: Project, targets: list[Path], options: BuildOptions, progress: Progress) -> None:
        self.project = project
        self.events = Broadcast()
        self.checker = SlideChecker(project, progress, self.events.deck_warnings)
        self.builder = PreviewBuilder(project, targets, options, self.events, progress, on_rebuilt=self.checker.submit)
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.sources = SourceWatcher(project.root, self.inbox)

    def prepare(self) -> None:
        self.project.build_dir.mkdir(parents=True, exist_ok=True)
        self.builder.rebuild(self.builder.decks())
        deep, flat = self.builder.folders()
        self.sources.watch(deep, recursive=True)
        self.sources.watch(flat, recursive=False)
        self.sources.observer.start()

    def extras(self) -> Extras | None:
        return None

    def make_pdf(self, deck: str) -> Path | None:
        return self.builder.make_pdf(deck)

    def goto(self, file: str, line: int) -> bool:
        return self.builder.goto(file, line)

    def build(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """A build command's decks (`decks`, none: every one; `formats`, `strict`, `frozen`)
        built here, with the kernels and the Marp CLI already warm, and the pages told;
        None when its cells would run elsewhere than here (another `gateway`)."""
        formats = tuple(request.get("formats") or ())
        if request.get("gateway") != self.builder.options.gateway or not formats or \
                any(fmt not in FORMATS for fmt in formats):
            return None
        decks = [Path(deck) for deck in request.get("decks") or ()] or self.project.decks()
        out, err = io.StringIO(), io.StringIO()
        progress = Progress(out, err)
        started = time.monotonic()
        reports = self.builder.rebuild(decks, BuildOptions(formats, bool(request.get("strict")),
                                                           bool(request.get("frozen"))), progress)
        code = summarize(reports, progress, time.monotonic() - started) if reports else 1
        return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "warnings": progress.warnings}

    def announce(self, url: str) -> str:
        return (f"Serving {Location(self.project.build_dir)} at {url}  "
                "(r + Enter: restart kernels, q + Enter or Ctrl-C: quit)")

    def first_page(self, url: str) -> str:
        return url  # (the index of the decks)

    def run(self) -> None:
        """Turn saves into rebuilds (and the terminal's commands into restarts) until quit."""
        threading.Thread(target=read_commands, args=(self.inbox,), daemon=True).start()
        while (batch := next_batch(self.inbox)) != QUIT:
            if batch == RESTART:
                self.builder.restart_kernels()
            elif isinstance(batch, set) and (decks := self.builder.affected(batch)):
                self.builder.rebuild(decks)
                self.sources.watch(self.builder.folders()[1], recursive=False)  # a cell may read new files

    def close(self) -> None:
        self.sources.stop()
        self.checker.close()
        self.builder.close()


def watch(project: Project, targets: list[Path], options: BuildOptions, port: int, open_browser: bool,
          progress: Progress) -> int:
    return serve(project, Watch(project, targets, options, progress), port, open_browser, progress)

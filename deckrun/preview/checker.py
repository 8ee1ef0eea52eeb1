"""The rebuilt decks' slides looked at in the browser while the lecturer edits: in a
thread of its own, with its own browser at a low priority, after a pause in the saves."""
from __future__ import annotations

import threading
import time
from typing import Callable

from ..core.errors import ToolError
from ..core.progress import Progress
from ..core.project import Project
from ..pipeline.build import DeckReport
from ..render.marp import MarpWorker


class SlideChecker:
    """Looks at rebuilt decks for slides that overflow, in a thread of its own with its own
    browser at a low priority, so that a check never delays the next save's reload.
    Laying out a deck takes the browser about half a second of a core, so it waits for a
    pause in the saves; a deck rebuilt again before its check started is checked once."""

    PAUSE = 2.0  # seconds without a rebuild before checking

    def __init__(self, project: Project, progress: Progress,
                 on_checked: Callable[[str, list[str]], None]) -> None:
        self.project, self.progress, self.on_checked = project, progress, on_checked
        self._waiting: dict[str, DeckReport] = {}
        self._due = 0.0  # monotonic time after which the waiting decks are checked
        self._ready = threading.Condition()
        self._closed = False
        self._marp: MarpWorker | None = None
        self._thread = threading.Thread(target=self._run, name="slide-checker", daemon=True)
        self._thread.start()

    def submit(self, reports: list[DeckReport]) -> None:
        with self._ready:
            self._waiting.update({r.built.deck.name: r for r in reports if r.built is not None})
            self._due = time.monotonic() + self.PAUSE
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=5)
        if self._marp is not None:
            self._marp.close()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._closed and (not self._waiting or time.monotonic() < self._due):
                    self._ready.wait(timeout=max(self._due - time.monotonic(), 0) if self._waiting else None)
                if self._closed:
                    return
                name = next(iter(self._waiting))
                report = self._waiting.pop(name)
            self.on_checked(name, self._findings(report) + report.warnings)

    def _findings(self, report: DeckReport) -> list[str]:
        from ..render.check import check_deck

        assert report.built is not None
        try:
            self._marp = self._marp or MarpWorker(self.project.root, background=True)
            findings = check_deck(self._marp, report.built.deck,
                                  self.project.build_dir / f"{report.built.deck.name}.html", accessibility=False)
        except ToolError as exc:
            return [f"could not check the slides: {exc}"]
        for finding in findings:
            self.progress.warn(str(finding))
        return [str(f) for f in findings]

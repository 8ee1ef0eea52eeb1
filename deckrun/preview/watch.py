"""`build.py watch`: build, serve build/ with live reload, rebuild what each save affects.

Four parts, wired by `watch()` at the bottom (as marp-cli's watcher is), each complete
when made and made in the order they need each other:
  Broadcast       (server.py) what every open page is told: reloads, errors, warnings
  PreviewBuilder  builds decks with warm kernels and a loaded Marp CLI; remembers what
                  each deck depends on and which are in error; tells the pages
  SlideChecker    looks at rebuilt decks in the browser, in the background
  PreviewServer   (server.py) serves build/ and the broadcast; builds a PDF on request
and SourceWatcher, which turns file events into changed paths for the loop in watch().

Kernels stay warm between rebuilds (a changed cell reruns in the kernel that already
holds the earlier cells' state and the imported libraries); prose edits run no code.
Mistakes never stop the watcher: the page shows the error over the last good deck.
Commands on the terminal: `r` + Enter restarts the kernels, `q` + Enter (or Ctrl-C) quits.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..core.errors import DeckError, Location, ToolError
from ..core.files import build_lock, write_private
from ..core.options import BuildOptions
from ..core.progress import Progress
from ..core.project import COURSE_FILE, GENERATED, Project, load_project
from ..execute.connection import KernelDied
from ..execute.execution import Execution
from ..execute.warm import KernelPool
from ..pipeline.build import DeckReport, Session, Variant, build_decks, render_pending, render_variant, updating_results
from ..render.marp import MarpWorker, kill_tree
from ..render.check import slide_locations
from ..source.deck import MARKER, Deck
from ..source.slides import parse_slides
from .server import Broadcast, PreviewServer

DEBOUNCE = 0.03  # seconds of quiet after a save before rebuilding (an editor's save: events ms apart)
PREVIEW_FILE = ".preview.json"  # in build/: where a running preview is, and its token (for `goto`)
QUIT, RESTART = "quit", "restart"


class SourceWatcher(FileSystemEventHandler):
    """File events under the course become changed paths in `inbox` (build output,
    virtual environments, editors' temporary files are ignored)."""

    def __init__(self, root: Path, inbox: queue.Queue) -> None:
        self.root, self.inbox = root, inbox
        self.observer = Observer()
        self._watched: dict[Path, bool] = {}  # folder -> recursive

    def watch(self, folders: Iterable[Path], recursive: bool) -> None:
        for folder in folders:
            if folder.is_dir() and folder not in self._watched and not any(
                    folder.is_relative_to(w) for w, deep in self._watched.items() if deep):
                self.observer.schedule(self, str(folder), recursive=recursive)
                self._watched[folder] = recursive

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw and self._relevant(Path(os.fsdecode(raw))):
                self.inbox.put(Path(os.fsdecode(raw)).resolve())

    def _relevant(self, path: Path) -> bool:
        try:
            parts = path.resolve().relative_to(self.root).parts
        except ValueError:
            return False
        name = parts[-1] if parts else ""
        return bool(parts) and not (GENERATED & set(parts)) and not (
            name.startswith(".") or name.endswith(("~", ".swp", ".tmp", ".part")))


def next_batch(inbox: queue.Queue) -> set[Path] | str:
    """The next save (a burst of events, gathered until DEBOUNCE of quiet), or a command."""
    batch = {inbox.get()}
    while True:
        try:
            batch.add(inbox.get(timeout=DEBOUNCE))
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


class PreviewBuilder:
    """Builds decks for the preview (its own session: warm kernels, a loaded Marp CLI);
    remembers what each deck depends on and which are in error; tells the pages through
    `events`, and `on_rebuilt` the reports of the decks that built (to check them)."""

    def __init__(self, project: Project, targets: list[Path], options: BuildOptions, events: Broadcast,
                 progress: Progress, on_rebuilt: Callable[[list[DeckReport]], None]) -> None:
        self.project, self.targets, self.options = project, targets, options  # targets: none = every deck
        self.events, self.progress, self.on_rebuilt = events, progress, on_rebuilt
        self.session = Session.open(project, options, progress, kernels=KernelPool(keep_warm=True),
                                    marp=MarpWorker(project.root), first_done=self.show_first, cell_events=events)
        self.depends_on: dict[Path, set[Path]] = {}
        self.built: dict[str, Deck] = {}  # the decks as last built, by name (for goto)
        self.errors: dict[str, str] = {}
        self.lock = threading.Lock()  # saves and PDF requests

    def decks(self) -> list[Path]:
        return self.targets or self.project.decks()

    def folders(self) -> tuple[list[Path], list[Path]]:
        """What to watch: the course's source folders (recursively), and the root
        (course.yaml) and the folders of files cells read (not recursively)."""
        project = self.project
        deep = [project.slides_dir, project.snippets_dir, project.themes_dir,
                project.templates_dir, project.root / "data"]
        flat = {project.root} | {p.parent for deps in self.depends_on.values() for p in deps}
        return deep, sorted(flat)

    def affected(self, changed: set[Path]) -> list[Path]:
        in_error = {deck for deck in self.decks() if self.project.deck_name(deck) in self.errors}
        return affected_decks(self.project, self.decks(), self.depends_on, in_error, changed)

    def rebuild(self, decks: list[Path]) -> list[DeckReport]:
        with self.lock, build_lock(self.project.build_dir, self.progress.note):
            started = time.monotonic()
            try:
                reports = build_decks(decks, self.options, self.session)
                died = [r.deck for r in reports if isinstance(r.error, KernelDied)]
                if died:  # a fresh kernel, and the deck again
                    self.progress.note("kernel died: restarting it and rebuilding")
                    reports = [r for r in reports if r.deck not in died] + build_decks(died, self.options, self.session)
            except DeckError as exc:  # e.g. course.yaml became invalid
                self.errors[""] = str(exc)
                self.events.errors(self.errors)
                self.progress.failed(self.project.root, exc)
                return []
            self.options = replace(self.options, refresh=())  # --refresh: the first build only
            self.errors.pop("", None)
            for report in reports:
                name = self.project.deck_name(report.deck)
                self.depends_on[report.deck] = report.depends_on | {report.deck}
                if report.built is not None:
                    self.built[name] = report.built.deck
                if report.ok:
                    self.errors.pop(name, None)
                else:
                    self.errors[name] = f"{report.error}"
            self.events.errors(self.errors)
            rebuilt = [r for r in reports if r.ok]
            names = [self.project.deck_name(r.deck) for r in rebuilt]
            if rebuilt:
                self.events.reload(names)
            self.progress.note(f"rebuilt {', '.join(names) or 'nothing'} in "
                               f"{time.monotonic() - started:.2f}s"
                               + (f"; {len(reports) - len(rebuilt)} failed" if len(rebuilt) < len(reports) else ""))
            self.on_rebuilt(rebuilt)
            return reports

    def show_first(self, deck: Deck, execution: Execution) -> None:
        """While the cells after an edited one still run: publish the deck with the edited
        cell's new output, the later cells showing their last outputs marked as updating.
        (Not on a deck's first build: there is no page yet to update.)"""
        page = self.project.build_dir / f"{deck.name}.html"
        results = updating_results(self.project, deck, execution)
        if results is None or not page.exists():
            return
        try:
            log = self.progress.deck(deck.path, len(deck.cells), live=False)  # (its lines are not news)
            _, pending = render_variant(deck, results, Variant(deck.name, {"html": page}, marked=True),
                                        self.session, log)
            if any(render_pending(pending, self.session).values()):
                return  # the full rebuild after it says what is wrong
        except (DeckError, ToolError, OSError):
            return
        self.events.reload([deck.name])
        self.progress.note(f"showing {deck.name} with the edited cell's output; the cells after it are still running")

    def goto(self, file: str, line: int) -> bool:
        """Show, in every open page of the decks that show it, the slide holding line
        `line` of `file` (a deck, a partial or a snippet file, from the course folder)."""
        path = (self.project.root / file).resolve()
        found = False
        for name, deck in dict(self.built).items():
            slide = slide_at(deck, path, line)
            if slide is not None:
                self.events.goto(name, slide)
                found = True
        return found

    def restart_kernels(self) -> None:
        self.session.kernels.shutdown()
        self.progress.note("kernels restarted")
        self.rebuild(self.decks())

    def make_pdf(self, deck_name: str) -> Path | None:
        """Build one deck's PDF on request from the page (its cells come from the cache)."""
        deck = next((d for d in self.decks() if self.project.deck_name(d) == deck_name), None)
        if deck is None:
            return None
        with self.lock, build_lock(self.project.build_dir, self.progress.note):
            reports = build_decks([deck], replace(self.options, formats=("pdf",)), self.session)
        pdf = self.project.build_dir / f"{deck_name}.pdf"
        return pdf if reports and reports[0].ok and pdf.exists() else None

    def close(self) -> None:
        self.session.close()


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


def slide_at(deck: Deck, path: Path, line: int) -> int | None:
    """The slide of `deck` that shows line `line` of `path`: of the deck or a partial, the
    last slide starting at or before it; of a snippet file, the slide of the cell whose
    code holds it."""
    starts = [(index, where.line or 0) for index, where in enumerate(slide_locations(deck))
              if where.path.resolve() == path]
    if starts:
        return max((index for index, start in starts if start <= line), default=starts[0][0])
    for index, cell in enumerate(deck.cells):
        lines = range(cell.origin.line or 0, (cell.origin.line or 0) + cell.code.count("\n") + 1)
        if cell.origin.path.resolve() == path and line in lines and not cell.setup:
            marker = MARKER.format(index)
            at = next((n for n, text in enumerate(deck.markdown.split("\n")) if marker in text), None)
            slides = parse_slides(deck.markdown).slides
            return next((s.index for s in slides if at is not None and s.start <= at < s.end), None)
    return None


def read_commands(inbox: queue.Queue) -> None:
    for line in sys.stdin:
        command = line.strip().lower()
        if command in ("r", "restart"):
            inbox.put(RESTART)
        elif command in ("q", "quit", "exit"):
            inbox.put(QUIT)
            return


def kill_tree_children() -> None:
    """Whatever this process started and is still running (Marp, its browser, kernels)."""
    import psutil

    for child in psutil.Process().children():
        kill_tree(child.pid)


def watch(root: Path, targets: list[str], options: BuildOptions, port: int, open_browser: bool,
          progress: Progress) -> int:
    project = load_project(root)
    inbox: queue.Queue = queue.Queue()
    events = Broadcast()
    checker = SlideChecker(project, progress, events.deck_warnings)
    builder = PreviewBuilder(project, [Path(t).resolve() for t in targets], options, events, progress,
                             on_rebuilt=checker.submit)
    try:
        server = PreviewServer(project.build_dir, port, events, builder.make_pdf, builder.goto)
    except OSError as exc:
        builder.close()
        checker.close()
        raise DeckError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror} (choose another with --port)") from None
    sources = SourceWatcher(project.root, inbox)
    # Ctrl-C and kill (SIGTERM) both stop cleanly, even when started in the background
    # (where a shell sets SIGINT to be ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        project.build_dir.mkdir(parents=True, exist_ok=True)
        builder.rebuild(builder.decks())
        deep, flat = builder.folders()
        sources.watch(deep, recursive=True)
        sources.watch(flat, recursive=False)
        sources.observer.start()
        server.start()
        where = project.build_dir / PREVIEW_FILE  # private: it holds the pages' token
        write_private(where, json.dumps({"url": server.url, "token": server.token}))
        progress.note(f"Serving {Location(project.build_dir)} at {server.url}  "
                      "(r + Enter: restart kernels, q + Enter or Ctrl-C: quit)")
        if open_browser:
            webbrowser.open(server.url)
        threading.Thread(target=read_commands, args=(inbox,), daemon=True).start()
        while (batch := next_batch(inbox)) != QUIT:
            if batch == RESTART:
                builder.restart_kernels()
            elif decks := builder.affected(batch):
                builder.rebuild(decks)
                sources.watch(builder.folders()[1], recursive=False)  # a cell may read new files
    except KeyboardInterrupt:
        pass
    finally:
        sources.observer.stop()
        (project.build_dir / PREVIEW_FILE).unlink(missing_ok=True)
        server.stop()
        checker.close()
        builder.close()
        kill_tree_children()
        sources.observer.join(timeout=5)
        progress.note("stopped")
    return 0

"""`build.py watch`: build, serve build/ with live reload, rebuild what each save affects.

Three parts, wired by `watch()` at the bottom (as marp-cli's watcher is):
  SourceWatcher   file events under the course -> changed paths, in an inbox
  PreviewBuilder  builds decks with warm kernels and a loaded Marp CLI; remembers what
                  each deck depends on and which are in error; reports through callbacks
  PreviewServer   (server.py) serves build/, pushes reloads, errors and warnings to pages

Kernels stay warm between rebuilds (a changed cell reruns in the kernel that already
holds the earlier cells' state and the imported libraries); prose edits run no code.
Mistakes never stop the watcher: the page shows the error over the last good deck.
Commands on the terminal: `r` + Enter restarts the kernels, `q` + Enter (or Ctrl-C) quits.
"""
from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..pipeline.build import DeckReport, Tools, build_decks, theme_folder
from ..execute.cache import Cache, CellKey
from ..core.errors import DeckError, Location, ToolError
from ..execute.connection import KernelDied
from ..execute.warm import KernelPool
from ..core.files import build_lock
from ..core.options import BuildOptions
from ..core.progress import Progress
from ..core.project import COURSE_FILE, FREEZE_DIR, Project, load_project
from ..execute.outputs import CellResult, Rich
from ..render.marp import MarpWorker, RenderJob, kill_tree, render
from ..format.rendition import deck_markdown, slides_at_most, write_rendition
from ..execute.execution import Execution
from ..source.deck import Deck
from .server import PreviewServer

DEBOUNCE = 0.15  # seconds of quiet after a save before rebuilding (editors write in bursts)
_IGNORED_PARTS = {"build", FREEZE_DIR, ".git", ".venv", "node_modules", "__pycache__", ".pytest_cache"}
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
        return bool(parts) and not (_IGNORED_PARTS & set(parts)) and not (
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


@dataclass
class PreviewBuilder:
    """Builds decks for the preview and reports through callbacks: `on_built` (names of
    the decks rebuilt), `on_errors` and `on_warnings` (deck name, "" for all -> text),
    `on_rebuilt` (the reports of the decks that built)."""
    project: Project
    targets: list[Path]          # empty: every deck in slides/, including new ones
    options: BuildOptions
    tools: Tools
    on_built: Callable[[list[str]], None]
    on_errors: Callable[[dict[str, str]], None]
    on_warnings: Callable[[dict[str, str]], None]
    on_rebuilt: Callable[[list[DeckReport]], None] = lambda reports: None  # e.g. to check them
    depends_on: dict[Path, set[Path]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)  # saves and PDF requests
    _warnings_lock: threading.Lock = field(default_factory=threading.Lock)

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
        in_error = {deck for deck in self.decks() if deck.stem in self.errors}
        return affected_decks(self.project, self.decks(), self.depends_on, in_error, changed)

    def rebuild(self, decks: list[Path]) -> list[DeckReport]:
        with self.lock, build_lock(self.project.build_dir, self.tools.progress.note):
            started = time.monotonic()
            try:
                reports = build_decks(self.project, decks, self.options, self.tools)
                died = [r.deck for r in reports if isinstance(r.error, KernelDied)]
                if died:  # a fresh kernel, and the deck again
                    print("kernel died: restarting it and rebuilding", flush=True)
                    reports = [r for r in reports if r.deck not in died] + build_decks(
                        self.project, died, self.options, self.tools)
            except DeckError as exc:  # e.g. course.yaml became invalid
                self.errors[""] = str(exc)
                self.on_errors(self.errors)
                self.tools.progress.failed(self.project.root, exc)
                return []
            self.options = replace(self.options, refresh=())  # --refresh: the first build only
            self.errors.pop("", None)
            for report in reports:
                self.depends_on[report.deck] = report.depends_on | {report.deck}
                if report.ok:
                    self.errors.pop(report.deck.stem, None)
                else:
                    self.errors[report.deck.stem] = f"{report.error}"
            self.on_errors(self.errors)
            rebuilt = [r for r in reports if r.ok]
            if rebuilt:
                self.on_built([r.deck.stem for r in rebuilt])
            print(f"rebuilt {', '.join(r.deck.stem for r in rebuilt) or 'nothing'} in "
                  f"{time.monotonic() - started:.2f}s"
                  + (f"; {len(reports) - len(rebuilt)} failed" if len(rebuilt) < len(reports) else ""),
                  flush=True)
            self.on_rebuilt(rebuilt)
            return reports

    def checked(self, deck_name: str, lines: list[str]) -> None:
        """A deck's slides were looked at (in the background): its warnings to the pages."""
        with self._warnings_lock:
            if lines:
                self.warnings[deck_name] = "\n".join(lines)
            else:
                self.warnings.pop(deck_name, None)
            self.on_warnings(dict(self.warnings))

    def show_first(self, deck: Deck, execution: Execution) -> None:
        """While the cells after an edited one still run: publish the deck with the edited
        cell's new output, the later cells showing their last outputs marked as updating.
        (Not on a deck's first build: there is no page yet to update.)"""
        cache = Cache(self.project.root)
        last = {key.code: key for key in cache.manifest(deck.name)}
        page = self.project.build_dir / f"{deck.name}.html"
        if not last or not page.exists():
            return
        results = [result if result is not None else _updating(cache, last.get(key.code))
                   for result, key in zip(execution.results, execution.keys)]
        assert self.tools.assets is not None
        try:
            rendition = write_rendition(self.project, deck, {False: deck_markdown(deck, results, self.project)},
                                        deck.name, self.tools.assets)
            render(self.project.root, RenderJob(rendition.screen, "html", page, slides_at_most(rendition.screen)),
                   theme_folder(self.project, self.tools), self.tools.marp)
        except (DeckError, ToolError, OSError):
            return  # the full rebuild after it says what is wrong
        self.on_built([deck.name])
        print(f"showing {deck.name} with the edited cell's output; the cells after it are still running",
              flush=True)

    def restart_kernels(self) -> None:
        self.tools.kernels.shutdown()
        print("kernels restarted", flush=True)
        self.rebuild(self.decks())

    def make_pdf(self, deck_name: str) -> Path | None:
        """Build one deck's PDF on request from the page (its cells come from the cache)."""
        deck = next((d for d in self.decks() if d.stem == deck_name), None)
        if deck is None:
            return None
        with self.lock, build_lock(self.project.build_dir, self.tools.progress.note):
            reports = build_decks(self.project, [deck], replace(self.options, formats=("pdf",)), self.tools)
        pdf = self.project.build_dir / f"{deck_name}.pdf"
        return pdf if reports and reports[0].ok and pdf.exists() else None


_UPDATING = ('<div style="font:600 16px sans-serif;color:#8a5300;background:#fff4e0;padding:2px 10px;'
             'border-left:4px solid #8a5300">updating: the output of the last run, until this cell has '
             'run again</div>')


def _updating(cache: Cache, last: CellKey | None) -> CellResult:
    """A cell's last output (if the cache still has it), marked as being updated."""
    previous = cache.load(last) if last is not None else None
    outputs = previous.outputs if previous is not None else ()
    return CellResult((Rich({"text/html": _UPDATING}),) + tuple(outputs))


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
            self._waiting.update({r.deck.stem: r for r in reports if r.built is not None})
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
                                  self.project.build_dir / f"{report.deck.stem}.html", accessibility=False)
        except ToolError as exc:
            return [f"could not check the slides: {exc}"]
        for finding in findings:
            self.progress.warn(str(finding))
        return [str(f) for f in findings]


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


def watch(root: Path, targets: list[str], options: BuildOptions, port: int, open_browser: bool) -> int:
    project = load_project(root)
    inbox: queue.Queue = queue.Queue()
    tools = Tools(Progress(), KernelPool(keep_warm=True), MarpWorker(project.root))
    builder: PreviewBuilder
    try:
        server = PreviewServer(project.build_dir, port, lambda name: builder.make_pdf(name))
    except OSError as exc:
        tools.close()
        raise DeckError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror} (choose another with --port)") from None
    builder = PreviewBuilder(project, [Path(t).resolve() for t in targets], options, tools,
                             server.publish_reload, server.publish_errors, server.publish_warnings)
    tools.first_done = builder.show_first
    checker = SlideChecker(project, tools.progress, builder.checked)
    builder.on_rebuilt = checker.submit
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
        print(f"Serving {Location(project.build_dir)} at {server.url}  "
              "(r + Enter: restart kernels, q + Enter or Ctrl-C: quit)", flush=True)
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
        server.stop()
        checker.close()
        tools.close()
        kill_tree_children()
        sources.observer.join(timeout=5)
        print("stopped", flush=True)
    return 0

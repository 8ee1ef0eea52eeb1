"""`build.py watch`: build, serve build/ with live reload, rebuild what each save affects.

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
from dataclasses import replace
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .builder import DeckReport, Tools, build_decks
from .options import BuildOptions
from .cache import FREEZE_DIR
from .errors import DeckError, Location
from .execute import KernelDied, KernelPool
from .progress import Progress
from .project import COURSE_FILE, Project, load_project
from .render import MarpWorker, kill_tree
from .server import PreviewServer

DEBOUNCE = 0.15  # seconds of quiet after a save before rebuilding (editors write in bursts)
_IGNORED_PARTS = {"build", FREEZE_DIR, ".git", ".venv", "node_modules", "__pycache__", ".pytest_cache"}


class _Changes(FileSystemEventHandler):
    def __init__(self, root: Path, inbox: queue.Queue) -> None:
        self.root, self.inbox = root, inbox

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


class Watcher:
    def __init__(self, project: Project, targets: list[Path], options: BuildOptions,
                 port: int, open_browser: bool) -> None:
        self.project = project
        self.targets = targets  # empty: every deck in slides/, including new ones
        self.options = options
        self.inbox: queue.Queue = queue.Queue()
        self.depends_on: dict[Path, set[Path]] = {}
        self.errors: dict[str, str] = {}
        self.lock = threading.Lock()  # one build at a time (saves and PDF requests)
        self.server = PreviewServer(project.build_dir, port, self.make_pdf)  # may fail: port taken
        self.tools = Tools(Progress(), KernelPool(keep_warm=True), MarpWorker(project.root))
        self.open_browser = open_browser
        self.observer = Observer()
        self._handler = _Changes(project.root, self.inbox)
        self._watched: dict[Path, bool] = {}

    def decks(self) -> list[Path]:
        return self.targets or self.project.decks()

    def watch_folders(self) -> None:
        """The course's source folders, the root (course.yaml), and the folders of files
        that cells read; never build/, .venv or node_modules (far too many files)."""
        project = self.project
        recursive = [project.slides_dir, project.snippets_dir, project.themes_dir,
                     project.templates_dir, project.root / "data"]
        flat = {project.root} | {p.parent for deps in self.depends_on.values() for p in deps}
        for folder, deep in [(f, True) for f in recursive] + [(f, False) for f in sorted(flat)]:
            if folder.is_dir() and folder not in self._watched and not any(
                    folder.is_relative_to(w) for w, d in self._watched.items() if d):
                self.observer.schedule(self._handler, str(folder), recursive=deep)
                self._watched[folder] = deep

    def run(self) -> int:
        # Ctrl-C and kill (SIGTERM) both stop cleanly, even when started in the background
        # (where a shell sets SIGINT to be ignored).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            self.project.build_dir.mkdir(parents=True, exist_ok=True)
            self.rebuild(self.decks())
            self.options = replace(self.options, refresh=())  # --refresh: the first build only
            self.watch_folders()
            self.observer.start()
            self.server.start()
            print(f"Serving {Location(self.project.build_dir)} at {self.server.url}  "
                  "(r + Enter: restart kernels, q + Enter or Ctrl-C: quit)", flush=True)
            if self.open_browser:
                webbrowser.open(self.server.url)
            threading.Thread(target=self._read_commands, daemon=True).start()
            self._loop()
        except KeyboardInterrupt:
            pass
        finally:
            self.observer.stop()
            self.server.stop()
            self.tools.close()
            kill_tree_children()
            self.observer.join(timeout=5)
            print("stopped", flush=True)
        return 0

    def _loop(self) -> None:
        while True:
            item = self.inbox.get()
            if item == "quit":
                return
            changed = {item}
            while True:  # debounce: gather the burst of events one save makes
                try:
                    changed.add(self.inbox.get(timeout=DEBOUNCE))
                except queue.Empty:
                    break
            if "quit" in changed:
                return
            if "restart" in changed:
                self.tools.kernels.shutdown()
                print("kernels restarted", flush=True)
                self.rebuild(self.decks())
                continue
            affected = self.affected({c for c in changed if isinstance(c, Path)})
            if affected:
                self.rebuild(affected)
                self.watch_folders()  # a cell may declare new inputs

    def _read_commands(self) -> None:
        for line in sys.stdin:
            command = line.strip().lower()
            if command in ("r", "restart"):
                self.inbox.put("restart")
            elif command in ("q", "quit", "exit"):
                self.inbox.put("quit")
                return

    def affected(self, changed: set[Path]) -> list[Path]:
        """The decks a set of changed files can change: those that use a file, and all of
        them for course.yaml, a theme, a template or an image under slides/."""
        project = self.project

        def shared(path: Path) -> bool:
            return path == project.root / COURSE_FILE or any(
                path.is_relative_to(folder) for folder in (project.themes_dir, project.templates_dir)) \
                or (path.is_relative_to(project.slides_dir) and path.suffix != ".md")

        if any(shared(path) for path in changed):
            return self.decks()
        # A deck in error may not know what it depends on (a broken partial): retry it.
        return [deck for deck in self.decks()
                if deck.stem in self.errors or self.depends_on.get(deck, {deck}) & changed]

    def rebuild(self, decks: list[Path]) -> list[DeckReport]:
        with self.lock:
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
                self.server.publish_errors(self.errors)
                self.tools.progress.failed(self.project.root, exc)
                return []
            self.errors.pop("", None)
            for report in reports:
                self.depends_on[report.deck] = report.depends_on | {report.deck}
                if report.ok:
                    self.errors.pop(report.deck.stem, None)
                else:
                    self.errors[report.deck.stem] = f"{report.error}"
            self.server.publish_errors(self.errors)
            rebuilt = [r.deck.stem for r in reports if r.ok]
            if rebuilt:
                self.server.publish_reload(rebuilt)
            print(f"rebuilt {', '.join(rebuilt) or 'nothing'} in {time.monotonic() - started:.2f}s"
                  + (f"; {len(reports) - len(rebuilt)} failed" if len(rebuilt) < len(reports) else ""),
                  flush=True)
            return reports

    def make_pdf(self, deck_name: str) -> Path | None:
        """Build one deck's PDF on request from the page (its cells come from the cache)."""
        deck = next((d for d in self.decks() if d.stem == deck_name), None)
        if deck is None:
            return None
        with self.lock:
            reports = build_decks(self.project, [deck], replace(self.options, formats=("pdf",)),
                                  self.tools)
        pdf = self.project.build_dir / f"{deck_name}.pdf"
        return pdf if reports and reports[0].ok and pdf.exists() else None


def kill_tree_children() -> None:
    """Whatever this process started and is still running (Marp, its browser, kernels)."""
    import psutil

    for child in psutil.Process().children():
        kill_tree(child.pid)


def watch(root: Path, targets: list[str], options: BuildOptions, port: int, open_browser: bool) -> int:
    project = load_project(root)
    paths = [Path(t).resolve() for t in targets]
    try:
        watcher = Watcher(project, paths, options, port, open_browser)
    except OSError as exc:
        raise DeckError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror} (choose another with --port)") from None
    return watcher.run()

"""The decks built for the live preview: a session of their own (warm kernels that keep
every version, a loaded Marp CLI), their cells heard as they run (the pages show a running
cell and its printed text), the edited cell's slide shown before the cells after it have
run again, what each deck depends on and which are in error, and the slide that shows a
line (goto)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol

from ..core.errors import DeckError, ToolError
from ..core.files import build_lock
from ..core.options import BuildOptions
from ..core.progress import DeckLog, Progress
from ..core.project import Project
from ..execute.cache import Cache
from ..execute.connection import KernelDied
from ..execute.execution import Running
from ..execute.keys import CellKey
from ..execute.outputs import CellResult, Rich
from ..execute.warm import KernelPool
from ..format.rendition import cell_name
from ..pipeline.build import DeckReport, PendingRender, Session, Variant, build_decks, render_pending, render_variant
from ..render.check import slide_locations
from ..render.marp import MarpWorker
from ..source.cells import Cell
from ..source.deck import MARKER, Deck
from ..source.slides import parse_slides
from .server import Broadcast, live_marks
from .sources import affected_decks


class CellEvents(Protocol):
    """Who hears about cells as they run (the preview's pages): `cell` is its FILE:LINE."""

    def running(self, deck: str, cell: str) -> None: ...

    def stream(self, deck: str, cell: str, text: str) -> None: ...

    def ran(self, deck: str, cell: str) -> None: ...


@dataclass
class HeardCells:
    """A deck's cell hooks while previewing: the terminal's log, and the pages told when
    a shown cell starts, prints and ends (replays and unseen setup are not news)."""
    log: DeckLog
    events: CellEvents
    deck: Deck
    project: Project
    _cell: str = ""

    def on_cell_start(self, index: int, total: int, cell: Cell, replay: bool) -> None:
        self.log.on_cell_start(index, total, cell, replay)
        shown = not (replay or cell.setup or cell.options.output == "hide")
        self._cell = cell_name(cell, self.project) if shown else ""
        if self._cell:
            self.events.running(self.deck.name, self._cell)

    def on_cell_output(self, name: str, text: str) -> None:
        if self._cell:
            self.events.stream(self.deck.name, self._cell, text)

    def on_cell_executed(self, result: CellResult) -> None:
        self.log.on_cell_executed(result)
        if self._cell:
            self.events.ran(self.deck.name, self._cell)


_UPDATING = ('<div style="font:600 16px sans-serif;color:#8a5300;background:#fff4e0;padding:2px 10px;'
             'border-left:4px solid #8a5300">updating: the output of the last run, until this cell has '
             'run again</div>')


def updating_results(project: Project, deck: Deck, running: Running) -> list[CellResult] | None:
    """The results so far of a deck whose later cells still run, those showing their last
    outputs (if the cache still has them) marked as being updated; None if the deck was
    never built (nothing to show the update on)."""
    cache = Cache(project.root)
    last = {key.code: key for key in cache.manifest(deck.name)}
    if not last:
        return None

    def updating(key: CellKey | None) -> CellResult:
        previous = cache.load(key) if key is not None else None
        return CellResult((Rich({"text/html": _UPDATING}),) + (previous.outputs if previous else ()))

    return [result if result is not None else updating(last.get(key.code))
            for result, key in zip(running.results, running.plan.keys)]



class PreviewBuilder:
    """Builds decks for the preview (its own session: warm kernels, a loaded Marp CLI);
    remembers what each deck depends on and which are in error; tells the pages through
    `events`, and `on_rebuilt` the reports of the decks that built (to check them)."""

    def __init__(self, project: Project, targets: list[Path], options: BuildOptions, events: Broadcast,
                 progress: Progress, on_rebuilt: Callable[[list[DeckReport]], None]) -> None:
        self.project, self.targets, self.options = project, targets, options  # targets: none = every deck
        self.events, self.progress, self.on_rebuilt = events, progress, on_rebuilt
        self.session = Session.open(project, options, progress, kernels=KernelPool(keep_warm=True),
                                    marp=MarpWorker(project.root, keeps=True), first_done=self.show_first, marked=True,
                                    hooks=lambda deck, log: HeardCells(log, events, deck, project),
                                    before_render=self.patch_pages)
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

    def rebuild(self, decks: list[Path], options: BuildOptions | None = None,
                progress: Progress | None = None) -> list[DeckReport]:
        """Build `decks`, as a save asks, or as a build command asks (its `options`, said
        on its `progress`); tell the pages, and `on_rebuilt` the decks that built."""
        progress = progress or self.progress
        session = self.session if progress is self.progress else replace(self.session, progress=progress)
        with self.lock, build_lock(self.project.build_dir, progress.note):
            started = time.monotonic()
            asked = options or self.options
            try:
                reports = build_decks(decks, asked, session)
                died = [r.deck for r in reports if isinstance(r.error, KernelDied)]
                if died:  # a fresh kernel, and the deck again
                    progress.note("kernel died: restarting it and rebuilding")
                    reports = [r for r in reports if r.deck not in died] + build_decks(died, asked, session)
            except DeckError as exc:  # e.g. course.yaml became invalid
                self.errors[""] = str(exc)
                self.events.errors(self.errors)
                progress.failed(self.project.root, exc)
                return []
            if options is None:
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
                self.events.reload({name: self.page_version(name) for name in names})
            progress.note(f"rebuilt {', '.join(names) or 'nothing'} in {time.monotonic() - started:.2f}s"
                          + (f"; {len(reports) - len(rebuilt)} failed" if len(rebuilt) < len(reports) else ""))
            self.on_rebuilt(rebuilt)
            return reports

    def show_first(self, deck: Deck, running: Running) -> None:
        """While the cells after an edited one still run: publish the deck with the edited
        cell's new output, the later cells showing their last outputs marked as updating.
        (Not on a deck's first build: there is no page yet to update.)"""
        page = self.project.build_dir / f"{deck.name}.html"
        results = updating_results(self.project, deck, running)
        if results is None or not page.exists():
            return
        try:
            log = self.progress.deck(deck.path, len(deck.cells), live=False)  # (its lines are not news)
            _, pending = render_variant(deck, results, Variant(deck.name, {"html": page}, marked=True),
                                        self.session, log)
            self.patch_pages(pending)
            if any(render_pending(pending, self.session).values()):
                return  # the full rebuild after it says what is wrong
        except (DeckError, ToolError, OSError):
            return
        self.events.reload({deck.name: self.page_version(deck.name)})
        self.progress.note(f"showing {deck.name} with the edited cell's output; the cells after it are still running")

    def patch_pages(self, pending: list[PendingRender]) -> None:
        """Before Marp writes the decks' pages: the slides each save changed, sent to the
        pages showing the version before it (Marp's engine of the last page, kept loaded,
        renders them; a change only a whole page can show waits for it)."""
        for item in pending:
            job = item.job
            name = job.target.relative_to(self.project.build_dir).with_suffix("").as_posix()
            since = self.events.version(name)
            if job.fmt != "html" or not since or since == job.version:
                continue
            try:
                changed = self.session.worker().changed_slides(job.markdown, since, job.version, job.settings)
            except ToolError:
                continue  # (the page is written next, and says what is wrong)
            if changed is not None:
                self.events.slides(name, since, job.version, [
                    {"index": slide.index, "html": live_marks(slide.html), "notes": list(slide.notes)}
                    for slide in changed.slides])

    def page_version(self, name: str) -> str:
        """The version of a deck's page file: the stamp of its last render."""
        try:
            return self.project.stamp_file(self.project.build_dir / f"{name}.html").read_text()
        except OSError:
            return ""

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

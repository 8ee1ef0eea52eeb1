"""Decks through every stage: sources -> cells -> results -> Marp Markdown -> HTML/PDF.

Decks are checked first (nothing runs if one cannot even load), then built in parallel
(one kernel each, `--jobs` at a time), then rendered together: all the outputs of one
format in one Marp run, which converts many files with one browser.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..core.errors import DeckError, Location
from ..core.files import Stamp, copy_if_changed, write_atomic
from ..core.options import FORMATS, BuildOptions
from ..core.progress import DeckLog, Progress
from ..core.project import Project, check_deck_names, course_language
from ..execute.cache import Cache
from ..execute.diagrams import drawings
from ..execute.execution import CellHooks, Execution, Running, execute_cells
from ..execute.outputs import CellResult
from ..execute.warm import KernelPool
from ..fetch.assets import Assets
from ..format.assets import theme_folder
from ..format.rendition import Rendition, deck_markdown, slides_at_most, still_pictures_of, write_rendition
from ..render.marp import MarpWorker, RenderJob, engine_config, render_all
from ..render.powerpoint import MAKERS, render_editable
from ..source.audience import without_lecturer_content
from ..source.deck import Deck, load_deck
from ..source.marpconfig import find_marp_config, marp_config
from ..source.targets import target_names
from ..source.themes import check_theme, dress_figures

KERNEL_MEMORY = 1.5 * 2**30  # what a kernel with torch and a small model may take


@dataclass(frozen=True)
class BuiltDeck:
    """A deck with the results of its cells: what publishing starts from."""
    deck: Deck
    execution: Execution
    markdown: Path  # the Marp Markdown of the full deck


@dataclass(frozen=True)
class PendingRender:
    """An output to make, and the stamp to record once it is made."""
    job: RenderJob
    stamp: Stamp
    stamp_file: Path


@dataclass
class DeckReport:
    deck: Path
    cells_run: int = 0
    cells_cached: int = 0
    cells_replayed: int = 0
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: Exception | None = None
    seconds: float = 0.0
    depends_on: set[Path] = field(default_factory=set)  # files whose change affects the deck
    built: BuiltDeck | None = None
    pending: list[PendingRender] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


# Makes outputs: each job's error, or None (render/marp.py's render_all with Marp).
Renderer = Callable[[list[RenderJob], Path], dict[RenderJob, Exception | None]]


@dataclass
class Session:
    """What the builds of one command share, made whole when the command starts: the
    course, the terminal, the kernels, the asset cache, a Marp CLI kept loaded (started
    when first needed, unless given), how many decks build at once, and, while previewing,
    what to do once a rebuild's first edited cell is done and with the decks' Markdown before
    Marp renders it."""
    project: Project
    progress: Progress
    assets: Assets
    kernels: KernelPool = field(default_factory=KernelPool)
    marp: MarpWorker | None = None
    jobs: int = 0                 # decks built at once; 0: as many as cores and memory allow
    first_done: Callable[[Deck, Running], None] | None = None
    hooks: Callable[[Deck, DeckLog], CellHooks] | None = None  # who hears a deck's cells (else its log)
    marked: bool = False          # cells marked for the live page (the preview)
    renderer: Renderer | None = None  # what makes the files (None: the Marp CLI)
    before_render: Callable[[list[PendingRender]], None] | None = None  # (the preview: pages patched first)

    @classmethod
    def open(cls, project: Project, options: BuildOptions, progress: Progress, **more: Any) -> "Session":
        return cls(project, progress, Assets(project.root, refresh=options.refresh_assets), **more)

    def close(self) -> None:
        self.kernels.shutdown()
        if self.marp:
            self.marp.close()

    def render(self, jobs: list[RenderJob], config: Path) -> dict[RenderJob, Exception | None]:
        """Make every job's output (see render_all): with the renderer given, else Marp
        (and, for editable PowerPoint, the browser and python-pptx)."""
        if self.renderer is not None:
            return self.renderer(jobs, config)
        editable = [job for job in jobs if FORMATS[job.fmt].editable]
        outcomes = render_all(self.project.root, [job for job in jobs if job not in editable], config, self.marp)
        if editable:
            outcomes.update(render_editable(self.project.root, editable, config, self.worker()))
        return outcomes

    def worker(self) -> MarpWorker:
        """The Marp CLI kept loaded (with a browser, for checks and still pictures)."""
        if self.marp is None:
            self.marp = MarpWorker(self.project.root)
        return self.marp

    def take_still(self, page: str, key: str) -> bytes:
        """A picture of an interactive output's page, taken in the browser."""
        file = self.project.build_dir / ".stills" / f"{key}.html"
        write_atomic(file, page)
        return self.worker().still(file, file.with_suffix(".png")).read_bytes()


@dataclass(frozen=True)
class Variant:
    """One version of a deck's Markdown and the files rendered from it: the full deck
    (build, preview), the students' (publish: lecturer-only slides and notes left out).
    Paper (PDF, PPTX) gets still pictures of interactive outputs."""
    stem: str                      # build/STEM.md (STEM.paper.md for paper, when it differs)
    targets: dict[str, Path]       # format -> file
    students: bool = False
    label: str = ""                # said with its renders ("for students")
    marked: bool = False           # cells marked for the live page (the preview, presenting)
    folder: Path | None = None     # where its Markdown goes, if not build/ (a presented copy)

    @property
    def paper(self) -> bool:
        return any(FORMATS[fmt].paper for fmt in self.targets)


def render_variant(deck: Deck, results: Sequence[CellResult], variant: Variant, session: Session,
                   log: DeckLog) -> tuple[Rendition, list[PendingRender]]:
    """The one way a deck's results become Markdown for Marp and rendered files (build,
    publish and the preview all come here): the variant's Markdown, written, and the
    renders its stamps say are out of date (render_pending makes them)."""
    project = session.project
    shown = replace(deck, markdown=without_lecturer_content(deck.markdown)) if variant.students else deck
    audience = without_lecturer_content if variant.students else str
    drawn = drawings(deck.diagrams, Cache(project.root), lambda: session.worker().mermaid)

    def markdown(stills: dict[str, bytes] | None) -> str:
        return audience(deck_markdown(shown, results, project, stills, variant.marked, drawn))

    texts, problems = {False: markdown(None)}, list[str]()
    if variant.paper:
        stills, problems = still_pictures_of(results, project, session.take_still)
        texts[True] = markdown(stills)
    rendition = write_rendition(project, deck, texts, variant.stem, session.assets, variant.folder)
    rendition = replace(rendition, warnings=rendition.warnings + [f"{Location(deck.path)}: {p}" for p in problems])
    return rendition, plan_renders(rendition, variant.targets, session, log, variant.label)


def default_jobs() -> int:
    """One deck more than there are cores (a kernel starting waits on its sockets as much
    as it computes), fewer when memory would not hold another kernel."""
    import psutil

    by_memory = int(psutil.virtual_memory().available // KERNEL_MEMORY)
    return max(1, min((os.cpu_count() or 1) + 1, by_memory))


def prepare(path: Path, project: Project) -> Deck:
    """Load and check a deck without running anything."""
    deck = load_deck(path, project)
    check_theme(deck, project)
    course_language(project, deck.front_matter, deck.path)
    return dress_figures(deck, project)


def build_deck(deck: Deck, options: BuildOptions, session: Session, log: DeckLog) -> DeckReport:
    """Run (or take from the cache) a deck's cells and write its Marp Markdown; the
    outputs that must be rendered again are left in `report.pending`."""
    project = session.project
    report = DeckReport(deck.path, depends_on=set(deck.sources))
    started = time.monotonic()
    try:
        first_done = session.first_done
        hooks: CellHooks = log if session.hooks is None else session.hooks(deck, log)
        execution = execute_cells(deck, project, options, session.kernels, hooks,
                                  (lambda done: first_done(deck, done)) if first_done else None)
        results = execution.results
        report.cells_run, report.cells_cached = execution.ran, execution.cached
        report.cells_replayed = execution.replayed
        report.warnings.extend(execution.warnings)
        report.depends_on |= execution.inputs
        if deck.cells:
            log.cells(report.cells_run, report.cells_cached, report.cells_replayed)
        report.warnings.extend(f"{cell.describe()}: marked 'error: true' but raised nothing"
                               for cell, result in zip(deck.cells, results)
                               if cell.options.error and not result.error)
        report.warnings.extend(f"{cell.describe()}: {note}" for cell, result in zip(deck.cells, results)
                               for note in result.notes)
        targets = {fmt: project.build_dir / f"{deck.name}{FORMATS[fmt].suffix}" for fmt in options.formats}
        variant = Variant(deck.name, targets, marked=session.marked)
        rendition, pending = render_variant(deck, results, variant, session, log)
        report.warnings.extend(rendition.warnings)
        report.written += rendition.written
        if options.strict and report.warnings:
            raise DeckError("warnings are errors with --strict:\n  " + "\n  ".join(report.warnings),
                            Location(deck.path))
        report.pending = pending
        report.built = BuiltDeck(deck, execution, rendition.screen)
    except Exception as exc:  # reported per deck; the other decks still build
        report.error = exc
    report.seconds = time.monotonic() - started
    return report


def plan_renders(rendition: Rendition, targets: dict[str, Path], session: Session,
                 log: DeckLog, label: str = "") -> list[PendingRender]:
    """The outputs whose stamps say they are out of date (the others are said to be up
    to date)."""
    project = session.project
    config = engine(session)
    pending = []
    for fmt, target in targets.items():
        markdown = rendition.markdown_for(fmt)
        settings = render_settings(project, fmt, config, session.assets.local_files(project.slides_dir))
        stamp = Stamp.of(settings.digest, markdown.read_bytes())
        stamp_file = project.stamp_file(target)
        if stamp.matches(target, stamp_file):
            log.up_to_date(fmt + label)
        else:
            job = RenderJob(markdown, fmt, target, slides_at_most(markdown), settings.digest, stamp.digest)
            pending.append(PendingRender(job, stamp, stamp_file))
    if pending and session.marp is not None:
        session.marp.warm_up()
    return pending


def engine(session: Session) -> Path:
    """The configuration Marp renders with: the course's Marp configuration and deckrun's
    themes (their remote files cached: see Assets.theme_folder)."""
    project = session.project
    themes, warnings = theme_folder(session.assets, project.themes_dir, project.build_dir)
    for warning in warnings:
        session.progress.warn(warning)
    return engine_config(project.root, themes, project.build_dir / ".marp")


def render_settings(project: Project, fmt: str, config: Path, images: str) -> Stamp:
    """Everything a render depends on but its Markdown (a render's stamp is this and the
    Markdown): the themes, the course's Marp configuration, the slides' images (PDF embeds
    them), the Marp CLI version and its options."""
    course = find_marp_config(project.root)
    themes = [path for folder in (project.themes_dir, project.build_dir / ".themes")
              for path in sorted(folder.glob("*.css"))]
    makers = MAKERS if FORMATS[fmt].editable else ()
    return Stamp.of(fmt, config, *themes, *marp_config(project.root).themes, *makers,
                    *([course] if course else []), project.root / "package-lock.json", images)


def render_pending(pending: list[PendingRender], session: Session,
                   label: str = "") -> dict[PendingRender, Exception | None]:
    """Render pending outputs of many decks together, one Marp run a format, recording
    the stamps of those made; returns each one's failure, or None."""
    for fmt in sorted({item.job.fmt for item in pending}):
        session.progress.rendering(fmt + label, sum(item.job.fmt == fmt for item in pending))
    outcomes = session.render([item.job for item in pending], engine(session))
    for item in pending:
        if outcomes[item.job] is None:
            item.stamp.record(item.stamp_file)
    return {item: outcomes[item.job] for item in pending}


def copy_slide_assets(project: Project) -> None:
    """Mirror the non-Markdown files under slides/ (images, logos) into build/, so the
    generated Markdown and HTML find them at the same relative paths."""
    for source in project.slides_dir.rglob("*"):
        if source.is_file() and source.suffix != ".md":
            copy_if_changed(source, project.build_dir / source.relative_to(project.slides_dir))


def build_decks(paths: list[Path], options: BuildOptions, session: Session) -> list[DeckReport]:
    """Check every deck before any code runs, build them (several at once, a deck that
    fails does not stop the others), then render what they need together."""
    project, progress = session.project, session.progress
    check_deck_names(project, paths)
    reports: list[DeckReport] = []
    decks = []
    for path in paths:
        try:
            decks.append(prepare(path, project))
        except DeckError as exc:
            progress.failed(path, exc)
            reports.append(DeckReport(path, error=exc, depends_on={path}))
    unmatched = [t for t in options.refresh
                 if t != "all" and not any(target_names(t, d, c) for d in decks for c in d.cells)]
    if unmatched:
        raise DeckError(f"--refresh {unmatched[0]}: no cell of the decks being built matches "
                        "(give a deck, FILE:LINE of a cell, or snippet.py#cell)")
    copy_slide_assets(project)
    session.assets.begin_run()
    jobs = min(session.jobs or default_jobs(), len(decks)) if len(decks) > 1 else 1

    def build(deck: Deck) -> DeckReport:
        log = progress.deck(deck.path, len(deck.cells), live=jobs == 1)
        report = build_deck(deck, options, session, log)
        log.done()
        for warning in report.warnings:
            progress.warn(warning)
        if report.error is not None:
            progress.failed(deck.path, report.error)
        return report

    if jobs == 1:
        built = [build(deck) for deck in decks]
    else:
        pool = ThreadPoolExecutor(jobs)
        try:
            built = list(pool.map(build, decks))
        except BaseException:  # Ctrl-C: the caller stops the kernels, which ends the threads
            progress.mute()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    pending = [item for report in built if report.ok for item in report.pending]
    if session.before_render is not None and pending:
        session.before_render(pending)
    outcomes = render_pending(pending, session)
    for report in built:
        for item in report.pending:
            if outcomes.get(item, "not rendered") is None:
                report.written.append(item.job.target)
            elif report.error is None:
                report.error = outcomes[item]
        report.pending = []
    for report in built:
        if report.ok:
            progress.written(report.deck, report.written, report.seconds)
        elif report.built is not None and report.error is not None:  # it failed at rendering
            progress.failed(report.deck, report.error)
    return reports + built


def summarize(reports: list[DeckReport], progress: Progress, seconds: float) -> int:
    """Say what a build did, in all; its exit code (1 if a deck failed)."""
    failed = sum(not r.ok for r in reports)
    progress.summary(built=len(reports) - failed, failed=failed, cells=sum(r.cells_run for r in reports),
                     cached=sum(r.cells_cached for r in reports),
                     outputs=sum(len(r.written) for r in reports if r.ok), seconds=seconds)
    return 1 if failed else 0

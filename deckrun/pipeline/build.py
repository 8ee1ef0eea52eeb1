"""Decks through every stage: sources -> cells -> results -> Marp Markdown -> HTML/PDF.

Decks are checked first (nothing runs if one cannot even load), then built in parallel
(one kernel each, `--jobs` at a time), then rendered together: all the outputs of one
format in one Marp run, which converts many files with one browser.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..format.assets import Assets
from ..core.errors import DeckError, Location
from ..execute.warm import KernelPool
from ..core.files import Stamp, copy_if_changed, write_atomic
from ..core.options import BuildOptions, target_names
from ..core.progress import DeckLog, Progress
from ..core.project import Project, course_language
from ..render.marp import ENGINE_CONFIG, MarpWorker, RenderJob, render_all
from ..format.rendition import Rendition, deck_markdown, slides_at_most, still_pictures_of, write_rendition
from ..execute.execution import Execution, execute_cells
from ..source.deck import Deck, load_deck
from ..source.themes import check_theme

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


@dataclass
class Tools:
    """What builds share: the terminal, the kernels, the asset cache as builds use it,
    and a Marp CLI kept loaded (watch mode; or once a still picture was needed)."""
    progress: Progress = field(default_factory=Progress)
    kernels: KernelPool = field(default_factory=KernelPool)
    marp: MarpWorker | None = None
    assets: Assets | None = None  # made by the first build from its options
    jobs: int = 0                 # decks built at once; 0: as many as cores and memory allow
    # Watch mode: shown as soon as the first cell a rebuild had to run is done.
    first_done: Callable[[Deck, Execution], None] | None = None

    def close(self) -> None:
        self.kernels.shutdown()
        if self.marp:
            self.marp.close()

    def take_still(self, project: Project, page: str, key: str) -> bytes:
        """A picture of an interactive output's page, taken in the browser."""
        if self.marp is None:
            self.marp = MarpWorker(project.root)
        file = project.build_dir / ".stills" / f"{key}.html"
        write_atomic(file, page)
        return self.marp.still(file, file.with_suffix(".png")).read_bytes()


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
    return deck


def build_deck(deck: Deck, project: Project, options: BuildOptions, tools: Tools,
               log: DeckLog) -> DeckReport:
    """Run (or take from the cache) a deck's cells and write its Marp Markdown; the
    outputs that must be rendered again are left in `report.pending`."""
    report = DeckReport(deck.path, depends_on=set(deck.sources))
    started = time.monotonic()
    try:
        first_done = tools.first_done
        execution = execute_cells(deck, project, options, tools.kernels, log,
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
        texts = {False: deck_markdown(deck, results, project)}
        if any(fmt != "html" for fmt in options.formats):
            stills, problems = still_pictures_of(results, project, lambda page, key: tools.take_still(project, page, key))
            report.warnings.extend(f"{Location(deck.path)}: {problem}" for problem in problems)
            texts[True] = deck_markdown(deck, results, project, stills)
        assert tools.assets is not None
        rendition = write_rendition(project, deck, texts, deck.name, tools.assets)
        report.warnings.extend(rendition.warnings)
        report.written += rendition.written
        if options.strict and report.warnings:
            raise DeckError("warnings are errors with --strict:\n  " + "\n  ".join(report.warnings),
                            Location(deck.path))
        targets = {fmt: project.build_dir / f"{deck.name}.{fmt}" for fmt in options.formats}
        report.pending = plan_renders(project, rendition, targets, tools, log)
        report.built = BuiltDeck(deck, execution, rendition.screen)
    except Exception as exc:  # reported per deck; the other decks still build
        report.error = exc
    report.seconds = time.monotonic() - started
    return report


def plan_renders(project: Project, rendition: Rendition, targets: dict[str, Path], tools: Tools,
                 log: DeckLog, label: str = "") -> list[PendingRender]:
    """The outputs whose stamps say they are out of date (the others are said to be up
    to date)."""
    assert tools.assets is not None
    themes = theme_folder(project, tools)
    pending = []
    for fmt, target in targets.items():
        markdown = rendition.markdown_for(fmt)
        stamp = render_stamp(project, markdown, fmt, themes, tools.assets.local_files(project.slides_dir))
        stamp_file = project.stamp_file(target)
        if stamp.matches(target, stamp_file):
            log.up_to_date(fmt + label)
        else:
            pending.append(PendingRender(RenderJob(markdown, fmt, target, slides_at_most(markdown)), stamp, stamp_file))
    if pending and tools.marp is not None:
        tools.marp.warm_up()
    return pending


def theme_folder(project: Project, tools: Tools) -> Path:
    """The themes Marp gets (with their remote files cached: see Assets.theme_folder)."""
    assert tools.assets is not None
    themes, warnings = tools.assets.theme_folder(project.themes_dir, project.build_dir)
    for warning in warnings:
        tools.progress.warn(warning)
    return themes


def render_stamp(project: Project, markdown: Path, fmt: str, themes: Path, images: str) -> Stamp:
    """Everything a render depends on: the Markdown, the themes, the slides' images (PDF
    embeds them), the Marp CLI version and its options."""
    return Stamp.of(fmt, markdown.read_bytes(), *sorted(themes.glob("*.css")),
                    project.root / "package-lock.json", ENGINE_CONFIG, images)


def render_pending(project: Project, pending: list[PendingRender], tools: Tools,
                   label: str = "") -> dict[PendingRender, Exception | None]:
    """Render pending outputs of many decks together, one Marp run a format, recording
    the stamps of those made; returns each one's failure, or None."""
    for fmt in sorted({item.job.fmt for item in pending}):
        tools.progress.rendering(fmt + label, sum(item.job.fmt == fmt for item in pending))
    outcomes = render_all(project.root, [item.job for item in pending], theme_folder(project, tools), tools.marp)
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


def build_decks(project: Project, paths: list[Path], options: BuildOptions,
                tools: Tools) -> list[DeckReport]:
    """Check every deck before any code runs, build them (several at once, a deck that
    fails does not stop the others), then render what they need together."""
    progress = tools.progress
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
    if tools.assets is None:
        tools.assets = Assets(project.root, refresh=options.refresh_assets)
    tools.assets.begin_run()
    jobs = min(tools.jobs or default_jobs(), len(decks)) if len(decks) > 1 else 1

    def build(deck: Deck) -> DeckReport:
        log = progress.deck(deck.path, len(deck.cells), live=jobs == 1)
        report = build_deck(deck, project, options, tools, log)
        log.done()
        for warning in report.warnings:
            progress.warn(warning)
        if not report.ok:
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
    outcomes = render_pending(project, [item for report in built if report.ok for item in report.pending], tools)
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
        elif report.built is not None:  # it failed at rendering
            progress.failed(report.deck, report.error)
    return reports + built

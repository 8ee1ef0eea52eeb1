"""One deck through every stage: sources -> cells -> results -> Marp Markdown -> HTML/PDF."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import Cache
from .errors import DeckError, Location, ToolError
from .execute import KernelPool
from .files import Stamp, copy_if_changed, write_atomic, write_if_changed
from .formatting import CellFormatter, FigureFolder, inject, templates_for
from .options import BuildOptions, target_names
from .outputs import CellResult
from .progress import Progress
from .project import Project
from .render import ENGINE_CONFIG, MarpWorker, node_modules, render
from .running import Execution, execute_cells
from .assets import Assets, localize
from .live import still_pictures
from .slides import parse_slides, with_lecturer_badge
from .sources import Deck, load_deck
from .themes import check_theme, theme_colours

@dataclass(frozen=True)
class BuiltDeck:
    """A deck with the results of its cells: what publishing starts from."""
    deck: Deck
    execution: Execution
    markdown: Path  # the Marp Markdown of the full deck


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

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Tools:
    """What builds share: the terminal, the kernels, the asset cache as this run uses it,
    and (watch mode) a loaded Marp CLI."""
    progress: Progress = field(default_factory=Progress)
    kernels: KernelPool = field(default_factory=KernelPool)
    marp: MarpWorker | None = None
    assets: Assets | None = None  # made by the first build from its options

    def close(self) -> None:
        self.kernels.shutdown()
        if self.marp:
            self.marp.close()


def prepare(path: Path, project: Project) -> Deck:
    """Load and check a deck without running anything."""
    deck = load_deck(path, project)
    check_theme(deck, project)
    return deck


def build_deck(deck: Deck, project: Project, options: BuildOptions, tools: Tools) -> DeckReport:
    progress = tools.progress
    report = DeckReport(deck.path, depends_on=set(deck.sources))
    started = time.monotonic()
    try:
        execution = execute_cells(deck, project, options, tools.kernels, progress)
        results = execution.results
        report.cells_run, report.cells_cached = execution.ran, execution.cached
        report.cells_replayed = execution.replayed
        report.warnings.extend(execution.warnings)
        report.depends_on |= execution.inputs
        if deck.cells:
            progress.cells(report.cells_run, report.cells_cached, report.cells_replayed)
        report.warnings.extend(f"{cell.describe()}: marked 'error: true' but raised nothing"
                               for cell, result in zip(deck.cells, results)
                               if cell.options.error and not result.error)
        report.warnings.extend(f"{cell.describe()}: {note}" for cell, result in zip(deck.cells, results)
                               for note in result.notes)
        texts = {False: deck_markdown(deck, results, project)}
        if any(fmt != "html" for fmt in options.formats):
            stills, problems = still_pictures_of(results, project, tools)
            report.warnings.extend(f"{Location(deck.path)}: {problem}" for problem in problems)
            texts[True] = deck_markdown(deck, results, project, stills)
        rendition = write_rendition(project, deck, texts, deck.name, tools)
        report.warnings.extend(rendition.warnings)
        report.written += rendition.written
        if options.strict and report.warnings:
            raise DeckError("warnings are errors with --strict:\n  " + "\n  ".join(report.warnings),
                            Location(deck.path))
        targets = {fmt: project.build_dir / f"{deck.name}.{fmt}" for fmt in options.formats}
        report.written += render_outputs(project, rendition, targets, tools, metadata(deck, project))
        report.built = BuiltDeck(deck, execution, rendition.screen)
    except Exception as exc:  # reported per deck; the other decks still build
        report.error = exc
    report.seconds = time.monotonic() - started
    return report


def metadata(deck: Deck, project: Project) -> tuple[str, ...]:
    """Marp options for the metadata of HTML and PDF (a deck's own directives win)."""
    course = {**project.course, **(deck.front_matter.get("course") or {})}
    subject = " ".join(str(course[k]) for k in ("code", "name") if course.get(k))
    options = {"author": course.get("lecturer"), "description": subject}
    return tuple(arg for key, value in options.items()
                 if value and key not in deck.front_matter for arg in (f"--{key}", str(value)))


@dataclass(frozen=True)
class Rendition:
    """The Marp Markdown of a deck: for the screen (HTML) and for paper (PDF, PPTX:
    embeds as posters), the same file when they do not differ."""
    screen: Path
    paper: Path
    warnings: list[str]
    written: list[Path]

    def markdown_for(self, fmt: str) -> Path:
        return self.screen if fmt == "html" else self.paper


def write_rendition(project: Project, deck: Deck, markdown: dict[bool, str], stem: str,
                    tools: Tools) -> Rendition:
    """From the deck's Markdown for the screen and, when asked for, for paper
    (`markdown[paper]`): localize its files (remote ones from the asset cache,
    placeholders for the missing), mark lecturer-only slides, and write build/STEM.md
    (and STEM.paper.md when it differs)."""
    theme_css = project.themes().get(str(deck.front_matter.get("theme")), "")
    colours = theme_colours(theme_css)
    assert tools.assets is not None
    texts, warnings = {}, []
    for paper, text in markdown.items():
        localized = localize(text, deck.path, project.build_dir, tools.assets, colours, paper=paper)
        texts[paper] = with_lecturer_badge(localized.markdown, theme_css)
        warnings += [w for w in localized.warnings if w not in warnings]
    screen, paper_path = project.build_dir / f"{stem}.md", project.build_dir / f"{stem}.paper.md"
    written = [screen] if write_if_changed(screen, texts[False]) else []
    if texts.get(True, texts[False]) == texts[False]:
        if True in texts:
            paper_path.unlink(missing_ok=True)
        return Rendition(screen, screen, warnings, written)
    if write_if_changed(paper_path, texts[True]):
        written.append(paper_path)
    return Rendition(screen, paper_path, warnings, written)


def render_outputs(project: Project, rendition: Rendition, targets: dict[str, Path], tools: Tools,
                   extra: tuple[str, ...] = (), label: str = "") -> list[Path]:
    """Render each format's target from its Markdown, unless its stamp says it is up to date."""
    assert tools.assets is not None
    themes, warnings = tools.assets.theme_folder(project.themes_dir, project.build_dir)
    for warning in warnings:
        tools.progress.warn(warning)
    written = []
    for fmt, target in targets.items():
        markdown = rendition.markdown_for(fmt)
        stamp = render_stamp(project, markdown, fmt, extra, themes)
        stamp_file = project.stamp_file(target)
        if stamp.matches(target, stamp_file):
            tools.progress.up_to_date(fmt + label)
            continue
        tools.progress.rendering(fmt + label)
        slides = len(parse_slides(markdown.read_text(encoding="utf-8")).slides)
        written.append(render(project.root, markdown, fmt, target, themes, tools.marp, extra, slides))
        stamp.record(stamp_file)
    return written


def render_stamp(project: Project, markdown: Path, fmt: str, extra: tuple[str, ...],
                 themes: Path) -> Stamp:
    """Everything a render depends on: the Markdown, the themes, the slides' images (PDF
    embeds them), the Marp CLI version and its options."""
    assets = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                    for p in project.slides_dir.rglob("*") if p.is_file() and p.suffix != ".md")
    return Stamp.of(fmt, markdown.read_bytes(), *sorted(themes.glob("*.css")),
                    project.root / "package-lock.json", ENGINE_CONFIG, repr(assets), repr(extra))


def deck_markdown(deck: Deck, results: list[CellResult], project: Project,
                  stills: dict[str, bytes] | None = None) -> str:
    """The deck's Marp Markdown: each cell's marker replaced by its code and outputs
    (figures are written to build/DECK_files/). With `stills` it is for paper (PDF, PPTX):
    interactive outputs are shown by their still pictures."""
    build = project.build_dir
    files = f"{deck.name}_files"
    formatter = CellFormatter(templates_for(project.templates_dir), FigureFolder(build / files, files),
                              node_modules(project.root), stills)
    paper = stills is not None
    formatted = [formatter.cell(cell, result, paper) for cell, result in zip(deck.cells, results)]
    return inject(deck, formatted)


def still_pictures_of(results: list[CellResult], project: Project, tools: Tools) -> tuple[dict[str, bytes], list[str]]:
    """Still pictures of the interactive outputs, for paper (taken in the browser the first
    time, then from the cache); without a browser, paper shows their text instead."""
    def take(page: str, key: str) -> bytes:
        if tools.marp is None:
            tools.marp = MarpWorker(project.root)
        file = project.build_dir / ".stills" / f"{key}.html"
        write_atomic(file, page)
        return tools.marp.still(file, file.with_suffix(".png")).read_bytes()

    try:
        return still_pictures(results, node_modules(project.root), Cache(project.root), take), []
    except ToolError as exc:
        return {}, [f"interactive outputs are shown as text on paper: {exc}"]


def copy_slide_assets(project: Project) -> None:
    """Mirror the non-Markdown files under slides/ (images, logos) into build/, so the
    generated Markdown and HTML find them at the same relative paths."""
    for source in project.slides_dir.rglob("*"):
        if source.is_file() and source.suffix != ".md":
            copy_if_changed(source, project.build_dir / source.relative_to(project.slides_dir))


def build_decks(project: Project, paths: list[Path], options: BuildOptions,
                tools: Tools) -> list[DeckReport]:
    """Check every deck before any code runs, then build them one by one; a deck that
    fails does not stop the others."""
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
    for deck in decks:
        progress.deck_started(deck.path, len(deck.cells))
        report = build_deck(deck, project, options, tools)
        reports.append(report)
        for warning in report.warnings:
            progress.warn(warning)
        if report.ok:
            progress.written(report.written, report.seconds)
        else:
            progress.failed(deck.path, report.error)
    return reports

"""One deck through every stage: sources -> cells -> results -> Marp Markdown -> HTML/PDF."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from .errors import DeckError, Location
from .files import write_atomic
from .formatting import Assets, CellFormatter, Templates, inject
from .outputs import CellResult
from .project import Project
from .render import ENGINE_CONFIG, RenderStamp, render
from .running import execute_cells
from .session import BuildOptions, DeckReport, Tools, target_names
from .sources import Deck, load_deck

BUILTIN_THEMES = ("default", "gaia", "uncover")
_THEME_NAME = re.compile(r"@theme\s+([\w-]+)")


def prepare(path: Path, project: Project) -> Deck:
    """Load and check a deck without running anything."""
    deck = load_deck(path, project)
    check_theme(deck, project)
    return deck


def check_theme(deck: Deck, project: Project) -> None:
    theme = deck.front_matter.get("theme")
    if theme is None or theme in BUILTIN_THEMES or theme in project_themes(project):
        return
    line = next((n for n, text in enumerate(deck.path.read_text().splitlines(), 1)
                 if text.startswith("theme:")), None)
    known = ", ".join(BUILTIN_THEMES + tuple(project_themes(project)))
    raise DeckError(f"unknown theme '{theme}' (themes: {known}; a project theme is a CSS "
                    f"file in themes/ starting with /* @theme NAME */)", Location(deck.path, line))


def project_themes(project: Project) -> list[str]:
    names = []
    for css in sorted(project.themes_dir.glob("*.css")):
        found = _THEME_NAME.search(css.read_text(encoding="utf-8"))
        if found:
            names.append(found.group(1))
    return names


def build_deck(deck: Deck, project: Project, options: BuildOptions, tools: Tools) -> DeckReport:
    progress = tools.progress
    report = DeckReport(deck.path, depends_on=set(deck.sources))
    started = time.monotonic()
    try:
        results = execute_cells(deck, project, options, tools, report)
        if deck.cells:
            progress.cells(report.cells_run, report.cells_cached, report.cells_replayed)
        report.warnings.extend(f"{cell.describe()}: marked 'error: true' but raised nothing"
                               for cell, result in zip(deck.cells, results)
                               if cell.options.error and not result.error)
        markdown_path, changed = write_markdown(deck, results, project)
        if changed:
            report.written.append(markdown_path)
        if options.strict and report.warnings:
            raise DeckError("warnings are errors with --strict:\n  " + "\n  ".join(report.warnings),
                            Location(deck.path))
        for fmt in options.formats:
            target = markdown_path.with_suffix(f".{fmt}")
            stamp = render_stamp(project, markdown_path, fmt)
            if stamp.matches(target):
                progress.up_to_date(fmt)
                continue
            progress.rendering(fmt)
            report.written.append(render(project.root, markdown_path, fmt, target,
                                         project.themes_dir, tools.marp))
            stamp.record(target)
    except Exception as exc:  # reported per deck; the other decks still build
        report.error = exc
    report.seconds = time.monotonic() - started
    return report


def render_stamp(project: Project, markdown: Path, fmt: str) -> RenderStamp:
    """Everything a render depends on: the Markdown, the themes, the slides' images (PDF
    embeds them), the Marp CLI version and its options."""
    assets = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                    for p in project.slides_dir.rglob("*") if p.is_file() and p.suffix != ".md")
    return RenderStamp.of(fmt, markdown.read_bytes(), *sorted(project.themes_dir.glob("*.css")),
                          project.root / "package-lock.json", ENGINE_CONFIG, repr(assets))


def write_markdown(deck: Deck, results: list[CellResult], project: Project) -> tuple[Path, bool]:
    """Write the deck's Marp Markdown; say whether it changed (an unchanged file is left
    alone, so its timestamp stays)."""
    build = project.build_dir
    build.mkdir(parents=True, exist_ok=True)
    files = f"{deck.name}_files"
    formatter = CellFormatter(Templates(project.templates_dir), Assets(build / files, files))
    formatted = [formatter.cell(cell, result) for cell, result in zip(deck.cells, results)]
    target = build / f"{deck.name}.md"
    markdown = inject(deck, formatted)
    if target.exists() and target.read_text(encoding="utf-8") == markdown:
        return target, False
    write_atomic(target, markdown)
    return target, True


def copy_slide_assets(project: Project) -> None:
    """Mirror the non-Markdown files under slides/ (images, logos) into build/, so the
    generated Markdown and HTML find them at the same relative paths."""
    for source in project.slides_dir.rglob("*"):
        if not source.is_file() or source.suffix == ".md":
            continue
        target = project.build_dir / source.relative_to(project.slides_dir)
        if target.exists() and target.stat().st_mtime >= source.stat().st_mtime \
                and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


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

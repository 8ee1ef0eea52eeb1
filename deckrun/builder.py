"""One deck through every stage: sources -> cells -> results -> Marp Markdown -> HTML/PDF."""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .analysis import CodeFacts, replay_set
from .cache import Cache, CellKey, deck_keys, stale_reason
from .cells import Cell
from .errors import DeckError, Location
from .execute import Kernel, KernelDied, KernelPool, KernelSettings
from .formatting import Assets, CellFormatter, Templates, inject
from .outputs import CellResult
from .progress import Progress
from .project import Project
from .render import MarpWorker, render
from .sources import Deck, load_deck

BUILTIN_THEMES = ("default", "gaia", "uncover")
_THEME_NAME = re.compile(r"@theme\s+([\w-]+)")


@dataclass(frozen=True)
class BuildOptions:
    formats: tuple[str, ...] = ("html", "pdf")
    strict: bool = False  # warnings (e.g. an `error: true` cell that did not raise) fail the deck
    frozen: bool = False  # never execute: every cell must come from the cache
    refresh: tuple[str, ...] = ()  # "all", a deck path, DECK_OR_SNIPPET:LINE or file.py#cell

    def refreshes(self, deck: Deck, cell: Cell) -> bool:
        return any(_targets(target, deck, cell) for target in self.refresh)


def _targets(target: str, deck: Deck, cell: Cell) -> bool:
    """Does a --refresh target name this cell?"""
    if target == "all":
        return True
    if "#" in target:
        file, _, name = target.partition("#")
        return cell.name == name and cell.origin.path.name == Path(file).name
    path, _, line = target.rpartition(":")
    if not (line.isdigit() and path):
        return Path(target).resolve() == deck.path
    where, number = Path(path).resolve(), int(line)
    code_lines = range(cell.origin.line or 0, (cell.origin.line or 0) + cell.code.count("\n") + 1)
    return (where == cell.reference.path and number == cell.reference.line) or \
        (where == cell.origin.path and number in code_lines)


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

    @property
    def ok(self) -> bool:
        return self.error is None


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


@dataclass
class Tools:
    """What builds share: the terminal, the kernels, and (watch mode) a loaded Marp CLI."""
    progress: Progress = field(default_factory=Progress)
    kernels: KernelPool = field(default_factory=KernelPool)
    marp: MarpWorker | None = None

    def close(self) -> None:
        self.kernels.shutdown()
        if self.marp:
            self.marp.close()


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
        markdown_path = write_markdown(deck, results, project)
        report.written.append(markdown_path)
        if options.strict and report.warnings:
            raise DeckError("warnings are errors with --strict:\n  " + "\n  ".join(report.warnings),
                            Location(deck.path))
        for fmt in options.formats:
            target = markdown_path.with_suffix(f".{fmt}")
            progress.rendering(fmt)
            report.written.append(render(project.root, markdown_path, fmt, target,
                                         project.themes_dir, tools.marp))
    except Exception as exc:  # reported per deck; the other decks still build
        report.error = exc
    report.seconds = time.monotonic() - started
    return report


@dataclass
class Plan:
    """What a deck's build will do with each cell: take it from the cache, run it, or
    replay it (run for the state it leaves, output discarded: it is cached already)."""
    keys: list[CellKey]
    results: list[CellResult | None]  # None: must run
    replay: list[int]

    @property
    def stale(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is None]


def plan_deck(deck: Deck, project: Project, options: BuildOptions, cache: Cache) -> Plan:
    settings = execute_settings(project.course, deck.front_matter)
    keys = deck_keys(list(deck.cells), project.root, [project.snippets_dir, project.root], settings)
    results = [None if options.refreshes(deck, cell) else cache.load(key)
               for cell, key in zip(deck.cells, keys)]
    plan = Plan(keys, results, [])
    if plan.stale:
        plan.replay = replay_set([CodeFacts(cell.code) for cell in deck.cells], plan.stale)
    return plan


def execute_cells(deck: Deck, project: Project, options: BuildOptions, tools: Tools,
                  report: DeckReport) -> list[CellResult]:
    cache = Cache(project.root)
    plan = plan_deck(deck, project, options, cache)
    report.warnings.extend(cache.problems)
    report.depends_on |= {project.root / name for key in plan.keys for name in key.inputs}
    report.cells_cached = len(deck.cells) - len(plan.stale)
    if not plan.stale:
        return list(plan.results)
    if options.frozen:
        manifest = cache.manifest(deck.name)
        missing = [f"{plan.keys[i].cell}: "
                   f"{stale_reason(plan.keys[i], manifest[i] if i < len(manifest) else None)}"
                   for i in plan.stale]
        raise DeckError(f"--frozen: {len(missing)} cell(s) have no cached output:\n  "
                        + "\n  ".join(missing), Location(deck.path))
    settings = KernelSettings(cwd=project.root, snippets_dir=project.snippets_dir,
                              **execute_settings(project.course, deck.front_matter))
    kernels = tools.kernels
    kernel = kernels.acquire(deck.path, settings)
    try:
        # A warm kernel (watch mode) may hold the state a replay would rebuild.
        replay = {i for i in plan.replay if kernel.executed.get(i) != plan.keys[i].key}
        for index in sorted(set(plan.stale) | replay):
            run_cell(deck, index, plan, kernel, index in replay, cache, tools.progress, report)
    except KernelDied:
        kernels.discard(deck.path)
        raise
    finally:
        kernels.release(deck.path)
    cache.write_manifest(deck.name, plan.keys)
    return list(plan.results)


def run_cell(deck: Deck, index: int, plan: Plan, kernel: Kernel, replay: bool, cache: Cache,
             progress: Progress, report: DeckReport) -> None:
    cell, key = deck.cells[index], plan.keys[index]
    progress.cell_started(index, len(deck.cells), cell, replay=replay)
    kernel.executed.pop(index, None)
    result = kernel.run(cell)
    progress.cell_done(result)
    error = result.error
    if error and not cell.options.error:
        raise cell_error(cell, result)
    kernel.executed[index] = key.key
    if replay:
        report.cells_replayed += 1
        return
    report.cells_run += 1
    plan.results[index] = result
    if not (error and error.ename == "TimeoutError"):  # a timeout may pass next time
        cache.store(key, result)


def execute_settings(course: dict[str, Any], front_matter: dict[str, Any]) -> dict[str, Any]:
    """`execute:` from course.yaml, overridden by the deck's front matter: seed and env."""
    merged: dict[str, Any] = {}
    for source in (course.get("execute") or {}, front_matter.get("execute") or {}):
        merged.update({k: v for k, v in source.items() if k != "env"})
        merged.setdefault("env", {}).update({str(k): str(v) for k, v in (source.get("env") or {}).items()})
    return {"seed": int(merged.get("seed", 0)), "env": merged.get("env", {})}


def cell_error(cell: Cell, result: CellResult) -> DeckError:
    """A cell raised: say where in the deck, where in the code, and show the traceback."""
    error = result.error
    assert error is not None
    origin = cell.origin
    if error.line is not None and origin.line is not None:
        origin = Location(origin.path, origin.line + error.line - 1)
    also = (origin,) if origin != cell.reference else ()
    message = f"cell raised {error.ename}: {error.evalue}"
    hint = "(add '#| error: true' if the exception is the point of the slide)"
    return DeckError(message, cell.reference, also=also,
                     detail=(error.traceback or "") + "\n" + hint)


def write_markdown(deck: Deck, results: list[CellResult], project: Project) -> Path:
    build = project.build_dir
    build.mkdir(parents=True, exist_ok=True)
    files = f"{deck.name}_files"
    formatter = CellFormatter(Templates(project.templates_dir), Assets(build / files, files))
    formatted = [formatter.cell(cell, result) for cell, result in zip(deck.cells, results)]
    target = build / f"{deck.name}.md"
    write_atomic(target, inject(deck, formatted))
    return target


def write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


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

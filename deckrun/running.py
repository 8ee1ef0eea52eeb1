"""Cells -> results: each from the cache when its key is there, else run in the deck's
kernel (replaying the earlier cells whose state it needs), then stored in the cache."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .analysis import CodeFacts, replay_set
from .cache import Cache, CellKey, deck_keys, stale_reason
from .cells import Cell
from .errors import DeckError, Location
from .execute import Kernel, KernelDied, KernelSettings
from .outputs import CellResult
from .progress import Progress
from .project import Project
from .session import BuildOptions, DeckReport, Tools
from .sources import Deck


@dataclass
class Plan:
    """What a deck's build will do with each cell: take it from the cache, run it, or
    replay it (run for the state it leaves, output discarded: it is cached already)."""
    keys: list[CellKey]
    results: list[CellResult | None]  # None: must run
    replay: list[int]
    settings: dict[str, Any]          # the deck's seed and kernel environment

    @property
    def stale(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is None]


def plan_deck(deck: Deck, project: Project, options: BuildOptions, cache: Cache) -> Plan:
    settings = execute_settings(project.course, deck.front_matter)
    keys = deck_keys(list(deck.cells), project.root, [project.snippets_dir, project.root], settings)
    results = [None if options.refreshes(deck, cell) else cache.load(key)
               for cell, key in zip(deck.cells, keys)]
    plan = Plan(keys, results, [], settings)
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
    settings = KernelSettings(cwd=project.root, snippets_dir=project.snippets_dir, **plan.settings)
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
    if replay:
        report.cells_replayed += 1
    else:
        report.cells_run += 1
    error = result.error
    if error and not cell.options.error:
        raise cell_error(cell, result)
    kernel.executed[index] = key.key
    if replay:
        return
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

"""Cells -> results: each from the cache when its key is there, else run in the deck's
kernel (replaying the earlier cells whose state it needs), then stored in the cache.
Progress is reported through hooks; what happened comes back as an `Execution`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from .analysis import code_facts, run_order, warm_replays
from .cache import Cache, CellKey, deck_keys, stale_reason
from .cells import Cell, parse_snippet_file
from .errors import DeckError, Location
from .capture import OutputLimits
from .execute import Kernel, KernelPool, KernelSettings
from .gateway import Gateway, choose_gateway
from .options import BuildOptions
from .outputs import CellResult, Error
from .project import COURSE_FILE, Project
from .sources import Deck


class CellHooks(Protocol):
    def on_cell_start(self, index: int, total: int, cell: Cell, replay: bool) -> None: ...

    def on_cell_executed(self, result: CellResult) -> None: ...


@dataclass
class Plan:
    """What a deck's build will do with each cell: take it from the cache or run it (the
    kernel then decides which cached ones it must replay for their state)."""
    keys: list[CellKey]
    results: list[CellResult | None]  # None: must run
    gateway: Gateway | None             # where the kernel runs (None: here)
    settings: dict[str, Any]          # the deck's seed and kernel environment

    @property
    def stale(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is None]


@dataclass
class Execution:
    """A deck's cells after running: every result, and how they were obtained."""
    results: list[CellResult]
    keys: list[CellKey]
    settings: dict[str, Any]
    cached: int = 0
    ran: int = 0
    replayed: int = 0
    warnings: list[str] = field(default_factory=list)
    inputs: set[Path] = field(default_factory=set)  # files the cells' keys read


def plan_deck(deck: Deck, project: Project, options: BuildOptions, cache: Cache) -> Plan:
    settings = execute_settings(project, deck)
    # Where cells run is not part of their keys: a remote result is cached like a local one.
    gateway = choose_gateway(settings.pop("gateway"), settings.pop("kernel"), options.gateway, Location(deck.path))
    keys = deck_keys(list(deck.cells), project.root, [project.snippets_dir, project.root], settings)
    results = [None if options.refreshes(deck, cell) else cache.load(key)
               for cell, key in zip(deck.cells, keys)]
    return Plan(keys, results, gateway, settings)


def execute_cells(deck: Deck, project: Project, options: BuildOptions, kernels: KernelPool,
                  hooks: CellHooks, first_done: Callable[[Execution], None] | None = None) -> Execution:
    """Each cell's result, from the cache or run. `first_done` is called once the first
    cell that had to run again is done while others still must (the preview shows it)."""
    cache = Cache(project.root)
    plan = plan_deck(deck, project, options, cache)
    execution = Execution(plan.results, plan.keys, plan.settings,  # type: ignore[arg-type]
                          cached=len(deck.cells) - len(plan.stale),
                          warnings=cache.problems,
                          inputs={project.root / name for key in plan.keys for name in key.inputs})
    if not plan.stale:
        return execution
    if options.frozen:
        manifest = cache.manifest(deck.name)
        missing = [f"{plan.keys[i].cell}: "
                   f"{stale_reason(plan.keys[i], manifest[i] if i < len(manifest) else None)}"
                   for i in plan.stale]
        raise DeckError(f"--frozen: {len(missing)} cell(s) have no cached output:\n  "
                        + "\n  ".join(missing), Location(deck.path))
    settings = KernelSettings(cwd=project.root, snippets_dir=project.snippets_dir, gateway=plan.gateway,
                              **plan.settings)
    with kernels.lease(deck.path, settings) as kernel:
        kernel.send_files(project.root, [project.snippets_dir, project.root / "data",
                                         *sorted(execution.inputs)])
        # Replays: run for the state they leave, outputs discarded (they are cached). A warm
        # kernel (watch mode) may hold that state already.
        facts = [code_facts(cell.code) for cell in deck.cells]
        held = {i for i, key in enumerate(plan.keys) if kernel.holds(i, key.key)}
        restored = kernel.restore_values(facts, plan.stale[0], held)
        replay = warm_replays(facts, plan.stale, held, kernel.codes_ran_from(plan.stale[0]), restored)
        stale = plan.stale  # (it empties as cells run)
        # The preview shows the edited cell before replays it does not need; a build keeps
        # the deck's order (cells may also write files, which no analysis sees).
        order = run_order(facts, stale, replay) if first_done else sorted(set(stale) | set(replay))
        for index in order:
            run_cell(deck, index, plan, kernel, index in replay, cache, hooks, execution)
            if first_done and index == stale[0] and index != stale[-1]:
                first_done(execution)
    cache.write_manifest(deck.name, plan.keys)
    return execution


def run_cell(deck: Deck, index: int, plan: Plan, kernel: Kernel, replay: bool, cache: Cache,
             hooks: CellHooks, execution: Execution) -> None:
    cell, key = deck.cells[index], plan.keys[index]
    hooks.on_cell_start(index, len(deck.cells), cell, replay)
    result = kernel.run(cell, index, key.key)
    hooks.on_cell_executed(result)
    if replay:
        execution.replayed += 1
    else:
        execution.ran += 1
    error = result.error
    if error and not cell.options.error:
        raise cell_error(cell, result)
    if replay:
        return
    plan.results[index] = result
    if not (error and error.ename == "TimeoutError"):  # a timeout may pass next time
        cache.store(key, result)


def execute_settings(project: Project, deck: Deck) -> dict[str, Any]:
    """`execute:` from course.yaml, overridden by the deck's front matter: the seed, the
    kernel's environment, output limits and the names of secret variables."""
    merged: dict[str, Any] = {}
    env: dict[str, str] = {}
    for source, where in ((project.course.get("execute") or {}, Location(project.root / COURSE_FILE)),
                          (deck.front_matter.get("execute") or {}, Location(deck.path))):
        if not isinstance(source, dict):
            raise DeckError("'execute:' must be a mapping (seed, env, secrets, max-output-lines...)", where)
        unknown = set(source) - set(_EXECUTE_KEYS)
        if unknown:
            raise DeckError(f"unknown 'execute:' setting '{sorted(unknown)[0]}' "
                            f"(known: {', '.join(_EXECUTE_KEYS)})", where)
        merged.update({k: v for k, v in source.items() if k != "env"})
        env.update({str(k): str(v) for k, v in (source.get("env") or {}).items()})
    limits = OutputLimits(lines=_positive(merged, "max-output-lines", OutputLimits.lines, deck),
                          megabytes=_positive(merged, "max-output-mb", OutputLimits.megabytes, deck))
    secrets = merged.get("secrets") or []
    if not isinstance(secrets, list) or not all(isinstance(name, str) for name in secrets):
        raise DeckError("'execute: secrets:' must be a list of environment variable names", Location(deck.path))
    return {"seed": int(merged.get("seed", 0)), "env": env, "limits": limits, "secrets": tuple(secrets),
            "gateway": merged.get("gateway"), "kernel": merged.get("kernel")}


_EXECUTE_KEYS = ("seed", "env", "secrets", "max-output-lines", "max-output-mb", "gateway", "kernel")


def _positive(settings: dict[str, Any], name: str, default: float, deck: Deck) -> Any:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DeckError(f"'execute: {name}:' must be a positive number, not {value!r}", Location(deck.path))
    return value


_HINTS = {
    "ExecutableNotFound": "(Graphviz's `dot` program is missing: install it, e.g. `sudo apt-get install "
                          "graphviz` on Debian/Ubuntu, `brew install graphviz` on macOS; ./run does it)",
}


def _defined_elsewhere(cell: Cell, error: Error) -> str:
    """For a NameError in a snippet cell: the earlier cell of its file that binds the name."""
    found = re.match(r"name '(\w+)' is not defined", error.evalue)
    if error.ename != "NameError" or not found or cell.origin.path.suffix != ".py" or not cell.name:
        return ""
    defining = parse_snippet_file(cell.origin.path).defining(found.group(1), cell.name)
    if defining is None:
        return ""
    piece, later = defining
    where = f"{Location(cell.origin.path)}:{piece.line}"
    what = f"cell '{piece.name}' ({where})" if piece.name else where
    return f"('{found.group(1)}' is set by {what}, " + (
        "which comes after this cell in the file)" if later else "which did not run before this cell)")


def cell_error(cell: Cell, result: CellResult) -> DeckError:
    """A cell raised: say where in the deck, where in the code, and show the traceback."""
    error = result.error
    assert error is not None
    origin = cell.origin
    if error.line is not None and origin.line is not None:
        origin = Location(origin.path, origin.line + error.line - 1)
    also = (origin,) if origin != cell.reference else ()
    message = f"cell raised {error.ename}: {error.evalue}"
    hint = _HINTS.get(error.ename) or _defined_elsewhere(cell, error) or \
        "(add '#| error: true' if the exception is the point of the slide)"
    return DeckError(message, cell.reference, also=also,
                     detail=(error.traceback or "") + "\n" + hint)

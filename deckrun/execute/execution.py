"""Cells -> results: each from the cache when its key is there, else run in the deck's
kernel (replaying the earlier cells whose state it needs), then stored in the cache.
Keys are made from the kernel's own environment (environment.py); --frozen and
`freeze: true` take a result whose code and inputs match when only versions differ.
Progress is reported through hooks; what happened comes back as an `Execution`."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import cache as once
from pathlib import Path
from typing import Callable, Protocol

from ..core.errors import DeckError, Location
from ..core.options import BuildOptions
from ..core.project import Project
from ..source.cells import Cell
from ..source.deck import Deck
from ..source.targets import refreshes
from .cache import Cache
from .environment import Probe, environment, local_probe
from .failures import cell_error
from .keys import CellKey, cell_sources, changed_versions, deck_keys, stale_reason
from .outputs import CellResult
from .settings import DeckSettings, execute_settings, kernel_settings
from .warm import KernelPool, WarmKernel


class CellHooks(Protocol):
    def on_cell_start(self, index: int, total: int, cell: Cell, replay: bool) -> None: ...

    def on_cell_output(self, name: str, text: str) -> None: ...

    def on_cell_executed(self, result: CellResult) -> None: ...


@dataclass(frozen=True)
class Plan:
    """What a deck's build will do with each cell: take it from the cache or run it (the
    kernel then decides which cached ones it must replay for their state)."""
    keys: tuple[CellKey, ...]                # the cells' keys (the recorded ones if the kernel was not asked)
    cached: tuple[CellResult | None, ...]    # None: must run
    computed_with: tuple[CellKey, ...]       # the key each cached result is stored under: what computed it
    settings: DeckSettings
    frozen: tuple[int, ...]                  # taken although what computed them differs from the kernel
    asked: bool = True                       # was the kernel's environment asked (a remote one may not be)

    @property
    def stale(self) -> list[int]:
        return [i for i, result in enumerate(self.cached) if result is None]


@dataclass
class Running:
    """A deck's cells while they run (the one owner of what changes as they do): each
    result so far (None: not yet), what computed it, and how many ran and replayed."""
    plan: Plan
    results: list[CellResult | None]
    computed_with: list[CellKey]
    ran: int = 0
    replayed: int = 0

    @classmethod
    def of(cls, plan: Plan) -> "Running":
        return cls(plan, list(plan.cached), list(plan.computed_with))


@dataclass(frozen=True)
class Execution:
    """A deck's cells after running: every result, and how they were obtained."""
    results: tuple[CellResult, ...]
    keys: tuple[CellKey, ...]
    computed_with: tuple[CellKey, ...]   # per result: the key (Python, packages) of the run that made it
    settings: DeckSettings
    cached: int = 0
    ran: int = 0
    replayed: int = 0
    warnings: tuple[str, ...] = ()
    inputs: frozenset[Path] = frozenset()  # files the cells' keys read


def plan_deck(deck: Deck, project: Project, options: BuildOptions, cache: Cache, settings: DeckSettings,
              probe: Probe) -> Plan:
    """Each cell's result if the cache has it. `probe` asks the kernel about its packages;
    a remote one is not asked when every cell can be taken as recorded (--frozen)."""
    sources = cell_sources(list(deck.cells), project.root, [project.snippets_dir, project.root],
                           settings.for_keys())
    refreshed = [refreshes(options, deck, cell) for cell in deck.cells]
    recorded = cache.recorded(deck.name)
    taken = {i: recorded[source.loose] for i, source in enumerate(sources) if source.loose in recorded
             and not refreshed[i] and (options.frozen or settings.freeze or deck.cells[i].options.freeze)}
    asked = settings.gateway is None or len(taken) < len(sources)
    if asked:
        modules = frozenset().union(*(source.modules for source in sources))
        keys = deck_keys(sources, environment(probe, set(modules)))
    else:
        keys = [taken[i] for i in range(len(sources))]
    results: list[CellResult | None] = []
    computed: list[CellKey] = []
    frozen: list[int] = []
    for index, key in enumerate(keys):
        result, used = (None if refreshed[index] else cache.load(key)), key
        if result is not None and result.drew and result.look != deck.cells[index].look:
            result = None  # its figures were drawn in another look (the theme changed): drawn again
        if result is None and index in taken and taken[index].key != key.key:
            result, used = cache.load(taken[index]), taken[index]
            if result is not None:
                frozen.append(index)
        results.append(result)
        computed.append(used)
    return Plan(tuple(keys), tuple(results), tuple(computed), settings, tuple(frozen if asked else sorted(taken)),
                asked)


def execute_cells(deck: Deck, project: Project, options: BuildOptions, kernels: KernelPool,
                  hooks: CellHooks, first_done: Callable[[Running], None] | None = None) -> Execution:
    """Each cell's result, from the cache or run. `first_done` is called once the first
    cell that had to run again is done while others still must (the preview shows it)."""
    cache = Cache(project.root)
    settings = execute_settings(project, deck, options)
    with ExitStack() as leases:
        @once
        def kernel() -> WarmKernel:  # started when first needed: to ask a remote one, or to run
            return leases.enter_context(kernels.lease(deck.path, kernel_settings(project, settings)))

        probe = local_probe if settings.own_python else lambda modules: kernel().kernel.describe(modules)
        plan = plan_deck(deck, project, options, cache, settings, probe)
        inputs = frozenset(project.root / name for key in plan.keys for name in key.inputs)
        running = Running.of(plan)
        if plan.stale and options.frozen:
            manifest = cache.manifest(deck.name)
            missing = [f"{plan.keys[i].cell}: "
                       f"{stale_reason(plan.keys[i], manifest[i] if i < len(manifest) else None)}"
                       for i in plan.stale]
            raise DeckError(f"--frozen: {len(missing)} cell(s) have no cached output:\n  "
                            + "\n  ".join(missing), Location(deck.path))
        if plan.stale:
            run_stale(deck, project, running, kernel(), cache, hooks, inputs, first_done)
    cache.write_manifest(deck.name, running.computed_with)  # (unchanged: not written)
    results = tuple(result for result in running.results if result is not None)
    assert len(results) == len(deck.cells)  # (every cell ran, or raised before this)
    return Execution(results, plan.keys, tuple(running.computed_with), settings, len(deck.cells) - len(plan.stale),
                     running.ran, running.replayed, tuple(cache.problems + frozen_warnings(deck, plan, options)),
                     inputs)


def run_stale(deck: Deck, project: Project, running: Running, kernel: WarmKernel, cache: Cache, hooks: CellHooks,
              inputs: frozenset[Path], first_done: Callable[[Running], None] | None) -> None:
    """Run the cells the cache does not have, in deck order, each in the state of its
    place: the cells whose state it needs and the kernel does not hold are replayed first
    (run for the state they leave; their outputs are cached already)."""
    kernel.kernel.send_files(project.root, [project.snippets_dir, project.root / "data", *sorted(inputs)])
    kernel.follow([cell.code for cell in deck.cells])
    stale = running.plan.stale
    for index in kernel.order(stale):
        for replay in kernel.replays(index):
            run_cell(deck, replay, running, kernel, True, cache, hooks)
        run_cell(deck, index, running, kernel, index not in stale, cache, hooks)
        if first_done and index == stale[0] and index != stale[-1]:
            first_done(running)


def frozen_warnings(deck: Deck, plan: Plan, options: BuildOptions) -> list[str]:
    """One warning for the cells taken from the cache although what computed them differs
    from the kernel: which versions, and who said to."""
    if not plan.frozen:
        return []
    why = "--frozen" if options.frozen else "freeze: true"
    cells = f"{len(plan.frozen)} cell{'s' if len(plan.frozen) != 1 else ''}"
    if not plan.asked:
        packages = {k: v for i in plan.frozen for k, v in plan.computed_with[i].packages.items()}
        versions = ", ".join(f"{name} {version}" for name, version in sorted(packages.items()))
        return [f"{Location(deck.path)}: {cells} taken from the cache as computed with {versions or 'no packages'} "
                f"(the remote kernel was not asked; {why})"]
    changes = sorted({change for i in plan.frozen for change in
                      changed_versions(plan.computed_with[i].packages, plan.keys[i].packages)
                      + ([f"Python {plan.computed_with[i].python} -> {plan.keys[i].python}"]
                         if plan.computed_with[i].python != plan.keys[i].python else [])})
    return [f"{Location(deck.path)}: {cells} taken from the cache although computed with other versions "
            f"than the kernel has ({'; '.join(changes)}; {why})"]


def run_cell(deck: Deck, index: int, running: Running, kernel: WarmKernel, replay: bool, cache: Cache,
             hooks: CellHooks) -> None:
    """Run one cell (a replay: for its state only) and keep its result (a time-out is
    never cached: it may pass next time)."""
    cell, key = deck.cells[index], running.plan.keys[index]
    hooks.on_cell_start(index, len(deck.cells), cell, replay)
    result = kernel.run(cell, index, hooks.on_cell_output)
    hooks.on_cell_executed(result)
    if replay:
        running.replayed += 1
    else:
        running.ran += 1
    if result.error and not cell.options.error:
        raise cell_error(cell, result, running.plan.settings, cache.folder.parent)
    if replay:
        return
    running.results[index] = result
    running.computed_with[index] = key
    if not result.timed_out:
        cache.store(key, replace(result, look=cell.look if result.drew else ""))



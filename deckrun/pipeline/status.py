"""Questions about the cache, asked without running anything: `status` (per deck: what
is cached, why the rest would run, and how the kernel's packages, the lock and what
computed the outputs differ) and `prune` (drop what no deck uses)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..core.errors import DeckError, Location, ToolError
from ..core.options import BuildOptions
from ..core.progress import Progress
from ..core.project import Project
from ..core.tools import node_packages
from ..execute.cache import Cache
from ..execute.connection import describe_kernel
from ..execute.diagrams import diagram_key
from ..execute.environment import LOCK_FILE, Probe, environment, local_probe, locked_versions
from ..execute.execution import Plan, plan_deck
from ..execute.keys import stale_reason
from ..execute.settings import DeckSettings, execute_settings, kernel_settings
from ..execute.warm import KernelPool
from ..format.interactive import pages, still_key
from ..source.deck import Deck
from .build import prepare


def report_status(project: Project, paths: list[Path], options: BuildOptions, progress: Progress) -> int:
    """For each deck: how many cells are cached and why the others would run; and how the
    kernel's packages, the lock file and what computed the outputs differ."""
    cache = Cache(project.root)
    locked = locked_versions(project.root)
    compared: set[str] = set()  # the kernels' environments already held against the lock
    failed = 0
    for path in paths:
        try:
            deck = prepare(path, project)
            plan, have = look_at(deck, project, options, cache, sorted(locked))
        except (DeckError, ToolError) as exc:
            progress.error(str(exc))
            failed += 1
            continue
        settings = plan.settings
        where = f"the kernel at {settings.gateway.url}" if settings.gateway else \
            f"the kernel '{settings.kernel}'" if settings.kernel else "this environment"
        if locked and where not in compared:
            compared.add(where)
            progress.line(lock_drift(where, locked, have))
        manifest = cache.manifest(deck.name)
        stale = plan.stale
        progress.line(f"{Location(deck.path)}: {len(deck.cells)} cells, "
                      f"{len(deck.cells) - len(stale)} cached, {len(stale)} stale; they run in {runs_in(settings)}")
        for index in stale:
            before = manifest[index] if index < len(manifest) else None
            progress.line(f"  {plan.keys[index].cell}: {stale_reason(plan.keys[index], before)}")
        for index in plan.frozen:
            progress.line(f"  {plan.keys[index].cell}: taken as recorded (--frozen or freeze: true): "
                          f"{stale_reason(plan.keys[index], plan.computed_with[index])}")
        computed = {name: version for key, result in zip(plan.computed_with, plan.cached) if result
                    for name, version in key.packages.items()}
        unlocked = [f"{name} {version} (locked {locked[name]})" for name, version in sorted(computed.items())
                    if name in locked and locked[name] != version]
        if unlocked:
            progress.line(f"  its outputs were computed with versions the lock does not have: {', '.join(unlocked)}")
    for problem in cache.problems:
        progress.warn(problem)
    return 1 if failed else 0


def runs_in(settings: DeckSettings) -> str:
    """Where a deck's cells run, in words: which kernel, which environment."""
    import platform
    import sys

    if settings.gateway is not None:
        return f"a '{settings.gateway.kernel_name}' kernel on the gateway at {settings.gateway.url}"
    if settings.kernel is None:
        return f"deckrun's own Python {platform.python_version()} ({sys.prefix})"
    return f"the kernel '{settings.kernel}' ({describe_kernel(settings.kernel)})"


def lock_drift(where: str, locked: dict[str, str], have: dict[str, str]) -> str:
    differ = [f"{name} {have.get(name, 'not installed')} (locked {version})"
              for name, version in sorted(locked.items()) if have.get(name) != version]
    if not differ:
        return f"{where}: every package as {LOCK_FILE} has it"
    return (f"{where}: {len(differ)} package{'s differ' if len(differ) != 1 else ' differs'} from {LOCK_FILE}: "
            + ", ".join(differ) + " (./run setup installs the lock; ./run upgrade changes it)")


def prune(project: Project, options: BuildOptions, progress: Progress) -> int:
    """Remove cache entries that no cell of any deck has as its key, or takes its result
    from (--frozen): old versions."""
    cache = Cache(project.root)
    keep: set[str] = set()
    stills: set[str] = set()
    diagrams: set[str] = set()
    for path in project.decks():
        deck = prepare(path, project)  # a deck that does not load: prune nothing
        diagrams.update(diagram_key(diagram) for diagram in deck.diagrams)
        plan, _ = look_at(deck, project, options, cache)
        keep.update(key.key for key in plan.keys + plan.computed_with)
        stills.update(still_key(page) for page in pages([r for r in plan.cached if r], node_packages(project.root)))
    entries, blobs = cache.prune(keep, stills, diagrams)
    progress.line(f"removed {entries} cache entr{'y' if entries == 1 else 'ies'} and "
                  f"{blobs} figure{'' if blobs == 1 else 's'} no deck uses")
    return 0


def look_at(deck: Deck, project: Project, options: BuildOptions, cache: Cache,
            distributions: Sequence[str] = ()) -> tuple[Plan, dict[str, str]]:
    """A deck's plan without running anything (status, prune), and the versions its kernel
    has of `distributions` (those it has): asked here, or of a remote kernel started for
    the question and shut down after."""
    settings = execute_settings(project, deck, options)
    if settings.own_python:
        return plan_deck(deck, project, options, cache, settings, local_probe), installed(local_probe, distributions)
    pool = KernelPool()
    try:
        with pool.lease(deck.path, kernel_settings(project, settings)) as warm:
            return plan_deck(deck, project, options, cache, settings, warm.kernel.describe), \
                installed(warm.kernel.describe, distributions)
    finally:
        pool.shutdown()


def installed(probe: Probe, distributions: Sequence[str]) -> dict[str, str]:
    """{distribution: version} of those installed (a distribution's name finds it as a module's would)."""
    found = environment(probe, set(distributions)).modules if distributions else {}
    return {name: versions[name] for name, versions in found.items() if name in versions}

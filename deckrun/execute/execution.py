"""Cells -> results: each from the cache when its key is there, else run in the deck's
kernel (replaying the earlier cells whose state it needs), then stored in the cache.
Keys are made from the kernel's own environment (environment.py); --frozen and
`freeze: true` take a result whose code and inputs match when only versions differ.
Progress is reported through hooks; what happened comes back as an `Execution`."""
from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache as once
from pathlib import Path
from typing import Any, Callable, Protocol

from .cache import Cache, CellKey, cell_sources, changed_versions, deck_keys, stale_reason
from ..source.cells import Cell, parse_snippet_file
from ..core.errors import DeckError, Location, ToolError
from .capture import OutputLimits
from .environment import LOCK_FILE, Probe, environment, local_probe
from .connection import KernelSettings
from .warm import KernelPool, WarmKernel
from .remote import Gateway, choose_gateway
from ..core.options import BuildOptions
from .outputs import CellResult, Error
from ..core.project import COURSE_FILE, Project
from ..source.deck import Deck


class CellHooks(Protocol):
    def on_cell_start(self, index: int, total: int, cell: Cell, replay: bool) -> None: ...

    def on_cell_output(self, name: str, text: str) -> None: ...

    def on_cell_executed(self, result: CellResult) -> None: ...


@dataclass(frozen=True)
class DeckSettings:
    """How a deck's cells run: `execute:` of course.yaml and the front matter, checked."""
    seed: int = 0
    env: dict[str, str] = field(default_factory=dict)  # the kernel's environment variables
    limits: OutputLimits = field(default_factory=OutputLimits)
    secrets: tuple[str, ...] = ()   # more variables whose values are masked in outputs
    gateway: Gateway | None = None  # where the kernel runs (None: here)
    freeze: bool = False            # take recorded outputs whose versions differ (GPU-only decks)
    kernel: str | None = None       # the installed kernelspec it runs in here (None: deckrun's own Python)

    @property
    def own_python(self) -> bool:
        """Do its cells run in deckrun's own interpreter (asked about in this process)?"""
        return self.gateway is None and self.kernel is None

    def for_keys(self) -> dict[str, Any]:
        """What of them changes what cells produce (where they run does not)."""
        return {"seed": self.seed, "env": self.env, "limits": self.limits, "secrets": self.secrets}


@dataclass
class Plan:
    """What a deck's build will do with each cell: take it from the cache or run it (the
    kernel then decides which cached ones it must replay for their state)."""
    keys: list[CellKey]                # the cells' keys (the recorded ones if the kernel was not asked)
    results: list[CellResult | None]   # None: must run
    computed_with: list[CellKey]       # the key each result is stored under: what computed it
    settings: DeckSettings
    frozen: list[int]                  # taken although what computed them differs from the kernel
    asked: bool = True                 # was the kernel's environment asked (a remote one may not be)

    @property
    def stale(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is None]


@dataclass
class Execution:
    """A deck's cells after running: every result, and how they were obtained."""
    results: list[CellResult]
    keys: list[CellKey]
    computed_with: list[CellKey]   # per result: the key (Python, packages) of the run that made it
    settings: DeckSettings
    cached: int = 0
    ran: int = 0
    replayed: int = 0
    warnings: list[str] = field(default_factory=list)
    inputs: set[Path] = field(default_factory=set)  # files the cells' keys read


def plan_deck(deck: Deck, project: Project, options: BuildOptions, cache: Cache, settings: DeckSettings,
              probe: Probe) -> Plan:
    """Each cell's result if the cache has it. `probe` asks the kernel about its packages;
    a remote one is not asked when every cell can be taken as recorded (--frozen)."""
    sources = cell_sources(list(deck.cells), project.root, [project.snippets_dir, project.root],
                           settings.for_keys())
    refreshed = [options.refreshes(deck, cell) for cell in deck.cells]
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
    computed, frozen = [], []
    for index, key in enumerate(keys):
        result, used = (None if refreshed[index] else cache.load(key)), key
        if result is None and index in taken and taken[index].key != key.key:
            result, used = cache.load(taken[index]), taken[index]
            if result is not None:
                frozen.append(index)
        results.append(result)
        computed.append(used)
    return Plan(keys, results, computed, settings, frozen if asked else sorted(taken), asked)


def execute_cells(deck: Deck, project: Project, options: BuildOptions, kernels: KernelPool,
                  hooks: CellHooks, first_done: Callable[[Execution], None] | None = None) -> Execution:
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
        execution = Execution(plan.results, plan.keys, plan.computed_with, settings,  # type: ignore[arg-type]
                              cached=len(deck.cells) - len(plan.stale),
                              warnings=cache.problems + frozen_warnings(deck, plan, options),
                              inputs={project.root / name for key in plan.keys for name in key.inputs})
        if plan.stale and options.frozen:
            manifest = cache.manifest(deck.name)
            missing = [f"{plan.keys[i].cell}: "
                       f"{stale_reason(plan.keys[i], manifest[i] if i < len(manifest) else None)}"
                       for i in plan.stale]
            raise DeckError(f"--frozen: {len(missing)} cell(s) have no cached output:\n  "
                            + "\n  ".join(missing), Location(deck.path))
        if plan.stale:
            run_stale(deck, project, plan, kernel(), cache, hooks, execution, first_done)
    cache.write_manifest(deck.name, plan.computed_with)  # (unchanged: not written)
    return execution


def kernel_settings(project: Project, settings: DeckSettings) -> KernelSettings:
    return KernelSettings(project.root, project.snippets_dir, settings.seed, settings.env, settings.limits,
                          settings.secrets, gateway=settings.gateway, kernel=settings.kernel)


def look_at(deck: Deck, project: Project, options: BuildOptions, cache: Cache,
            distributions: list[str] = ()) -> tuple[Plan, dict[str, str]]:
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


def installed(probe: Probe, distributions: list[str]) -> dict[str, str]:
    """{distribution: version} of those installed (a distribution's name finds it as a module's would)."""
    found = environment(probe, set(distributions)).modules if distributions else {}
    return {name: versions[name] for name, versions in found.items() if name in versions}


def run_stale(deck: Deck, project: Project, plan: Plan, kernel: WarmKernel, cache: Cache, hooks: CellHooks,
              execution: Execution, first_done: Callable[[Execution], None] | None) -> None:
    """Run the cells the cache does not have, in deck order, each in the state of its
    place: the cells whose state it needs and the kernel does not hold are replayed first
    (run for the state they leave; their outputs are cached already)."""
    kernel.kernel.send_files(project.root, [project.snippets_dir, project.root / "data", *sorted(execution.inputs)])
    kernel.follow([cell.code for cell in deck.cells])
    stale = plan.stale  # (it empties as cells run)
    first = stale[0]
    for index in kernel.order(stale):
        for replay in kernel.replays(index):
            run_cell(deck, replay, plan, kernel, True, cache, hooks, execution)
        run_cell(deck, index, plan, kernel, index not in stale, cache, hooks, execution)
        if first_done and index == first and index != stale[-1]:
            first_done(execution)


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


def run_cell(deck: Deck, index: int, plan: Plan, kernel: WarmKernel, replay: bool, cache: Cache,
             hooks: CellHooks, execution: Execution) -> None:
    cell, key = deck.cells[index], plan.keys[index]
    hooks.on_cell_start(index, len(deck.cells), cell, replay)
    result = kernel.run(cell, index, hooks.on_cell_output)
    hooks.on_cell_executed(result)
    if replay:
        execution.replayed += 1
    else:
        execution.ran += 1
    error = result.error
    if error and not cell.options.error:
        raise cell_error(cell, result, plan.settings, cache.folder.parent)
    if replay:
        return
    plan.results[index] = result
    plan.computed_with[index] = key
    if not result.timed_out:  # a time-out may pass next time
        cache.store(key, result)


def execute_settings(project: Project, deck: Deck, options: BuildOptions) -> DeckSettings:
    """`execute:` from course.yaml, overridden by the deck's front matter: the seed, the
    kernel's environment, output limits, the names of secret variables, the gateway and
    whether recorded outputs are taken whatever computed them (`freeze`)."""
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
        if not isinstance(source.get("freeze", False), bool):
            raise DeckError(f"'execute: freeze:' must be true or false, not {source['freeze']!r}", where)
        merged.update({k: v for k, v in source.items() if k != "env"})
        env.update({str(k): str(v) for k, v in (source.get("env") or {}).items()})
    limits = OutputLimits(lines=_positive(merged, "max-output-lines", OutputLimits.lines, deck),
                          megabytes=_positive(merged, "max-output-mb", OutputLimits.megabytes, deck))
    secrets = merged.get("secrets") or []
    if not isinstance(secrets, list) or not all(isinstance(name, str) for name in secrets):
        raise DeckError("'execute: secrets:' must be a list of environment variable names", Location(deck.path))
    # Where cells run is not part of their keys (the kernel's own versions are): a remote
    # result is cached like a local one.
    kernel = merged.get("kernel")
    if kernel is not None and not isinstance(kernel, str):
        raise DeckError(f"'execute: kernel:' must be the name of a Jupyter kernel (jupyter kernelspec list), "
                        f"not {kernel!r}", Location(deck.path))
    gateway = choose_gateway(merged.get("gateway"), kernel, options.gateway, Location(deck.path))
    return DeckSettings(int(merged.get("seed", 0)), env, limits, tuple(secrets), gateway,
                        bool(merged.get("freeze", False)), kernel if gateway is None else None)


_EXECUTE_KEYS = ("seed", "env", "secrets", "max-output-lines", "max-output-mb", "gateway", "kernel", "freeze")


def _positive(settings: dict[str, Any], name: str, default: float, deck: Deck) -> Any:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DeckError(f"'execute: {name}:' must be a positive number, not {value!r}", Location(deck.path))
    return value


_HINTS = {
    "ExecutableNotFound": "(Graphviz's `dot` program is missing: install it, e.g. `sudo apt-get install "
                          "graphviz` on Debian/Ubuntu, `brew install graphviz` on macOS; ./run does it)",
    "StdinNotImplementedError": "(input() cannot be answered: cells run with no one at a keyboard; "
                                "write the value into the code)",
}


def error_hint(ename: str) -> str:
    """What to do about an error of this kind, if there is something general to say."""
    return _HINTS.get(ename, "")


def _defined_elsewhere(cell: Cell, error: Error) -> str:
    """For a NameError in a snippet cell: the earlier cell of its file that binds the name."""
    found = re.match(r"name '(\w+)' is not defined", error.evalue)
    if error.ename != "NameError" or not found or cell.origin.path.suffix not in (".py", ".ipynb") \
            or not cell.name:
        return ""
    defining = parse_snippet_file(cell.origin.path).defining(found.group(1), cell.name)
    if defining is None:
        return ""
    piece, later = defining
    where = str(Location(cell.origin.path, piece.line))
    what = f"cell '{piece.name}' ({where})" if piece.name else where
    return f"('{found.group(1)}' is set by {what}, " + (
        "which comes after this cell in the file)" if later else "which did not run before this cell)")


# Modules whose distribution is named otherwise (pip install NAME).
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "skimage": "scikit-image", "cv2": "opencv-python", "PIL": "pillow",
                  "yaml": "pyyaml", "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "docx": "python-docx",
                  "pptx": "python-pptx", "Bio": "biopython", "google.generativeai": "google-generativeai"}


def _missing_package(error: Error, settings: DeckSettings | None, root: Path | None) -> str:
    """For a module the kernel cannot import: which environment the kernel runs in, and
    the command that adds the package there."""
    found = re.match(r"No module named '([\w.]+)'", error.evalue)
    if error.ename != "ModuleNotFoundError" or not found or settings is None:
        return ""
    module = found.group(1).split(".")[0]
    package = _DISTRIBUTIONS.get(module, module)
    if settings.gateway is not None:
        return (f"(the deck's kernel runs on the gateway at {settings.gateway.url}: '{package}' must be "
                f"installed in the environment of its '{settings.gateway.kernel_name}' kernel there)")
    if settings.kernel is not None:
        python = _kernel_python(settings.kernel)
        where = f"runs {python}" if python else "is the lecturer's own"
        return (f"(the deck's kernel '{settings.kernel}' {where}: add the package to that environment"
                + (f", e.g. {python} -m pip install {package}" if python else "") + ")")
    import sys

    locked = root is not None and (root / LOCK_FILE).is_file()
    return (f"(cells run in deckrun's own Python ({sys.prefix}): add '{package}' to it"
            + (f" (this course locks its packages: add it to pyproject.toml and run ./run upgrade {package})"
               if locked else f", e.g. {sys.executable} -m pip install {package}")
            + ", or run the deck in a kernel of your own environment with `execute: kernel: NAME` "
              "(jupyter kernelspec list shows them))")


def _kernel_python(name: str) -> str:
    """The interpreter an installed Python kernelspec starts, if it says."""
    from .connection import kernel_spec

    try:
        argv = kernel_spec(name).argv
    except ToolError:
        return ""
    return argv[0] if argv and "python" in Path(argv[0]).name else ""


class CellFailed(DeckError):
    """A cell raised (and was not allowed to: no `error: true`)."""


class CellTimeout(DeckError):
    """A cell ran past its time-out and was stopped."""


def cell_error(cell: Cell, result: CellResult, settings: DeckSettings | None = None,
               root: Path | None = None) -> DeckError:
    """A cell raised or was stopped: say where in the deck, where in the code, and show
    the traceback (and, for a package the kernel lacks, where to add it)."""
    error = result.error
    assert error is not None
    if result.timed_out:
        return CellTimeout(f"cell raised {error.ename}: {error.evalue}", cell.reference,
                           also=(cell.origin,) if cell.origin.path != cell.reference.path else (),
                           detail="(add '#| error: true' to show the time-out on the slide instead)")
    origin = cell.origin
    if error.line is not None and origin.line is not None:
        origin = Location(origin.path, origin.line + error.line - 1)
    also = (origin,) if origin != cell.reference else ()
    message = f"cell raised {error.ename}: {error.evalue}"
    hint = error_hint(error.ename) or _defined_elsewhere(cell, error) or _missing_package(error, settings, root) \
        or "(add '#| error: true' if the exception is the point of the slide)"
    return CellFailed(message, cell.reference, also=also, detail=(error.traceback or "") + "\n" + hint)

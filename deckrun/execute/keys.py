"""A cell's cache key: what its result is made from (its code and options, the files it
declares and the course modules it imports, chained with every cell before it) and the
versions of Python and of the packages it and the cells it takes state from import, as
the kernel has them. Also why a key differs from the last build's (status)."""
from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.errors import DeckError, read_source
from ..source.analysis import CodeFacts, code_facts, replay_set
from ..source.cells import Cell
from .environment import Environment

FORMAT = 1  # of keys and of the cache's entries


@dataclass(frozen=True)
class CellSource:
    """What a cell's result is made from apart from the kernel's environment: its code,
    the files it reads, and the same of every cell before it (chained)."""
    cell: str                      # where: slides/x.md:12 (snippet.py#name)
    code: str                      # hash of the code and execution options
    inputs: dict[str, str]         # file -> content hash
    modules: frozenset[str]        # the modules it imports, and the cells it takes state from import
    loose: str                     # the chain of the deck's sources up to this cell
    previous: str                  # the chain before it


@dataclass(frozen=True)
class CellKey:
    """A cell's cache key and what it was made of (kept for `status` and --frozen)."""
    key: str
    cell: str                      # where: slides/x.md:12 (snippet.py#name)
    code: str                      # hash of the code and execution options
    inputs: dict[str, str] = field(default_factory=dict)    # file -> content hash
    packages: dict[str, str] = field(default_factory=dict)  # distribution -> version
    previous: str = ""
    loose: str = ""                # the same without Python's and the packages' versions
    python: str = ""               # the kernel's Python version


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cell_sources(cells: list[Cell], root: Path, local_dirs: list[Path],
                 settings: dict[str, Any]) -> list[CellSource]:
    """Each cell's sources, chained in deck order (an edit reruns the cells after it);
    `settings` (seed, kernel env) start the chain. Nothing here asks the kernel, so
    --frozen works without one."""
    facts = [code_facts(cell.code) for cell in cells]
    previous = _hash("deck", FORMAT, settings)
    found = []
    for cell, fact in zip(cells, facts):
        modules = local_modules(fact, root, local_dirs)
        inputs = {**declared_inputs(cell, root), **modules}
        code = _hash(cell.code, cell.options.execution_options())
        loose = _hash(previous, code, inputs)
        found.append(CellSource(cell.describe(root), code, inputs, imported(fact, [root / n for n in modules]),
                                loose, previous))
        previous = loose
    # A cell depends on the packages of the cells whose state it reads (their values were
    # made with them), not on every package an earlier cell imports: an upgrade reruns
    # the cells that use what changed, and no other.
    return [replace(source, modules=source.modules.union(*(found[j].modules for j in replay_set(facts, [k]))))
            for k, source in enumerate(found)]


def deck_keys(sources: list[CellSource], environment: Environment) -> list[CellKey]:
    """Each cell's key: its sources (chained), the kernel's Python, and the versions of
    the packages it and the cells it takes state from import."""
    keys = []
    for source in sources:
        packages = environment.packages(set(source.modules))
        key = _hash(source.loose, environment.python, packages)
        keys.append(CellKey(key, source.cell, source.code, source.inputs, packages, source.previous, source.loose,
                            environment.python))
    return keys


def declared_inputs(cell: Cell, root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in cell.options.inputs:
        matches = sorted(glob.glob(pattern, root_dir=root, recursive=True))
        if any(not (root / m).resolve().is_relative_to(root.resolve()) for m in matches) \
                or Path(pattern).is_absolute():
            raise DeckError(f"cell option 'inputs': '{pattern}' leads outside the course folder",
                            cell.reference)
        files = [m for m in matches if (root / m).is_file()]
        if not files:
            raise DeckError(f"cell option 'inputs': no file matches '{pattern}' "
                            f"(paths are relative to {root.name}/)", cell.reference)
        found.update({m: _file_hash(root / m) for m in files})
    return found


def local_modules(facts: CodeFacts, root: Path, local_dirs: list[Path]) -> dict[str, str]:
    """Course modules a cell imports (e.g. snippets/helpers.py), and theirs, by content."""
    found: dict[str, str] = {}
    pending = list(facts.imports)
    while pending:
        path = _local_module(pending.pop(), local_dirs)
        if path is None:
            continue
        name = os.path.relpath(path, root)
        if name not in found:
            found[name] = _file_hash(path)
            pending.extend(code_facts(read_source(path)).imports)
    return found


def _local_module(name: str, local_dirs: list[Path]) -> Path | None:
    for folder in local_dirs:
        for candidate in (folder / f"{name}.py", folder / name / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def imported(facts: CodeFacts, local_modules: list[Path]) -> frozenset[str]:
    """The modules a cell's code and its course modules import, the course modules left
    out (they count by content, as inputs)."""
    modules = set(facts.imports)
    for path in local_modules:
        modules |= code_facts(read_source(path)).imports
    return frozenset(modules - {path.stem if path.name != "__init__.py" else path.parent.name
                                for path in local_modules})


def stale_reason(key: CellKey, before: CellKey | None) -> str:
    """Why a cell must run, compared with the same cell in the last good build."""
    if before is None:
        return "new cell"
    if before.code != key.code:
        return "code changed"
    changed = sorted(set(key.inputs.items()) ^ set(before.inputs.items()))
    if changed:
        return f"input changed: {changed[0][0]}"
    versions = changed_versions(before.packages, key.packages)
    if versions:
        return f"package version changed: {versions[0]}"
    if before.python and before.python != key.python:
        return f"Python version changed: {before.python} -> {key.python}"
    if before.previous != key.previous:
        return "an earlier cell changed"
    return "no stored output"


def changed_versions(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """`name 1.0 -> 1.1` for each package whose version differs."""
    return [f"{name} {before.get(name, '-')} -> {now.get(name, '-')}"
            for name in sorted(set(before) | set(now)) if before.get(name) != now.get(name)]

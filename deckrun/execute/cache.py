"""The execution cache: a cell whose inputs have not changed is never run again.

A cell's key chains the sources of the cells before it (so an edit reruns everything
after it): the code as executed with the options that change execution, the content of
the files the cell declares (`inputs`) and of local modules it imports. To that it adds
the versions of Python and of the packages it imports (and the cells whose state it
reads import), as the kernel that runs it has them (environment.py): an upgrade reruns
the cells that use what changed.
The cache lives in `_freeze/` at the course root and is meant to be committed, so a
machine with no GPU and no network rebuilds from it; --frozen and `freeze: true` take a
result whose code and inputs match when only versions differ (by the key's `loose` part).

Layout (format 1; every file is written to a temporary name and renamed into place):

    _freeze/cells/<k[:2]>/<key>.json  {"format", "key", "cell", "result"}: a CellResult;
                                       image data replaced by {"blob": "<sha256>.<ext>"}
    _freeze/blobs/<s[:2]>/<sha256>.<ext>  figures, by content hash
    _freeze/decks/<deck>.json          the keys the last good build's results are stored
                                       under and what they were made of (status, --frozen)
    _freeze/stills/<h[:2]>/<h>.png     still pictures of interactive outputs, for paper
                                       (h: the hash of the output's page)
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..source.analysis import CodeFacts, code_facts, replay_set
from .environment import Environment
from ..source.cells import Cell
from ..core.errors import DeckError, read_source
from ..core.files import write_atomic, write_if_changed
from ..core.project import FREEZE_DIR
from .outputs import FILE_KINDS, CellResult, Rich

FORMAT = 1
_BLOB_NAME = re.compile(rf"[0-9a-f]{{64}}\.(?:{'|'.join(k.extension for k in FILE_KINDS.values())})")


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


class Cache:
    def __init__(self, root: Path) -> None:
        self.folder = root / FREEZE_DIR
        self.problems: list[str] = []  # unreadable entries met while loading

    def _entry(self, key: str) -> Path:
        return self.folder / "cells" / key[:2] / f"{key}.json"

    def _blob(self, name: str) -> Path:
        return self.folder / "blobs" / name[:2] / name

    def load(self, key: CellKey) -> CellResult | None:
        """The stored result, or None. An entry that cannot be read is reported in
        `problems` and treated as missing, never trusted."""
        path = self._entry(key.key)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry.get("format") != FORMAT or entry.get("key") != key.key:
                raise ValueError("written by another version, or under the wrong name")
            return self._with_blobs(CellResult.from_json(entry["result"]))
        except Exception as exc:  # any damage: JSON, missing blob, wrong hash
            self.problems.append(f"{key.cell}: cache entry {path.relative_to(self.folder.parent)} "
                                 f"is unreadable ({exc}); running the cell again")
            return None

    def store(self, key: CellKey, result: CellResult) -> None:
        """Blobs first, the entry last: an entry never points at a missing blob. An entry
        that already holds these outputs is left as it is (its time, its bytes): a rerun
        that changed nothing changes no file."""
        stored = replace(result, outputs=tuple(self._to_blobs(o) if isinstance(o, Rich) else o
                                               for o in result.outputs)).to_json()
        path = self._entry(key.key)
        try:
            before = json.loads(path.read_text(encoding="utf-8"))["result"]
            if (before["outputs"], before.get("notes")) == (stored["outputs"], stored["notes"]):
                return
        except (OSError, ValueError, KeyError, TypeError):
            pass
        entry = {"format": FORMAT, "key": key.key, "cell": key.cell, "result": stored}
        write_atomic(path, json.dumps(entry, indent=1, sort_keys=True).encode())

    def _to_blobs(self, output: Rich) -> Rich:
        data = dict(output.data)
        for mime, kind in FILE_KINDS.items():
            if mime in data:
                raw = kind.to_bytes(data[mime])
                name = f"{hashlib.sha256(raw).hexdigest()}.{kind.extension}"
                if not self._blob(name).exists():
                    write_atomic(self._blob(name), raw)
                data[mime] = json.dumps({"blob": name})
        return Rich(data, output.is_result)

    def _with_blobs(self, result: CellResult) -> CellResult:
        outputs = []
        for output in result.outputs:
            if isinstance(output, Rich):
                data = dict(output.data)
                for mime, kind in FILE_KINDS.items():
                    if mime in data:
                        data[mime] = kind.from_bytes(self._read_blob(json.loads(data[mime])["blob"]))
                output = Rich(data, output.is_result)
            outputs.append(output)
        return replace(result, outputs=tuple(outputs))

    def _read_blob(self, name: str) -> bytes:
        raw = self._blob(name).read_bytes()
        if hashlib.sha256(raw).hexdigest() != name.split(".")[0]:
            raise ValueError(f"blob {name} does not match its hash")
        return raw

    def prune(self, keep: set[str], keep_stills: set[str]) -> tuple[int, int]:
        """Remove the entries whose key is not in `keep`, then the blobs no kept entry
        names, and the still pictures not in `keep_stills`. Returns how many entries and
        files (blobs, stills) were removed."""
        entries = blobs = 0
        named: set[str] = set()
        for entry in self.folder.glob("cells/*/*.json"):
            if entry.stem in keep:
                named.update(_BLOB_NAME.findall(entry.read_text(encoding="utf-8")))
            else:
                entry.unlink()
                entries += 1
        for blob in self.folder.glob("blobs/*/*"):
            if blob.name not in named:
                blob.unlink()
                blobs += 1
        for still in self.folder.glob("stills/*/*.png"):
            if still.stem not in keep_stills:
                still.unlink()
                blobs += 1
        return entries, blobs

    # -- still pictures of interactive outputs (for paper), by the hash of their page

    def _still(self, key: str) -> Path:
        return self.folder / "stills" / key[:2] / f"{key}.png"

    def still(self, key: str) -> bytes | None:
        try:
            return self._still(key).read_bytes()
        except OSError:
            return None

    def store_still(self, key: str, png: bytes) -> None:
        write_atomic(self._still(key), png)

    # -- per-deck manifest, for `status`

    def manifest(self, deck: str) -> list[CellKey]:
        path = self.folder / "decks" / f"{deck}.json"
        try:
            return [CellKey(**item) for item in json.loads(path.read_text(encoding="utf-8"))["cells"]]
        except (OSError, ValueError, TypeError, KeyError):
            return []

    def recorded(self, deck: str) -> dict[str, CellKey]:
        """The keys of the deck's last good build by their sources alone (CellKey.loose):
        what --frozen and `freeze: true` take a result from when only versions differ."""
        return {key.loose: key for key in self.manifest(deck) if key.loose}

    def write_manifest(self, deck: str, keys: list[CellKey]) -> None:
        """`keys`: those the deck's results are stored under (what computed them)."""
        data = {"format": FORMAT, "cells": [asdict(k) for k in keys]}
        write_if_changed(self.folder / "decks" / f"{deck}.json",
                         json.dumps(data, indent=1, sort_keys=True).encode())


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

"""The execution cache: a cell whose inputs have not changed is never run again.

A cell's key chains the previous cell's key (so a change reruns everything after it),
the code as executed with the options that change execution, the content of the files
the cell declares (`inputs`) and of local modules it imports, and the versions of Python
and of the packages it imports. The cache lives in `_freeze/` at the course root and is
meant to be committed, so a machine with no GPU and no network rebuilds from it.

Layout (format 1; every file is written to a temporary name and renamed into place):

    _freeze/cells/<k[:2]>/<key>.json  {"format", "key", "cell", "result"}: a CellResult;
                                       image data replaced by {"blob": "<sha256>.<ext>"}
    _freeze/blobs/<s[:2]>/<sha256>.<ext>  figures, by content hash
    _freeze/decks/<deck>.json          the last good build's cells and what their keys
                                       were made of, for `status`
    _freeze/stills/<h[:2]>/<h>.png     still pictures of interactive outputs, for paper
                                       (h: the hash of the output's page)
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from .analysis import CodeFacts, code_facts
from .cells import Cell
from .errors import DeckError, read_source
from .files import write_atomic
from .project import FREEZE_DIR
from .outputs import FILE_KINDS, CellResult, Rich

FORMAT = 1
_BLOB_NAME = re.compile(rf"[0-9a-f]{{64}}\.(?:{'|'.join(k.extension for k in FILE_KINDS.values())})")
# Backends transformers runs on: a cell importing one depends on the other's version.
_COMPANIONS = {"transformers": ("torch",), "torch": ("transformers",)}


@dataclass(frozen=True)
class CellKey:
    """A cell's cache key and what it was made of (kept for `status`)."""
    key: str
    cell: str                      # where: slides/x.md:12 (snippet.py#name)
    code: str                      # hash of the code and execution options
    inputs: dict[str, str] = field(default_factory=dict)    # file -> content hash
    packages: dict[str, str] = field(default_factory=dict)  # distribution -> version
    previous: str = ""


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def deck_keys(cells: list[Cell], root: Path, local_dirs: list[Path],
              settings: dict[str, Any]) -> list[CellKey]:
    """The chain of keys for a deck's cells. `settings` (seed, kernel env) start the chain."""
    previous = _hash("deck", FORMAT, platform.python_version(), settings)
    keys = []
    for cell in cells:
        facts = code_facts(cell.code)
        modules = local_modules(facts, root, local_dirs)
        inputs = {**declared_inputs(cell, root), **modules}
        packages = package_versions(facts, [root / name for name in modules])
        code = _hash(cell.code, cell.options.execution_options())
        key = _hash(previous, code, inputs, packages)
        keys.append(CellKey(key, cell.describe(), code, inputs, packages, previous))
        previous = key
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


def package_versions(facts: CodeFacts, local_modules: list[Path]) -> dict[str, str]:
    """Installed versions of the distributions the cell's imports (and its local modules'
    imports) come from; a stdlib or local module has none."""
    modules = set(facts.imports)
    for path in local_modules:
        modules |= code_facts(read_source(path)).imports
    modules -= {path.stem if path.name != "__init__.py" else path.parent.name for path in local_modules}
    distributions: set[str] = set()
    for module in modules:
        for dist in _distributions_of(module):
            distributions.add(dist)
            distributions.update(_COMPANIONS.get(dist, ()))
    return {d: v for d in sorted(distributions) if (v := _version(d))}


@lru_cache(maxsize=None)
def _distributions_of(module: str) -> tuple[str, ...]:
    """The installed distributions providing `module` (none for the standard library)."""
    import importlib.metadata  # slow to import: only when a key is made

    if module in sys.stdlib_module_names:
        return ()
    try:  # most distributions are named like their module: a direct look-up is cheap
        return (_canonical(importlib.metadata.distribution(module).metadata["Name"]),)
    except importlib.metadata.PackageNotFoundError:
        return tuple(_canonical(d) for d in _all_distributions().get(module, ()))


@lru_cache(maxsize=1)
def _all_distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()  # slow: scans every installed file list


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@lru_cache(maxsize=None)
def _version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class Cache:
    def __init__(self, root: Path) -> None:
        self.folder = root / FREEZE_DIR
        self.problems: list[str] = []  # unreadable entries met while loading

    def _entry(self, key: str) -> Path:
        return self.folder / "cells" / key[:2] / f"{key}.json"

    def _blob(self, name: str) -> Path:
        return self.folder / "blobs" / name[:2] / name

    def has(self, key: str) -> bool:
        return self._entry(key).exists()

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
        """Blobs first, the entry last: an entry never points at a missing blob."""
        stored = replace(result, outputs=tuple(self._to_blobs(o) if isinstance(o, Rich) else o
                                               for o in result.outputs))
        entry = {"format": FORMAT, "key": key.key, "cell": key.cell, "result": stored.to_json()}
        write_atomic(self._entry(key.key), json.dumps(entry, indent=1, sort_keys=True).encode())

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

    def write_manifest(self, deck: str, keys: list[CellKey]) -> None:
        data = {"format": FORMAT, "cells": [asdict(k) for k in keys]}
        write_atomic(self.folder / "decks" / f"{deck}.json",
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
    versions = sorted(name for name in set(key.packages) | set(before.packages)
                      if key.packages.get(name) != before.packages.get(name))
    if versions:
        name = versions[0]
        return f"package version changed: {name} {before.packages.get(name, '-')} -> {key.packages.get(name, '-')}"
    if before.previous != key.previous:
        return "an earlier cell changed"
    return "no stored output"

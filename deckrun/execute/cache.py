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

import hashlib
import json
import re
from dataclasses import asdict, replace
from pathlib import Path

from ..core.files import write_atomic, write_if_changed
from ..core.project import FREEZE_DIR
from .keys import FORMAT, CellKey
from .outputs import FILE_KINDS, CellResult, Rich

_BLOB_NAME = re.compile(rf"[0-9a-f]{{64}}\.(?:{'|'.join(k.extension for k in FILE_KINDS.values())})")


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

    def prune(self, keep: set[str], keep_stills: set[str], keep_diagrams: set[str]) -> tuple[int, int]:
        """Remove the entries whose key is not in `keep`, then the blobs no kept entry
        names, the still pictures not in `keep_stills` and the diagrams not in
        `keep_diagrams`. Returns how many entries and files (blobs, stills, diagrams) were
        removed."""
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
        for drawn in self.folder.glob("diagrams/*/*.svg"):
            if drawn.stem not in keep_diagrams:
                drawn.unlink()
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

    # -- diagrams drawn (SVG), by the hash of what they are drawn from (execute/diagrams.py)

    def _diagram(self, key: str) -> Path:
        return self.folder / "diagrams" / key[:2] / f"{key}.svg"

    def diagram(self, key: str) -> str | None:
        try:
            return self._diagram(key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def store_diagram(self, key: str, svg: str) -> None:
        write_atomic(self._diagram(key), svg.encode())

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



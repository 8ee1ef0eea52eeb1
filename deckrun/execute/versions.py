"""Runs inside a deck's warm kernel (its source is sent there when the kernel is set up;
it imports nothing of deckrun's): every version of every name the deck's cells set,
kept by (name, place), so that the kernel can go back to any place of the deck by
putting values back (timeline.py decides which).

Around each cell it notes the names the cell reads; those the cell may change in place
are copied first (the copy keeps the version as it was), the others are fingerprinted,
so that a change no one expected is seen: that version is then lost, and made again by
running its cell. After the cell, what it bound, deleted or changed is kept as the
versions of the cell's place + 1.
"""
from __future__ import annotations

import copy
import hashlib
import json
import sys
from typing import Any

_ABSENT = object()   # a version that is "not defined"
_MISSING = object()
_SKIPPED = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})
_ATOMS = (type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis))
_BUDGET = 20_000     # objects a fingerprint looks at before giving up
_ARRAY_BYTES = 8 * 2**20


class Versions:
    """The versions of a namespace's names, kept by (name, place)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.kept: dict[tuple[str, int], Any] = {}
        self._noted: tuple[dict[str, int], dict[str, tuple[int, Any, Any, Any]]] | None = None

    def names(self) -> dict[str, Any]:
        """The deck's names (IPython's own and private ones left out)."""
        return {name: value for name, value in self.namespace.items()
                if not name.startswith("_") and name not in _SKIPPED}

    def start(self) -> str:
        """Keep what the namespace holds before any cell (place 0); their names, as JSON."""
        names = self.names()
        self.kept.update({(name, 0): value for name, value in names.items()})
        return json.dumps(sorted(names))

    def move(self, assign: dict[str, int], remove: list[str], forget: list[list[Any]]) -> str:
        """Put back the versions `assign` names (name -> place), take away `remove`, drop
        the versions no longer needed; the names whose version is not kept, as JSON."""
        for name, place in forget:
            self.kept.pop((name, place), None)
        missing = []
        for name, place in assign.items():
            value = self.kept.get((name, place), _MISSING)
            if value is _MISSING:
                missing.append(name)
            if value is _MISSING or value is _ABSENT:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value
        for name in remove:
            self.namespace.pop(name, None)
        return json.dumps(missing)

    def before(self, reads: dict[str, int], protect: list[str]) -> None:
        """Before a cell: note what every name is, and the names it reads (`reads`: name ->
        the place of the version it holds), copying those it may change in place (None:
        it could not be copied)."""
        names = self.names()
        watched = {}
        for name, place in reads.items():
            value = names.get(name, _MISSING)
            if value is _MISSING or _immutable(value):
                continue
            copied = _MISSING
            if name in protect:
                try:
                    copied = copy.deepcopy(value)
                except Exception:  # noqa: BLE001 (not every object can be copied)
                    copied = None
            watched[name] = (place, value, fingerprint(value), copied)
        self._noted = ({name: id(value) for name, value in names.items()}, watched)

    def after(self, place: int) -> str:
        """After a cell: keep what it bound, deleted or changed as the versions of `place`.
        A read value it changed in place keeps its copy as the old version, else that
        version is lost. As JSON: produced, absent (deleted), mutated, lost."""
        assert self._noted is not None
        ids, watched = self._noted
        self._noted = None
        names = self.names()
        produced = {name for name, value in names.items() if ids.get(name) != id(value)}
        absent = set(ids) - set(names)
        mutated, lost = [], []
        for name, (old_place, value, printed, copied) in watched.items():
            # Told by the fingerprint, else taken to be changed if the code visibly changes it.
            changed = fingerprint(value) != printed if printed is not None else copied is not _MISSING
            if not changed:
                continue
            mutated.append(name)
            if copied is _MISSING or copied is None:
                self.kept.pop((name, old_place), None)
                lost.append([name, old_place])
            elif self.kept.get((name, old_place), _MISSING) is value:
                self.kept[(name, old_place)] = copied
            if names.get(name, _MISSING) is value:
                produced.add(name)
        for name in produced:
            self.kept[(name, place)] = names[name]
        for name in absent:
            self.kept[(name, place)] = _ABSENT
        return json.dumps({"produced": sorted(produced | absent), "absent": sorted(absent),
                           "mutated": sorted(mutated), "lost": lost})


def _immutable(value: Any) -> bool:
    if isinstance(value, _ATOMS):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(item) for item in value)
    return isinstance(value, type) or type(value).__name__ in ("module", "function", "builtin_function_or_method")


class _TooMuch(Exception):
    pass


def fingerprint(value: Any) -> Any:
    """A summary of a value that changes when the value is changed in place, as far as
    can be seen cheaply (tensors by their version counters, arrays and tables by a hash
    of their content, containers and objects by their parts); None if it cannot be told
    (too large)."""
    try:
        return _Walk().of(value)
    except (_TooMuch, RecursionError):
        return None
    except Exception:  # noqa: BLE001 (an object whose parts cannot be looked at)
        return None


class _Walk:
    def __init__(self) -> None:
        self.budget = _BUDGET
        self.seen: dict[int, int] = {}
        self.alive: list[Any] = []  # (ids stay unique while the walk holds what it saw)

    def spend(self, count: int = 1) -> None:
        self.budget -= count
        if self.budget < 0:
            raise _TooMuch

    def of(self, value: Any) -> Any:
        self.spend()
        if isinstance(value, _ATOMS):
            return value
        key = id(value)
        if key in self.seen:
            return ("@", self.seen[key])
        self.seen[key] = len(self.seen)
        self.alive.append(value)
        special = self.special(value)
        if special is not None:
            return special
        if isinstance(value, (list, tuple)):
            self.spend(len(value))
            return (type(value).__name__, tuple(self.of(item) for item in value))
        if isinstance(value, dict):
            self.spend(len(value))
            return ("dict", tuple((self.of(k), self.of(v)) for k, v in value.items()))
        if isinstance(value, (set, frozenset)):
            self.spend(len(value))
            return ("set", frozenset(self.of(item) for item in value))
        if isinstance(value, bytearray):
            return ("bytearray", hashlib.blake2b(value).hexdigest())
        if _immutable(value):
            return ("id", key)
        state = getattr(value, "__dict__", None)
        slots = [getattr(value, slot, None) for cls in type(value).__mro__
                 for slot in getattr(cls, "__slots__", ()) if isinstance(slot, str)]
        if state is None and not slots:
            return ("opaque", type(value).__qualname__, key)
        return (type(value).__qualname__, self.of(dict(state or {})), tuple(self.of(s) for s in slots))

    def special(self, value: Any) -> Any:
        """Tensors, models, arrays and tables, told apart cheaply (None: not one)."""
        torch = sys.modules.get("torch")
        if torch is not None:
            if isinstance(value, torch.Tensor):  # (its content is not hashed: which tensor, and its version counter)
                return ("tensor", id(value), value._version, tuple(value.shape), str(value.dtype), value.requires_grad)
            if isinstance(value, torch.nn.Module):
                tensors = list(value.parameters()) + list(value.buffers())
                self.spend(len(tensors))
                return ("module", tuple(m.training for m in value.modules()),
                        tuple((id(t), t._version) for t in tensors))
        numpy = sys.modules.get("numpy")
        if numpy is not None and isinstance(value, numpy.ndarray):
            data = value if value.nbytes <= _ARRAY_BYTES else value.reshape(-1)[::max(1, value.size // 2**20)]
            if value.dtype.hasobject:
                return ("array", value.shape, tuple(self.of(item) for item in data.reshape(-1)))
            return ("array", value.shape, value.dtype.str, hashlib.blake2b(numpy.ascontiguousarray(data)).hexdigest())
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series, pandas.Index)):
            self.spend(len(value))
            hashed = pandas.util.hash_pandas_object(value, index=not isinstance(value, pandas.Index))
            columns = tuple(map(str, getattr(value, "columns", ())))
            return ("table", columns, str(getattr(value, "dtypes", "")), hashlib.blake2b(hashed.values).hexdigest())
        return None

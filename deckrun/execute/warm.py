"""A kept kernel and what it holds (watch mode; a one-off build has one too, kept for its
deck's build only): which cells it ran as they are now, the code it ran since at each
place, and the values a cell rebound that it kept aside to put back. The pool owns it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..source.analysis import CodeFacts, code_facts
from ..source.cells import Cell
from .connection import Connection, KernelDied, KernelSettings, LocalConnection
from .kernel import Kernel, OnStream
from .outputs import CellResult
from .remote import GatewayConnection


class WarmKernel:
    """A deck's kernel with its bookkeeping; forgotten whenever the kernel starts afresh."""

    def __init__(self, kernel: Kernel, keep_values: bool) -> None:
        self.kernel = kernel
        self.keep_values = keep_values  # keep rebound values aside to put back (watch mode)
        self._generation = -1
        self._forget()

    def _forget(self) -> None:
        self._ran: dict[int, str] = {}  # cell index -> cache key of what it last ran there
        self._codes: dict[int, str] = {}  # cell index -> the code it last ran there, even if it raised
        self._values = ValueLedger()

    def _sync(self) -> None:
        if self._generation != self.kernel.generation:  # restarted: it holds nothing
            self._forget()
            self._generation = self.kernel.generation

    def run(self, cell: Cell, index: int, key: str, on_stream: OnStream | None = None) -> CellResult:
        """Run `cell`, the deck's cell `index` whose cache key is `key`; the kernel then
        holds its state (unless it raised without being allowed to)."""
        facts = code_facts(cell.code)
        self._sync()
        self._ran.pop(index, None)
        self._codes[index] = cell.code
        keep, drop = self._values.before_run(index, facts) if self.keep_values else ([], [])
        result = self.kernel.run(cell, index, keep, drop, on_stream)
        self._sync()
        self._values.after_run(index, facts, ok=not result.error)
        if not result.error or cell.options.error:
            self._ran[index] = key
        return result

    def holds(self, index: int, key: str) -> bool:
        """Did this kernel run cell `index` as it is now (so its state is here)?"""
        self._sync()
        return self._ran.get(index) == key

    def codes_ran_from(self, index: int) -> list[str]:
        """The code this kernel ran as cells `index` and after: what may have changed the
        state those cells find."""
        self._sync()
        return [code for i, code in self._codes.items() if i >= index]

    def restore_values(self, facts: list[CodeFacts], first: int, held: set[int]) -> frozenset[str]:
        """Put back the values that cells from `first` on rebound, where the kernel kept
        them aside as the earlier cells left them; return the names that now hold the
        values cell `first` needs (put back, or never changed)."""
        changed = frozenset().union(*(code_facts(code).changes for code in self.codes_ran_from(first)))
        right, kept = self._values.restorable(facts, first, held, changed)
        if kept and self.kernel.restore(kept):
            self._values.restored(kept)
            return right | frozenset(kept)
        return right


class KernelPool:
    """The kernel of each deck. A one-off build starts a fresh kernel per deck and shuts
    it down after; the watcher keeps them warm, so imports and models stay loaded."""

    def __init__(self, keep_warm: bool = False) -> None:
        self.keep_warm = keep_warm
        self._kernels: dict[Path, WarmKernel] = {}
        self._lock = threading.Lock()  # decks build in threads; each has its own kernel

    @contextmanager
    def lease(self, deck: Path, settings: KernelSettings) -> Iterator[WarmKernel]:
        """The deck's kernel for one build: its warm one if it is alive and has the same
        settings, else a fresh one. A kernel that died is not kept."""
        with self._lock:
            warm = self._kernels.get(deck)
        if warm is not None and (warm.kernel.settings != settings or not warm.kernel.alive()):
            self.discard(deck)
            warm = None
        if warm is None:
            kernel = Kernel(settings, connect(settings))
            try:
                kernel.start()
            except BaseException:
                kernel.shutdown()
                raise
            warm = WarmKernel(kernel, keep_values=self.keep_warm)
            with self._lock:
                self._kernels[deck] = warm
        try:
            yield warm
        except KernelDied:
            self.discard(deck)
            raise
        finally:
            if not self.keep_warm:
                self.discard(deck)

    def discard(self, deck: Path) -> None:
        with self._lock:
            warm = self._kernels.pop(deck, None)
        if warm is not None:
            warm.kernel.shutdown()

    def shutdown(self) -> None:
        with self._lock:
            decks = list(self._kernels)
        for deck in decks:
            self.discard(deck)


def connect(settings: KernelSettings) -> Connection:
    """Where the deck's kernel runs: here, or on its gateway."""
    return LocalConnection(settings) if settings.gateway is None else GatewayConnection(settings)


Shape = tuple[tuple[int, int], ...]  # (cell, run number) of the run that bound a value, then of each that mutated it


class ValueLedger:
    """What shaped the values a warm kernel holds, and which values it kept aside.

    A cell that rebinds a name (a later slide's `model = ...`) first keeps the name's old
    value in the kernel. When an earlier cell is edited, the kernel can put that value
    back instead of replaying the cells that made it (loading a model again), provided
    the kept value was shaped by the very runs the edited cell's state comes from: the
    last cell before it that binds the name, then every cell in between that mutates it,
    each as the kernel last ran it. Only values a cell rebinds without reading or mutating
    them are kept (`model = model.eval()` returns the same, changed object).
    """

    def __init__(self) -> None:
        self._clock = 0
        self._runs: dict[int, int] = {}  # cell -> the number of its last run
        self._shapes: dict[str, Shape] = {}  # name -> what shaped its value now (absent: unknown)
        self._kept: dict[tuple[int, str], Shape] = {}  # (cell, name) kept before that cell ran -> its shape

    def before_run(self, index: int, facts: CodeFacts) -> tuple[list[str], list[tuple[int, str]]]:
        """Names to keep the values of before cell `index` runs, and kept values to drop:
        the cell's earlier ones and those it may now mutate (the kept object is the one
        the name holds, after a restore)."""
        keep = sorted(n for n in facts.binds - facts.mutates - facts.needs if n in self._shapes)
        drop = [key for key, shape in self._kept.items() if key[0] == index or not facts.understood
                or key[1] in facts.mutates and shape == self._shapes.get(key[1])]
        for key in drop:
            del self._kept[key]
        self._kept.update({(index, name): self._shapes[name] for name in keep})
        return keep, drop

    def after_run(self, index: int, facts: CodeFacts, ok: bool) -> None:
        self._clock += 1
        self._runs[index] = self._clock
        if not facts.understood:  # anything may have changed
            self._shapes.clear()
            return
        for name in facts.changes:
            shape = self._shapes.pop(name, None)
            if not ok or name in facts.binds and name in facts.mutates:
                continue
            if name in facts.binds:
                self._shapes[name] = ((index, self._clock),)
            elif shape is not None:
                self._shapes[name] = shape + ((index, self._clock),)

    def restorable(self, facts: list[CodeFacts], first: int, held: set[int],
                   names: frozenset[str]) -> tuple[frozenset[str], dict[str, tuple[int, str]]]:
        """Of `names`, those that hold the value cell `first` needs, and those a kept value
        can be put back for (name -> kept key)."""
        right: set[str] = set()
        kept: dict[str, tuple[int, str]] = {}
        for name in names:
            wanted = self._wanted(facts, first, held, name)
            if wanted is None:
                continue
            if self._shapes.get(name) == wanted:
                right.add(name)
            else:
                key = next((k for k, shape in self._kept.items() if k[1] == name and shape == wanted), None)
                if key is not None:
                    kept[name] = key
        return frozenset(right), kept

    def restored(self, kept: dict[str, tuple[int, str]]) -> None:
        for name, key in kept.items():
            self._shapes[name] = self._kept[key]

    def _wanted(self, facts: list[CodeFacts], first: int, held: set[int], name: str) -> Shape | None:
        """The shape `name` has after cells before `first`, as the kernel ran them: None
        if they did not all run as they are now, or if it cannot be told."""
        binder = next((j for j in range(first - 1, -1, -1) if name in facts[j].binds), None)
        if binder is None or not all(f.understood for f in facts[binder:first]) \
                or name in facts[binder].mutates:
            return None
        chain = [binder] + [j for j in range(binder + 1, first) if name in facts[j].mutates]
        if not all(j in held and j in self._runs for j in chain):
            return None
        return tuple((j, self._runs[j]) for j in chain)

"""A kept kernel and what it holds (watch and present; a one-off build has one too, kept
for its deck's build only): the deck's cells as it should run them, and what each of its
runs left (timeline.py). The pool owns it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..core.errors import DeckError
from ..source.analysis import code_facts
from ..source.cells import Cell
from .connection import Connection, KernelDied, LocalConnection
from .kernel import Kernel, OnStream
from .outputs import CellResult
from .remote import GatewayConnection
from .settings import KernelSettings
from .timeline import Timeline


class WarmKernel:
    """A deck's kernel with its timeline; the timeline is forgotten whenever the kernel
    starts afresh. A kernel that keeps versions (`kernel.keeping`) can go back to any
    place of the deck; one that does not only moves forward."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.timeline = Timeline([], keeping=kernel.keeping)
        self._generation = -1

    def _sync(self) -> bool:
        """Forget the timeline if the kernel restarted (it holds nothing); say if it did."""
        if self._generation == self.kernel.generation:
            return False
        self.timeline.forget_kernel()
        self.timeline.start(self.kernel.initial)
        self._generation = self.kernel.generation
        return True

    def follow(self, codes: list[str]) -> None:
        """The deck's cells as they are now."""
        self._sync()
        self.timeline.update(codes)

    def order(self, stale: list[int]) -> list[int]:
        """The cells to run for `stale` (in deck order): a kernel that keeps versions finds
        the replays each needs as it comes to it (`replays`); one that does not gets them
        all now."""
        self._sync()
        return stale if self.kernel.keeping else self.timeline.plan(stale)

    def replays(self, index: int) -> Iterator[int]:
        """The cells to run again, one by one, before cell `index` finds the state its
        place needs (the caller runs each before asking for the next)."""
        while self.kernel.keeping:
            self._sync()
            replay = self.timeline.next_replay(index)
            if replay is None:
                return
            yield replay

    def run(self, cell: Cell, index: int, on_stream: OnStream | None = None) -> CellResult:
        """Run `cell` (its code may be a live edit of the deck's cell `index`) in the state
        of its place; the timeline records what it changed."""
        language = _ALIASES.get(cell.language, cell.language)
        if language != self.kernel.language:
            raise DeckError(f"this cell's code is {cell.language} (its fence says `{cell.language} run`), but the "
                            f"deck's kernel runs {self.kernel.language}: set the kernel with `execute: kernel: NAME` "
                            "in the front matter (jupyter kernelspec list shows the kernels installed)", cell.reference)
        self._sync()
        step = self.timeline.step(index, cell.code)
        result, changes = self.kernel.run(cell, step if self.kernel.keeping else None, on_stream)
        if self._sync():
            return result  # restarted while it ran: nothing it did is held
        if changes is None:  # (a kernel that does not keep versions: what the code says)
            facts = code_facts(cell.code)
            self.timeline.record(step, facts.binds | facts.mutates)
            return result
        self.timeline.moved(step)
        self.timeline.record(step, changes.produced, changes.mutated,
                             changes.lost | {(name, step.assign[name]) for name in changes.missing},
                             changes.absent)
        return result


_ALIASES = {"py": "python", "python3": "python", "sh": "bash", "shell": "bash"}


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
            kernel = Kernel(settings, connect(settings), keeping=self.keep_warm)
            try:
                kernel.start()
            except BaseException:
                kernel.shutdown()
                raise
            warm = WarmKernel(kernel)
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

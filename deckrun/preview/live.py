"""A deck's live cells while it is presented: one thread that owns its kernel's work,
live runs and resets first in the order they were asked, then warming (each cell run
once, in deck order, for the state it leaves).

A live run of a cell runs in the state of its place in the deck (the timeline puts back
what the cells before it left, runs again what it cannot put back) and changes what the
cells after it will see: it is the cell's code from then on, until Reset brings the built
code back. Every request for a cell takes a ticket; a run whose ticket is no longer the
cell's latest (a newer run, a reset, a stop) shows nothing. A kernel that dies is
restarted and brought back to the state the run needed, its progress shown.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from ..core.errors import DeckError, ToolError
from ..execute.connection import KernelDied
from ..execute.failures import error_hint
from ..execute.outputs import CellResult, Error
from ..execute.warm import WarmKernel
from ..source.cells import Cell
from ..source.deck import Deck

STREAM_EVERY = 0.1        # seconds between two pieces of a running cell's printed text sent to the pages
STREAM_TAIL = 64 * 1024   # characters of printed text kept for the pages between two sends


class LiveEvents(Protocol):
    """What the pages are told (server.Broadcast)."""

    def kernel(self, deck: str, state: str, done: int, total: int) -> None: ...

    def running(self, deck: str, cell: str, ticket: int) -> None: ...

    def stream(self, deck: str, cell: str, text: str, ticket: int) -> None: ...

    def result(self, deck: str, cell: str, ticket: int, html: str, failed: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class Job:
    kind: str       # run | recover
    cell: int = -1  # the deck's cell (its index)
    code: str = ""
    ticket: int = 0


class LiveDeck:
    """A presented deck: as built, the code its cells run live, and its kernel's worker."""

    def __init__(self, deck: Deck, names: dict[str, int], events: LiveEvents,
                 kernel: Callable[[], AbstractContextManager[WarmKernel]],
                 outputs_html: Callable[[Cell, CellResult], str]) -> None:
        self.deck = deck
        self.names = names                    # the shown cells: FILE:LINE -> index
        self.events = events
        self.kernel = kernel                  # a lease of the deck's warm kernel
        self.outputs_html = outputs_html      # a live result, as the slides show outputs
        self.live: dict[int, str] = {}        # cell -> the code it runs live (what Reset undoes)
        self._tickets: dict[int, int] = {}
        self._jobs: deque[Job] = deque()
        self._ready = threading.Condition()
        self._running: tuple[int, WarmKernel] | None = None
        self._unwarmed = True  # the kernel may have cells it never ran (warmed when nothing else waits)
        self._problem = ""     # why warming could not give every slide its state
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"live-{deck.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._jobs.clear()
            self._ready.notify()

    # -- requests (from the server's threads)

    def run(self, index: int, code: str) -> int:
        """Queue a live run of cell `index` with `code`; its ticket (a run of the cell
        still waiting will not run: its result would show nothing)."""
        with self._ready:
            ticket = self._ticket(index)
            self._jobs.append(Job("run", index, code, ticket))
            self._ready.notify()
        return ticket

    def reset(self, index: int) -> int:
        """The built code is the cell's again, now: what runs of it are on their way show
        nothing, and the cells after it see what the built code leaves. Its ticket."""
        with self._ready:
            self.live.pop(index, None)
            return self._ticket(index)

    def stop(self, index: int) -> int | None:
        """Interrupt cell `index` if it runs (its result shows how it stopped: None), else
        forget its waiting run (its new ticket)."""
        with self._ready:
            running = self._running
            if running is None or running[0] != index:
                return self._ticket(index)
        running[1].kernel.connection.interrupt()
        return None

    def _ticket(self, index: int) -> int:
        ticket = self._tickets.get(index, 0) + 1
        self._tickets[index] = ticket
        return ticket

    def current(self, job: Job) -> bool:
        with self._ready:
            return self._tickets.get(job.cell) == job.ticket

    def codes(self) -> list[str]:
        """The code each cell runs now: its live code, else the built one."""
        with self._ready:
            return [self.live.get(index, cell.code) for index, cell in enumerate(self.deck.cells)]

    def rebuilt(self, deck: Deck) -> None:
        """The deck was built again (an edit kept): its new cells; live code that the
        build now has is no longer live."""
        with self._ready:
            self.live = {index: code for index, code in self.live.items()
                         if index < len(deck.cells) and deck.cells[index].code != code}
            self.deck = deck

    # -- the worker

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._closed and not self._jobs and self._warmed():
                    self._ready.wait()
                if self._closed:
                    return
                job = self._jobs.popleft() if self._jobs else None
            try:
                if job is None:
                    self._warm_one()
                elif job.kind == "run":
                    self._run(job)
                else:
                    self._recover(job.cell)
            except Exception as exc:  # noqa: BLE001 (a bug must not stop the deck's live cells)
                self.events.kernel(self.deck.name, f"not ready: {type(exc).__name__}: {exc}".splitlines()[0], 0, 0)
                self._unwarmed = False  # (said; the next run tries again)

    def _warmed(self) -> bool:
        return not self._unwarmed

    def _cell(self, index: int, codes: list[str]) -> Cell:
        cell = self.deck.cells[index]
        return cell if cell.code == codes[index] else replace(cell, code=codes[index])

    def _follow(self, warm: WarmKernel) -> list[str]:
        codes = self.codes()
        warm.follow(codes)
        return codes

    def _warm_one(self) -> None:
        """Run the first cell the kernel never ran (for its state; its output is the slide's)."""
        total = len(self.deck.cells)
        try:
            with self.kernel() as warm:
                codes = self._follow(warm)
                pending = [i for i in range(total) if i not in warm.timeline.runs]
                if not pending:
                    self._unwarmed = False
                    self.events.kernel(self.deck.name, self._problem or "ready", total, total)
                    return
                index = pending[0]
                if index == 0:
                    self._problem = ""
                self.events.kernel(self.deck.name, "warming", total - len(pending), total)
                for replay in warm.replays(index):
                    warm.run(self._cell(replay, codes), replay)
                result = warm.run(self._cell(index, codes), index)
                cell = self.deck.cells[index]
                if result.error and not cell.options.error:
                    self._problem = (f"not ready: {cell.describe()} raised {result.error.ename}: "
                                     f"{result.error.evalue}").splitlines()[0]
        except KernelDied as died:
            self.events.kernel(self.deck.name, f"restarting: {died.message}".splitlines()[0], 0, total)
        except (DeckError, ToolError) as exc:
            self.events.kernel(self.deck.name, f"not ready: {exc}".splitlines()[0], 0, total)
            self._unwarmed = False  # (said; the next run tries again)

    def _run(self, job: Job) -> None:
        if not self.current(job):
            return
        name = next(n for n, i in self.names.items() if i == job.cell)
        deck = self.deck.name
        self.events.running(deck, name, job.ticket)
        cell = replace(self.deck.cells[job.cell], code=job.code)

        def send(text: str) -> None:
            if self.current(job):
                self.events.stream(deck, name, text, job.ticket)

        streamer = _Streamer(send)
        with self._ready:
            before = self.live.get(job.cell)
        try:
            with self.kernel() as warm:
                with self._ready:
                    self.live[job.cell] = job.code
                codes = self._follow(warm)
                self._replay(warm, job.cell, codes)
                with self._ready:
                    self._running = (job.cell, warm)
                try:
                    result = warm.run(cell, job.cell, on_stream=streamer.write)
                finally:
                    with self._ready:
                        self._running = None
                    streamer.flush()
        except KernelDied as died:
            result = CellResult((Error("KernelDied", f"{died.message}. It is being restarted and brought back "
                                       "to this slide's state: run the cell again when it is ready.", ""),))
            with self._ready:
                # A run its kernel did not survive left no state: the kernel comes back without
                # it (running it again to warm up could end the new kernel the same way).
                if before is None:
                    self.live.pop(job.cell, None)
                else:
                    self.live[job.cell] = before
                self._jobs.appendleft(Job("recover", job.cell))
        except (DeckError, ToolError) as exc:
            result = CellResult((Error(type(exc).__name__, str(exc).splitlines()[0], ""),))
        if not self.current(job):
            return
        error = result.error
        shown = error is not None and not cell.options.error
        failed = f"{error.ename}: {error.evalue} {error_hint(error.ename)}".strip() if error and shown else ""
        self.events.result(deck, name, job.ticket, self.outputs_html(cell, result), failed, result.seconds)

    def _replay(self, warm: WarmKernel, index: int, codes: list[str]) -> None:
        """Run again, for their state, the cells before `index` whose state the kernel
        cannot put back (saying so: going back to before a model was trained costs the
        training)."""
        for count, replay in enumerate(warm.replays(index), start=1):
            cell = self._cell(replay, codes)
            self.events.kernel(self.deck.name, f"bringing back the state of this slide: {cell.describe()}", count, 0)
            result = warm.run(cell, replay)
            if result.error and not cell.options.error:
                raise DeckError(f"{cell.describe()}, run again for the state this cell needs, raised "
                                f"{result.error.ename}: {result.error.evalue}")
        if self._unwarmed:
            self.events.kernel(self.deck.name, "warming", len(warm.timeline.runs), len(codes))
        else:
            self.events.kernel(self.deck.name, "ready", len(codes), len(codes))

    def _recover(self, index: int) -> None:
        """A fresh kernel (the last one died), brought back to the state cell `index` needs,
        then warmed in the background."""
        total = len(self.deck.cells)
        self.events.kernel(self.deck.name, "restarting", 0, total)
        with self.kernel() as warm:
            codes = self._follow(warm)
            for count, replay in enumerate(warm.replays(index), start=1):
                self.events.kernel(self.deck.name, "restarting", count, total)
                warm.run(self._cell(replay, codes), replay)
        self._unwarmed = True
        self.events.kernel(self.deck.name, "ready for this slide", total, total)


class _Streamer:
    """A running cell's printed text, sent on at most every STREAM_EVERY seconds (a cell
    that prints without end sends its latest lines, not every line); what waits is sent
    when its time comes even if the cell prints nothing more."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self.send = send
        self.pending = ""
        self.sent = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def write(self, _name: str, text: str) -> None:
        with self._lock:
            self.pending += text
            if len(self.pending) > STREAM_TAIL:  # the pages show the last lines: a gap, marked
                self.pending = "\u2026\n" + self.pending[-STREAM_TAIL:].split("\n", 1)[-1]
            wait = self.sent + STREAM_EVERY - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            text, self.pending, self.sent = self.pending, "", time.monotonic()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if text:
            self.send(text)

"""What the build says on the terminal: per deck (its cells as they run, how long, what
it wrote), warnings and errors, a summary. Decks built at the same time each get a
DeckLog that keeps their lines and prints them as one block when the deck is done, so
lines of different decks never mix."""
from __future__ import annotations

import sys
import threading
import traceback
from pathlib import Path
from typing import Protocol, TextIO

from .errors import DeckError, Location, ToolError


class Described(Protocol):
    """What a log says of a cell: where it is (the source stage's Cell)."""

    def describe(self, root: Path | None = None) -> str: ...


class Failure(Protocol):
    @property
    def ename(self) -> str: ...


class Finished(Protocol):
    """What a log says of a cell's run: how long, and whether it raised (the execute
    stage's CellResult)."""
    @property
    def seconds(self) -> float: ...

    @property
    def error(self) -> Failure | None: ...


class Progress:
    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.out, self.err = out, err
        self.terminal = out.isatty()
        self.warnings = 0  # how many were said
        self._line_open = False
        self._lock = threading.RLock()
        self._muted = False

    def mute(self) -> None:
        """Say nothing more: the build was interrupted, and what its unfinished decks
        report as they stop is not news."""
        with self._lock:
            self._muted = True

    def _print(self, text: str, end: str = "\n", to_err: bool = False) -> None:
        with self._lock:
            if not self._muted:
                print(text, end=end, file=self.err if to_err else self.out, flush=True)
                self._line_open = end != "\n"

    def _close_line(self) -> None:
        """End a cell's open `... ` line before printing anything else."""
        with self._lock:
            if self._line_open:
                self._print("")

    def line(self, text: str) -> None:
        with self._lock:
            self._close_line()
            self._print(text)

    def deck(self, path: Path, cells: int, live: bool) -> "DeckLog":
        """The log of one deck's build: printed as it goes (`live`), else kept and printed
        whole by DeckLog.done()."""
        return DeckLog(self, path, cells, live)

    def rendering(self, fmt: str, decks: int) -> None:
        self.line(f"rendering {fmt}" + (f" ({decks} decks in one Marp run)" if decks > 1 else ""))

    def written(self, path: Path, paths: list[Path], seconds: float) -> None:
        names = ", ".join(str(Location(p)) for p in paths)
        self.line(f"{Location(path)}: " + (f"wrote {names} ({seconds:.1f}s)" if paths else "all up to date"))

    def failed(self, path: Path, error: Exception) -> None:
        with self._lock:
            self._close_line()
            located = isinstance(error, DeckError) and error.where is not None
            self._print(f"error: {error}" if located else f"error: {Location(path)}: {error}", to_err=True)
            if not isinstance(error, (DeckError, ToolError)):  # a bug in deckrun: show where
                self._print("".join(traceback.format_exception(error)), end="", to_err=True)

    def note(self, message: str) -> None:
        self.line(message)

    def error(self, message: str) -> None:
        """A command's own failure (a deck's: `failed`)."""
        with self._lock:
            self._close_line()
            self._print(f"error: {message}", to_err=True)

    def interrupted(self) -> None:
        with self._lock:
            self._muted = False
            self._print("\ninterrupted", to_err=True)

    def warn(self, message: str) -> None:
        with self._lock:
            self.warnings += 1
            self._close_line()
            self._print(f"warning: {message}", to_err=True)

    def summary(self, built: int, failed: int, cells: int, cached: int, outputs: int,
                seconds: float) -> None:
        decks = f"{built} deck{'s' if built != 1 else ''} built"
        failures = f", {failed} failed" if failed else ""
        self.line(f"{decks}{failures}; {cells} cell{'s' if cells != 1 else ''} run, "
                    f"{cached} from the cache; "
                    f"{outputs} file{'s' if outputs != 1 else ''} written; {seconds:.1f}s")


class DeckLog:
    """One deck's lines (and the hooks its cells report through)."""

    def __init__(self, progress: Progress, path: Path, cells: int, live: bool) -> None:
        self.progress, self.path, self.live = progress, path, live
        self.lines: list[str] = []
        self._cell = ""
        self.line(f"{Location(path)}: {cells} cell{'s' if cells != 1 else ''}")

    def line(self, text: str) -> None:
        if self.live:
            self.progress.line(text)
        else:
            self.lines.append(text)

    def on_cell_start(self, index: int, total: int, cell: Described, replay: bool = False) -> None:
        self._cell = f"  [{index + 1}/{total}] {cell.describe()}" + (" (replay: state only)" if replay else "")
        if self.live:
            with self.progress._lock:
                self.progress._close_line()
                self.progress._print(f"{self._cell} ...", end="")

    def on_cell_output(self, name: str, text: str) -> None:
        """(What a cell prints goes to its slide, not to the terminal.)"""

    def on_cell_executed(self, result: Finished) -> None:
        took = f" {result.seconds:.1f}s" + (f" {result.error.ename}" if result.error else "")
        if self.live:
            self.progress._print(took)
        elif self.progress.terminal:  # a complete line now, so a slow deck shows it is alive
            self.progress.line(f"{self._cell} ...{took}")
        else:
            self.lines.append(f"{self._cell} ...{took}")

    def cells(self, ran: int, cached: int, replayed: int) -> None:
        replays = f", {replayed} replayed" if replayed else ""
        self.line(f"  cells: {cached} from the cache, {ran} ran{replays}")

    def up_to_date(self, fmt: str) -> None:
        self.line(f"  {fmt} up to date")

    def done(self) -> None:
        if not self.live and self.lines:
            with self.progress._lock:
                for text in self.lines:
                    self.progress.line(text)
        self.lines = []

"""What the build says on the terminal: per deck, per cell (which, how long), a summary."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import TextIO

from .cells import Cell
from .errors import DeckError, Location, ToolError
from .outputs import CellResult


class Progress:
    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.out, self.err = out, err
        self._line_open = False

    def _print(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)
        self._line_open = end != "\n"

    def _close_line(self) -> None:
        if self._line_open:
            self._print("")

    def deck_started(self, path: Path, cells: int) -> None:
        self._close_line()
        self._print(f"{Location(path)}: {cells} cell{'s' if cells != 1 else ''}")

    def on_cell_start(self, index: int, total: int, cell: Cell, replay: bool = False) -> None:
        self._close_line()
        what = " (replay: state only)" if replay else ""
        self._print(f"  [{index + 1}/{total}] {cell.describe()}{what} ...", end="")

    def on_cell_executed(self, result: CellResult) -> None:
        status = f" {result.error.ename}" if result.error else ""
        self._print(f" {result.seconds:.1f}s{status}")

    def rendering(self, fmt: str) -> None:
        self._close_line()
        self._print(f"  rendering {fmt}")

    def up_to_date(self, fmt: str) -> None:
        self._close_line()
        self._print(f"  {fmt} up to date")

    def written(self, paths: list[Path], seconds: float) -> None:
        self._close_line()
        names = ", ".join(str(Location(p)) for p in paths)
        self._print(f"  wrote {names} ({seconds:.1f}s)" if paths else "  all up to date")

    def failed(self, path: Path, error: Exception) -> None:
        self._close_line()
        located = isinstance(error, DeckError) and error.where is not None
        print(f"error: {error}" if located else f"error: {Location(path)}: {error}",
              file=self.err, flush=True)
        if not isinstance(error, (DeckError, ToolError)):  # a bug in deckrun: show where
            traceback.print_exception(error, file=self.err)

    def note(self, message: str) -> None:
        self._close_line()
        self._print(message)

    def warn(self, message: str) -> None:
        self._close_line()
        print(f"warning: {message}", file=self.err, flush=True)

    def cells(self, ran: int, cached: int, replayed: int) -> None:
        self._close_line()
        replays = f", {replayed} replayed" if replayed else ""
        self._print(f"  cells: {cached} from the cache, {ran} ran{replays}")

    def summary(self, built: int, failed: int, cells: int, cached: int, outputs: int,
                seconds: float) -> None:
        self._close_line()
        decks = f"{built} deck{'s' if built != 1 else ''} built"
        failures = f", {failed} failed" if failed else ""
        self._print(f"{decks}{failures}; {cells} cell{'s' if cells != 1 else ''} run, "
                    f"{cached} from the cache; "
                    f"{outputs} file{'s' if outputs != 1 else ''} written; {seconds:.1f}s")

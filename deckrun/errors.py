"""Errors in a lecturer's input, reported with the file and line they come from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    path: Path
    line: int | None = None

    def __str__(self) -> str:
        where = _display_path(self.path)
        return f"{where}:{self.line}" if self.line else where


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class DeckError(Exception):
    """A problem a lecturer can fix: it says what, where, and (optionally) more detail.

    `where` is the primary place (the deck line); `also` lists related places, e.g. the
    snippet file and line a failing cell comes from.
    """

    def __init__(self, message: str, where: Location | None = None, *,
                 also: tuple[Location, ...] = (), detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.also = also
        self.detail = detail

    def __str__(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        lines = [head] + [f"  from {loc}" for loc in self.also]
        if self.detail:
            lines.append(self.detail.rstrip())
        return "\n".join(lines)


class ToolError(Exception):
    """A problem with the machine rather than the deck: no browser, no Marp CLI, Marp failed."""

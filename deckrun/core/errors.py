"""Errors in a lecturer's input, reported with the file and line they come from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    path: Path
    line: int | None = None

    def __str__(self) -> str:
        return self.shown()

    def shown(self, root: Path | None = None) -> str:
        """Relative to `root` (the course: for what is stored or published, the same from
        any folder), else to the current folder (for the terminal)."""
        where = _display_path(self.path, root)
        return f"{where}:{self.line}" if self.line else where


def _display_path(path: Path, base: Path | None = None) -> str:
    try:
        return str(path.resolve().relative_to((base or Path.cwd()).resolve()))
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


def read_source(path: Path) -> str:
    """A source file's text (deck, partial, snippet, course.yaml, theme); one that is not
    UTF-8 is a DeckError saying where the first bad byte is."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        guess = " (it looks like Latin-1 or Windows-1252)" if _single_byte(raw) else ""
        raise DeckError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column {column} "
                        f"cannot be read{guess}; save the file as UTF-8", Location(path, line)) from None


def _single_byte(raw: bytes) -> bool:
    return all(b < 0x80 or b >= 0xA0 or b in (0x80, 0x85, 0x91, 0x92, 0x93, 0x94, 0x96, 0x97) for b in raw)

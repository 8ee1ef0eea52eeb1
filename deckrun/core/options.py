"""What a build is asked to do: formats, strictness, the cache's use (--frozen, --refresh)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what --refresh names
    from ..source.cells import Cell
    from ..source.deck import Deck


@dataclass(frozen=True)
class BuildOptions:
    formats: tuple[str, ...] = ("html", "pdf")
    strict: bool = False  # warnings (e.g. an `error: true` cell that did not raise) fail the deck
    frozen: bool = False  # never execute: every cell must come from the cache
    refresh: tuple[str, ...] = ()  # "all", a deck path, DECK_OR_SNIPPET:LINE or file.py#cell
    refresh_assets: bool = False  # fetch remote images again even if the asset cache has them
    gateway: str | None = None  # --gateway URL (or "local"): where cells run

    def refreshes(self, deck: Deck, cell: Cell) -> bool:
        return any(target_names(target, deck, cell) for target in self.refresh)


def target_names(target: str, deck: Deck, cell: Cell) -> bool:
    """Does a --refresh target name this cell?"""
    if target == "all":
        return True
    if "#" in target:
        file, _, name = target.partition("#")
        return cell.name == name and cell.origin.path.name == Path(file).name
    path, _, line = target.rpartition(":")
    if not (line.isdigit() and path):
        return Path(target).resolve() == deck.path
    where, number = Path(path).resolve(), int(line)
    code_lines = range(cell.origin.line or 0, (cell.origin.line or 0) + cell.code.count("\n") + 1)
    return (where == cell.reference.path and number == cell.reference.line) or \
        (where == cell.origin.path and number in code_lines)

"""What `--refresh TARGET` names: every cell (all), a deck's, one by the deck line that
shows it or a line of its code (FILE:LINE), or a snippet file's cell (file.py#cell)."""
from __future__ import annotations

from pathlib import Path

from ..core.options import BuildOptions
from .cells import Cell
from .deck import Deck


def refreshes(options: BuildOptions, deck: Deck, cell: Cell) -> bool:
    """Is the cell to run again whatever the cache holds?"""
    return any(target_names(target, deck, cell) for target in options.refresh)


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

"""Where the tools deckrun runs come from: the Node packages pinned in package.json."""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # deckrun/


def node_modules(root: Path) -> Path | None:
    """The packages pinned in package.json (the Marp CLI, browser libraries): the
    course's own node_modules, else deckrun's checkout's."""
    for folder in (root, PACKAGE.parent):
        if (folder / "node_modules" / ".bin" / "marp").exists():
            return folder / "node_modules"
    return None

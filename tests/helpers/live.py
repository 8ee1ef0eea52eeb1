"""A presented deck's live cells, driven in its page (present.js's `deckrunLive`)."""
from __future__ import annotations

import json
from typing import Any

from .browser import Browser

READY = "document.querySelector('[data-deckrun-kernel]')?.dataset.deckrunKernel === 'ready'"


def cell_of(lines: list[str], first_line: str, deck: str = "slides/live.md") -> str:
    """A cell's name on the page: FILE:LINE of its fence (the line before its first line)."""
    return f"{deck}:{lines.index(first_line)}"


def live(browser: Browser, call: str, *args: Any) -> Any:
    """deckrunLive.CALL(ARGS...) in the page."""
    return browser.eval(f"Promise.resolve(deckrunLive.{call}({', '.join(map(json.dumps, args))})).then(v => v ?? null)")


def run_live(browser: Browser, cell: str, code: str | None = None) -> None:
    """Type `code` into the cell (unless None: as it is) and run it; back once the page
    has heard that the run started."""
    if code is not None:
        live(browser, "setCode", cell, code)
    ticket = live(browser, "ticket", cell)
    live(browser, "run", cell)
    browser.wait(f"deckrunLive.ticket({json.dumps(cell)}) > {ticket}")


def output(cell: str) -> str:
    """An expression: the cell's output text on the page."""
    return f"deckrunLive.output({json.dumps(cell)})"


def wait_output(browser: Browser, cell: str, text: str, timeout: float = 60) -> str:
    """The cell's output once it shows `text` (and the run is over)."""
    found, _ = browser.wait(f"deckrunLive.state({json.dumps(cell)}) !== 'running' && "
                            f"{output(cell)}.includes({json.dumps(text)}) && {output(cell)}", timeout)
    return found


def state(cell: str) -> str:
    return f"deckrunLive.state({json.dumps(cell)})"


def toolbar(cell: str) -> str:
    """The page expression of a cell's toolbar (its Run, Reset, ... controls)."""
    return f"document.querySelector('[data-deckrun-toolbar={json.dumps(cell)}]')"

"""Rendered decks looked at in the browser Marp uses: slides whose content overflows the
slide box, frames that cut off (or shrink a lot) the page they show, images without alt
text, text below WCAG AA contrast (axe-core). Findings name the deck, the slide and the
line it starts on in the source (browser.mjs measures)."""
from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from ..core.errors import Location, read_source
from ..source.deck import Deck
from ..source.slides import parse_slides
from .marp import MarpWorker


@dataclass(frozen=True)
class Finding:
    deck: Path
    slide: int          # 1-based
    where: Location     # the line the slide starts on, in the deck or a partial
    kind: str           # overflow | frame | alt | contrast
    message: str

    def __str__(self) -> str:
        line = f"line {self.where.line}" if self.where.path == self.deck else str(self.where)
        return f"{Location(self.deck)} slide {self.slide} ({line}): {self.message}"


def check_deck(worker: MarpWorker, deck: Deck, html: Path, accessibility: bool = True) -> list[Finding]:
    starts = slide_locations(deck)
    found = []
    for report in worker.check(html, accessibility):
        slide = int(report["slide"])
        where = starts[slide - 1] if 0 < slide <= len(starts) else Location(deck.path)
        found.append(Finding(deck.path, slide, where, report["kind"], _message(report)))
    return sorted(found, key=lambda f: (f.slide, f.kind))


def _message(report: dict[str, Any]) -> str:
    what = report.get("what", "content")
    if report["kind"] == "overflow":
        return f"{what} overflows by {report['pixels']}px"
    if report["kind"] == "frame":
        if "shrunk" in report:
            return (f"{what} is shrunk to {report['shrunk']:.0%} to fit its {report['height']}px frame "
                    f"(give the cell '#| height: {report['needs']}px' and room on the slide)")
        return f"{what} cuts off {report['pixels']}px of its page ({report['src']}); make the frame larger"
    if report["kind"] == "alt":
        hint = " (give the cell a '#| fig-alt: ...' option)" if what == "figure" else ""
        return f"{what} without alt text: {report.get('detail', '')}{hint}"
    text = report.get("text", "")
    return f"text contrast below WCAG AA ({report.get('detail', '')})" + (f": \"{text}\"" if text else "")


def slide_locations(deck: Deck) -> list[Location]:
    """Where each slide of the rendered deck starts in the files it was made from: the
    rendered lines are matched back to the deck's own lines first, then to partials'."""
    rendered = deck.markdown.split("\n")
    origin: dict[int, Location] = {}
    sources = [deck.path] + sorted(p for p in deck.sources if p != deck.path and p.suffix == ".md")
    for source in sources:
        lines = read_source(source).split("\n")
        for a, b, size in SequenceMatcher(None, lines, rendered, autojunk=False).get_matching_blocks():
            for k in range(size):
                origin.setdefault(b + k, Location(source, a + k + 1))
    locations = []
    for slide in parse_slides(deck.markdown).slides:
        first = next((n for n in range(slide.start, slide.end) if rendered[n].strip()), slide.start)
        if first in origin:
            locations.append(origin[first])
            continue
        # Made by a template expression: counted from the nearest line above that is known.
        known = max((n for n in origin if n < first), default=None)
        locations.append(Location(origin[known].path, (origin[known].line or 0) + first - known)
                         if known is not None else Location(deck.path))
    return locations

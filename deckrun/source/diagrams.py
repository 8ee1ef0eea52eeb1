"""Diagrams written as text on a slide: ```` ```mermaid ```` and ```` ```dot ```` fences (drawn
at build time: execute/diagrams.py), with Quarto's option lines at their top (`%%| fig-alt:
...` in Mermaid, `//| fig-alt: ...` in Graphviz)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from ..core.errors import DeckError, Location
from .cells import CellOptions, make_options

MARKER = "<!-- deckrun:diagram:{} -->"
MARKER_PATTERN = re.compile(r"<!-- deckrun:diagram:(\d+) -->")
KINDS = {"mermaid": "%%|", "dot": "//|"}  # the language -> how its option lines start
OPTIONS = ("fig-alt", "fig-cap", "width", "height")
_TITLE = {"mermaid": re.compile(r"^\s*(?:title:?|accTitle:)\s*(.+?)\s*$", re.MULTILINE),
          "dot": re.compile(r"^\s*(?:graph\s*\[\s*)?label\s*=\s*\"([^\"]+)\"", re.MULTILINE)}


@dataclass(frozen=True)
class Diagram:
    kind: str              # mermaid | dot
    source: str            # what the tool reads (the option lines taken out)
    options: CellOptions   # fig-alt, fig-cap, width, height
    where: Location        # the deck line of the source's first line (the tool's line 1)

    @property
    def alt(self) -> str:
        """Its alt text: the fig-alt option, else its title, else what it is."""
        found = _TITLE[self.kind].search(self.source)
        return self.options.fig_alt or (found.group(1) if found else f"A {self.kind} diagram")


def read_diagram(kind: str, text: str, fence: Location) -> Diagram:
    """The diagram of a fence (`fence`: where it opens), its option lines read."""
    lines = text.split("\n")
    prefix = KINDS[kind]
    count = next((n for n, line in enumerate(lines) if not line.lstrip().startswith(prefix)), len(lines))
    raw: dict[str, object] = {}
    line = fence.line or 1
    if count:
        where = Location(fence.path, line + 1)
        try:
            loaded = yaml.safe_load("\n".join(line.lstrip()[len(prefix):] for line in lines[:count]))
        except yaml.YAMLError as exc:
            raise DeckError(f"{kind} diagram options are not valid YAML: {exc}", where) from None
        raw = loaded if isinstance(loaded, dict) else {}
        unknown = [key for key in raw if str(key) not in OPTIONS]
        if unknown:
            raise DeckError(f"unknown {kind} diagram option '{unknown[0]}' (known: {', '.join(OPTIONS)})", where)
    options = make_options(raw, fence)
    return Diagram(kind, "\n".join(lines[count:]), options, Location(fence.path, line + 1 + count))

"""Diagrams drawn (source/diagrams.py reads them): Graphviz's `dot` here, Mermaid by the
function given (Mermaid's library in the browser deckrun drives: render/marp.py). Drawn
SVG is kept in the course's cache by what it is drawn from (execute/cache.py), like a
cell's output, so a clone of the course draws none and needs neither tool.

A drawing takes the slide's colours and font where it is shown: it is drawn in two stand-in
colours that become `currentColor` (lines, text) and a tint of it (fills), and put inline
on the slide, so a diagram on a dark slide is drawn light, in the theme's own colours."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from typing import Any, Callable

from ..core.errors import DeckError, Location, ToolError
from ..source.diagrams import Diagram
from .cache import Cache

# The stand-ins: ink (lines and text) and paper (a shape's fill), and what they become.
INK, PAPER = "#0a0b0c", "#f5f6f7"
THEMED = {INK: "currentColor", PAPER: "color-mix(in srgb, currentColor 9%, transparent)"}
FONT = "Liberation Sans, Arial, Helvetica, sans-serif"  # measured and shown with it (PDF and PPTX too)
LOOK = 1  # a change to how diagrams are drawn: draw them again

# Mermaid's configuration: its "base" theme with the stand-ins, SVG text (not HTML labels,
# which the slide's own styles would reach).
MERMAID_LOOK: dict[str, Any] = {
    "theme": "base", "fontFamily": FONT, "htmlLabels": False, "flowchart": {"htmlLabels": False},
    "themeVariables": {"fontFamily": FONT, "fontSize": "20px", "background": "transparent",
                       "primaryColor": PAPER, "primaryTextColor": INK, "primaryBorderColor": INK,
                       "secondaryColor": PAPER, "tertiaryColor": PAPER, "lineColor": INK, "textColor": INK,
                       "mainBkg": PAPER, "nodeBorder": INK, "clusterBkg": PAPER, "clusterBorder": INK,
                       "titleColor": INK, "edgeLabelBackground": "transparent", "actorBkg": PAPER,
                       "actorBorder": INK, "actorTextColor": INK, "signalColor": INK, "signalTextColor": INK,
                       "labelTextColor": INK, "noteBkgColor": PAPER, "noteTextColor": INK, "noteBorderColor": INK}}
# Graphviz's defaults, which the diagram's own attributes override.
DOT_LOOK = [f"-Gfontname={FONT}", f"-Nfontname={FONT}", f"-Efontname={FONT}", "-Gbgcolor=transparent",
            f"-Gfontcolor={INK}", f"-Ncolor={INK}", f"-Nfontcolor={INK}", f"-Ecolor={INK}", f"-Efontcolor={INK}",
            "-Nstyle=filled,rounded", "-Nshape=box", f"-Nfillcolor={PAPER}", "-Nfontsize=18", "-Efontsize=15"]
_DOT_LINE = re.compile(r"(?:in line|line) (\d+)")
_MERMAID_LINE = re.compile(r"(?:on line|line) (\d+)", re.IGNORECASE)

Mermaid = Callable[[str, dict[str, Any], str], str]  # (source, its configuration, an id) -> SVG


def diagram_key(diagram: Diagram) -> str:
    return hashlib.sha256(f"{LOOK}\0{diagram.kind}\0{diagram.source}".encode()).hexdigest()


def drawings(diagrams: tuple[Diagram, ...], cache: Cache, mermaid: Callable[[], Mermaid]) -> list[str]:
    """Each diagram's SVG: from the cache, else drawn and stored (`mermaid` gives the
    function that draws Mermaid, asked for only when one must be drawn)."""
    drawn = []
    for diagram in diagrams:
        key = diagram_key(diagram)
        svg = cache.diagram(key)
        if svg is None:
            svg = themed(_draw(diagram, key, mermaid))
            cache.store_diagram(key, svg)
        drawn.append(svg)
    return drawn


def _draw(diagram: Diagram, key: str, mermaid: Callable[[], Mermaid]) -> str:
    if diagram.kind == "dot":
        return _dot(diagram)
    try:
        return mermaid()(diagram.source, MERMAID_LOOK, f"d{key[:12]}")
    except DiagramFailed as failed:
        raise _located(diagram, failed.message, _MERMAID_LINE) from None
    except ToolError as missing:  # (no browser, no Node: said for the diagram, not for a PDF)
        raise DeckError(f"a mermaid diagram is drawn in the browser, and it could not be: {missing}; "
                        "once drawn it is kept in the cache", diagram.where) from None


class DiagramFailed(Exception):
    """The tool refused the diagram: its words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _dot(diagram: Diagram) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise DeckError("a dot diagram needs Graphviz, which is not installed (Debian/Ubuntu: sudo apt-get "
                        "install graphviz; macOS: brew install graphviz); once drawn it is kept in the cache",
                        diagram.where)
    proc = subprocess.run([dot, "-Tsvg", *DOT_LOOK], input=diagram.source, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0 or "<svg" not in proc.stdout:
        said = "\n".join(line for line in proc.stderr.splitlines() if line.strip()) or f"exit code {proc.returncode}"
        raise _located(diagram, said, _DOT_LINE)
    return proc.stdout


def _located(diagram: Diagram, said: str, pattern: re.Pattern[str]) -> DeckError:
    """The tool's message at the deck line it names (the diagram's first line if none)."""
    found = pattern.search(said)
    line = (diagram.where.line or 1) + (int(found.group(1)) - 1 if found else 0)
    return DeckError(f"{diagram.kind} diagram: {said.strip()}", Location(diagram.where.path, line))


def themed(svg: str) -> str:
    """The drawing with its stand-in colours made the slide's, standalone parts (XML
    prolog, doctype, comments) gone: ready to go inline."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    for stand_in, colour in THEMED.items():
        svg = re.sub(re.escape(stand_in), colour, svg, flags=re.IGNORECASE)
    return svg.strip()

"""What a build is asked to do: formats, strictness, the cache's use (--frozen, --refresh)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """An output format: its name (`--NAME` on the command line), the file it writes
    (build/DECK + suffix), what Marp CLI renders for it and whether deckrun then takes
    that apart into an editable PowerPoint file (render/powerpoint.py)."""
    name: str
    suffix: str
    marp: str           # Marp CLI's output: html, pdf or pptx
    summary: str
    editable: bool = False

    @property
    def paper(self) -> bool:
        """Still pictures instead of interactive outputs (anything but the HTML deck)."""
        return self.name != "html"


FORMATS = {f.name: f for f in (
    Format("html", ".html", "html", "write HTML"),
    Format("pdf", ".pdf", "pdf", "write PDF"),
    Format("pptx", ".pptx", "html", "write PowerPoint that can be edited: text, tables and code as objects, "
                                    "pictures where the slide has them, the notes", editable=True),
    Format("pptx-pictures", ".pictures.pptx", "pptx", "write Marp's PowerPoint: a picture a slide (exact looks, "
                                                      "nothing editable)"),
)}


@dataclass(frozen=True)
class BuildOptions:
    formats: tuple[str, ...] = ("html", "pdf")
    strict: bool = False  # warnings (e.g. an `error: true` cell that did not raise) fail the deck
    frozen: bool = False  # never execute: every cell must come from the cache
    refresh: tuple[str, ...] = ()  # "all", a deck path, DECK_OR_SNIPPET:LINE or file.py#cell
    refresh_assets: bool = False  # fetch remote images again even if the asset cache has them
    gateway: str | None = None  # --gateway URL (or "local"): where cells run

"""What a build is asked to do: formats, strictness, the cache's use (--frozen, --refresh)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuildOptions:
    formats: tuple[str, ...] = ("html", "pdf")
    strict: bool = False  # warnings (e.g. an `error: true` cell that did not raise) fail the deck
    frozen: bool = False  # never execute: every cell must come from the cache
    refresh: tuple[str, ...] = ()  # "all", a deck path, DECK_OR_SNIPPET:LINE or file.py#cell
    refresh_assets: bool = False  # fetch remote images again even if the asset cache has them
    gateway: str | None = None  # --gateway URL (or "local"): where cells run

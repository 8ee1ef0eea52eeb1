"""The course's Marp themes: which exist, and the colours they give slides (for the
site's index page and for placeholders drawn in the theme's style)."""
from __future__ import annotations

import re

from ..core.errors import DeckError, Location, read_source
from ..core.project import Project
from .deck import Deck
from .marpconfig import marp_config

BUILTIN_THEMES = ("default", "gaia", "uncover")
DEFAULT_COLOURS = {"ink": "#1f2933", "heading": "#1f3a5f", "accent": "#0b7a75", "background": "#ffffff"}
_THEME_NAME = re.compile(r"@theme\s+([\w-]+)")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_DECLARATION = re.compile(r"(--[\w-]+|[\w-]+)\s*:\s*([^;]+)")
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^)]+))?\)")
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|rgba?\([^)]*\)|hsla?\([^)]*\)|[a-zA-Z]+)$")


def course_themes(project: Project) -> dict[str, str]:
    """The course's Marp themes, name (its `@theme` comment) -> CSS: those in themes/, and
    those its Marp configuration's theme set names."""
    found: dict[str, str] = {}
    for css in sorted(project.themes_dir.glob("*.css")) + list(marp_config(project.root).themes):
        text = read_source(css)
        name = _THEME_NAME.search(text)
        if name:
            found.setdefault(name.group(1), text)
    return found


def check_theme(deck: Deck, project: Project) -> None:
    """The deck's theme is one Marp has (or the course's Marp configuration gives every
    deck its own, as Marp does)."""
    theme = deck.front_matter.get("theme")
    themes = course_themes(project)
    if theme is None or theme in BUILTIN_THEMES or theme in themes or marp_config(project.root).override:
        return
    line = next((n for n, text in enumerate(read_source(deck.path).splitlines(), 1)
                 if text.startswith("theme:")), None)
    known = ", ".join(BUILTIN_THEMES + tuple(themes))
    config = marp_config(project.root).path
    raise DeckError(f"unknown theme '{theme}' (themes: {known}; a course theme is a CSS file in themes/"
                    + (f" or in the theme set of {config.name}" if config else "")
                    + " starting with /* @theme NAME */)", Location(deck.path, line))


def theme_colours(css: str) -> dict[str, str]:
    """The text, heading, link and background colours a Marp theme gives its slides."""
    rules = [(selectors, dict(_DECLARATION.findall(body))) for selectors, body in _RULE.findall(
        re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL))]
    variables = {k: v.strip() for _, decls in rules for k, v in decls.items() if k.startswith("--")}

    def value(selector_names: tuple[str, ...], prop: str) -> str | None:
        for selectors, decls in rules:
            names = {s.strip() for s in selectors.split(",")}
            if names & set(selector_names) and prop in decls:
                return _resolve(decls[prop].strip(), variables)
        return None

    found = {
        "ink": value(("section",), "color"),
        "heading": value(("section h1", "h1", "section h2", "h2"), "color"),
        "accent": value(("section a", "a"), "color"),
        "background": value(("section",), "background-color") or value(("section",), "background"),
    }
    return {k: v if v and _COLOUR.match(v) else DEFAULT_COLOURS[k] for k, v in found.items()}


def _resolve(text: str, variables: dict[str, str], depth: int = 0) -> str:
    if depth > 10:
        return text
    return _VAR.sub(lambda m: _resolve(variables.get(m.group(1), m.group(2) or ""), variables, depth + 1),
                    text).strip()

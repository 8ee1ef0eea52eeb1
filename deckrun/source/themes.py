"""The course's Marp themes: which exist, and the colours they give slides (for the
site's index page and for placeholders drawn in the theme's style)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.errors import DeckError, Location, read_source
from ..core.project import Project
from .cells import Cell
from .deck import MARKER_PATTERN, Deck
from .marpconfig import marp_config
from .slides import parse_slides

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
    files = sorted(project.themes_dir.glob("*.css")) + list(marp_config(project.root).themes)
    return dict(_themes(tuple((css, css.stat().st_mtime_ns) for css in files)))


@lru_cache(maxsize=8)
def _themes(files: tuple[tuple[Path, int], ...]) -> tuple[tuple[str, str], ...]:
    """(name, CSS) of theme files, read once a version of them."""
    found: dict[str, str] = {}
    for css, _ in files:
        text = read_source(css)
        name = _THEME_NAME.search(text)
        if name:
            found.setdefault(name.group(1), text)
    return tuple(found.items())


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


# -- figures drawn by cells in the deck's style (matplotlib's rcParams, set in the kernel)

FIGURE_STYLES = ("theme", "none")
_FALLBACK_CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_BRIGHT_CYCLE = ("#5fd3c8", "#ffc857", "#ff8a80", "#b39ddb", "#a5d6a7", "#90caf9")


def _rgb(colour: str) -> tuple[float, float, float] | None:
    found = re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", colour.strip())
    if not found:
        return None
    digits = found.group(1)
    digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
    red, green, blue = (int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return red, green, blue


def _luminance(colour: str) -> float | None:
    rgb = _rgb(colour)
    if rgb is None:
        return None
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    a, b = _luminance(one), _luminance(other)
    if a is None or b is None:
        return 1.0
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def figure_styles(css: str) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """matplotlib settings in the theme's look, for light slides and for dark ones, and the
    classes whose slides are dark (a class whose rule gives a dark background; `invert`):
    the theme's sans-serif font at sizes a slide can show, its colours for text and axes,
    and the colours it defines as the cycle of lines and bars."""
    colours = theme_colours(css)
    text = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    rules = [(selectors, dict(_DECLARATION.findall(body))) for selectors, body in _RULE.findall(text)]
    variables = {k: v.strip() for _, decls in rules for k, v in decls.items() if k.startswith("--")}
    family = next((_resolve(d["font-family"], variables) for s, d in rules
                   if "section" in {x.strip() for x in s.split(",")} and "font-family" in d), "sans-serif")
    fonts = [f.strip().strip("'\"") for f in family.split(",") if f.strip() not in ("sans-serif", "system-ui")]
    palette = [c for c in (colours["accent"], colours["heading"],
                           *(_resolve(v, variables) for k, v in variables.items())) if _rgb(c)]
    dark_classes, dark_ink, dark_background = {"invert"}, "#ffffff", "#1f2933"
    for selectors, decls in rules:
        background = _resolve(decls.get("background-color") or decls.get("background", ""), variables)
        shade = _luminance(background.split()[0]) if background else None
        names = re.findall(r"section\.([\w-]+)\s*(?:,|$)", selectors.strip())
        if names and shade is not None and shade < 0.2:
            dark_classes.update(names)
            dark_background = background.split()[0]
            dark_ink = _resolve(decls.get("color", dark_ink), variables)

    def look(ink: str, background: str, heading: str, fallback: tuple[str, ...]) -> dict[str, Any]:
        cycle = list(dict.fromkeys(c.lower() for c in palette if _contrast(c, background) >= 2.5
                                   and _contrast(c, ink) >= 1.3))[:6]
        cycle += [c for c in fallback if c not in cycle][:max(0, 4 - len(cycle))]
        return {"font.family": "sans-serif", "font.sans-serif": list(dict.fromkeys([*fonts, "DejaVu Sans"])),
                "font.size": 13, "axes.titlesize": 15, "axes.labelsize": 13, "xtick.labelsize": 12,
                "ytick.labelsize": 12, "legend.fontsize": 12, "figure.figsize": [6.0, 4.0], "text.color": ink,
                "axes.labelcolor": ink,
                "axes.edgecolor": ink, "xtick.color": ink, "ytick.color": ink, "axes.titlecolor": heading,
                "figure.facecolor": background, "axes.facecolor": background, "savefig.facecolor": background,
                "axes.prop_cycle": f"cycler('color', {cycle!r})"}

    heading_on_dark = dark_ink if _contrast(colours["heading"], dark_background) < 3 else colours["heading"]
    return (look(colours["ink"], colours["background"], colours["heading"], _FALLBACK_CYCLE),
            look(dark_ink, dark_background, heading_on_dark, _BRIGHT_CYCLE), frozenset(dark_classes))


@lru_cache(maxsize=8)
def _looks(css: str) -> tuple[str, str, frozenset[str]]:
    """figure_styles as the kernel takes them (JSON), made once a theme."""
    light, dark, dark_classes = figure_styles(css)
    return json.dumps(light, sort_keys=True), json.dumps(dark, sort_keys=True), dark_classes


def dress_figures(deck: Deck, project: Project) -> Deck:
    """The deck with each Python cell given the figure look of its slide (dark or light, in
    the deck theme's style), unless it or the deck (`figure-style: none` in its front
    matter or course.yaml) asks for matplotlib's own."""
    setting = deck.front_matter.get("figure-style", project.course.get("figure-style", "theme"))
    if setting not in FIGURE_STYLES:
        raise DeckError(f"'figure-style:' must be one of {', '.join(FIGURE_STYLES)}, not {setting!r}",
                        Location(deck.path))
    if not any(cell.language == "python" for cell in deck.cells):
        return deck
    light, dark, dark_classes = _looks(course_themes(project).get(str(deck.front_matter.get("theme")), ""))
    looks = {False: light, True: dark}
    on_dark: dict[int, bool] = {}
    could_be_dark = "backgroundColor" in deck.markdown or any(
        re.search(rf"\b{re.escape(name)}\b", deck.markdown) for name in dark_classes)
    slides = parse_slides(deck.markdown).slides if could_be_dark else ()  # (no slide is dark: no parse)
    lines = deck.markdown.split("\n")
    for slide in slides:
        dark_slide = bool(dark_classes.intersection(slide.classes)) or \
            (_luminance(slide.directives.get("backgroundColor", "#fff")) or 1.0) < 0.2
        for line in lines[slide.start:slide.end]:
            for found in MARKER_PATTERN.finditer(line):
                on_dark[int(found.group(1))] = dark_slide
    if setting == "none" and not any(cell.options.figure_style == "theme" for cell in deck.cells):
        return deck  # (nothing to put, nothing to take back)

    def look(index: int, cell: Cell) -> str:
        # ("{}": matplotlib's own, put back after the cells before it had the theme's)
        return looks[on_dark.get(index, False)] if (cell.options.figure_style or setting) == "theme" else "{}"

    return replace(deck, cells=tuple(replace(cell, look=look(index, cell)) if cell.language == "python" else cell
                                     for index, cell in enumerate(deck.cells)))

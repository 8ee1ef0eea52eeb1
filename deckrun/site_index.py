"""The course site's front page: the course and every published deck, with links to its
files, in the colours of the course theme. One self-contained HTML file (no scripts, no
fonts or styles from elsewhere), so it works from disk, on any host and in an LMS."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from .project import Project

DEFAULT_COLOURS = {"ink": "#1f2933", "heading": "#1f3a5f", "accent": "#0b7a75", "background": "#ffffff"}
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_DECLARATION = re.compile(r"(--[\w-]+|[\w-]+)\s*:\s*([^;]+)")
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^)]+))?\)")
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|rgba?\([^)]*\)|hsla?\([^)]*\)|[a-zA-Z]+)$")


@dataclass(frozen=True)
class SiteEntry:
    """One deck on the index page; `files` maps a kind (slides, pdf, handout, notebook)
    to its path in the site."""
    name: str
    title: str
    session: str = ""
    date: str = ""
    slides: int = 0
    provenance: str = ""
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def order(self) -> tuple:
        number = re.match(r"\d+", self.session)
        return (int(number.group(0)) if number else float("inf"), self.date or "~", self.name)


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


def render_index(project: Project, entries: list[SiteEntry], theme: str | None) -> str:
    """The index page (a course may override templates/index.html.j2)."""
    loaders: list[jinja2.BaseLoader] = []
    if project.templates_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(project.templates_dir)))
    loaders.append(jinja2.PackageLoader("deckrun", "templates"))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    course = {k: v for k, v in project.course.items() if isinstance(v, (str, int, float))}
    return env.get_template("index.html.j2").render(
        course=course, decks=sorted(entries, key=lambda e: e.order),
        colours=theme_colours(project.themes().get(str(theme), "")))

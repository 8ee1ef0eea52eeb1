"""The course site's front page: the course and every published deck, with links to its
files, in the colours of the course theme. One self-contained HTML file (no scripts, no
fonts or styles from elsewhere), so it works from disk, on any host and in an LMS."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import jinja2

from ..core.project import COURSE_FILE, Project, course_language
from ..source.themes import course_themes, theme_colours


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
    def order(self) -> tuple[float, str, str]:
        number = re.match(r"\d+", self.session)
        return (int(number.group(0)) if number else float("inf"), self.date or "~", self.name)


def render_index(project: Project, entries: list[SiteEntry], theme: str | None) -> str:
    """The index page (a course may override templates/index.html.j2)."""
    loaders: list[jinja2.BaseLoader] = []
    if project.templates_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(project.templates_dir)))
    loaders.append(jinja2.PackageLoader("deckrun.publish", "templates"))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    course = {k: v for k, v in project.course.items() if isinstance(v, (str, int, float))}
    return env.get_template("index.html.j2").render(
        course=course, decks=sorted(entries, key=lambda e: e.order),
        lang=course_language(project, {}, project.root / COURSE_FILE),
        colours=theme_colours(course_themes(project).get(str(theme), "")))

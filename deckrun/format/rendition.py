"""A deck's results -> the Marp Markdown files Marp converts: for the screen (HTML) and,
when asked for, for paper (PDF, PPTX), with the deck's files localized (remote ones from
the asset cache, placeholders for the missing), lecturer-only slides marked, and the
course's metadata (author, subject) in the front matter."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from ..core.errors import DeckError, Location, ToolError
from ..core.files import write_if_changed
from ..core.project import Project, course_language
from ..core.tools import node_packages
from ..execute.cache import Cache
from ..execute.outputs import CellResult
from ..fetch.assets import Assets
from ..source.audience import with_lecturer_badge
from ..source.cells import Cell
from ..source.deck import Deck
from ..source.slides import first_heading
from ..source.themes import course_themes, theme_colours
from .assets import localize
from .interactive import still_pictures
from .markdown import CellFormatter, FigureFolder, diagram_markdown, inject, inject_diagrams, templates_for
from .steps import step_through


@dataclass(frozen=True)
class Rendition:
    """A deck's Marp Markdown: for the screen, and for paper (the same file when they do
    not differ)."""
    screen: Path
    paper: Path
    warnings: list[str]
    written: list[Path]

    def markdown_for(self, fmt: str) -> Path:
        return self.screen if fmt == "html" else self.paper


def deck_markdown(deck: Deck, results: Sequence[CellResult], project: Project,
                  stills: dict[str, bytes] | None = None, marked: bool = False, drawings: Sequence[str] = ()) -> str:
    """The deck's Markdown with each cell's marker replaced by its code and outputs
    (figures are written to build/DECK_files/). With `stills` it is for paper: an
    interactive output is shown by its still picture. `marked`: for the live page, each
    cell's code and outputs carry hidden marks named by the cell (cell_name)."""
    files = FigureFolder(project.build_dir / f"{deck.name}_files", f"{PurePosixPath(deck.name).name}_files")
    formatter = CellFormatter(templates_for(project.templates_dir), files,
                              node_packages(project.root), stills,
                              (lambda cell: cell_name(cell, project)) if marked else None)
    paper = stills is not None
    cells = [formatter.cell(cell, result, paper) for cell, result in zip(deck.cells, results)]
    diagrams = [diagram_markdown(formatter.templates, d, svg) for d, svg in zip(deck.diagrams, drawings)]
    return step_through(inject_diagrams(inject(deck, cells), diagrams), paper, steps_on_paper(deck, project) == "each")


def cell_name(cell: Cell, project: Project) -> str:
    """A cell as the live page names it: the deck line that shows it (FILE:LINE)."""
    where = cell.reference
    path = where.path.relative_to(project.root) if where.path.is_relative_to(project.root) else where.path
    return f"{path.as_posix()}:{where.line}"


def still_pictures_of(results: Sequence[CellResult], project: Project,
                      take: Callable[[str, str], bytes]) -> tuple[dict[str, bytes], list[str]]:
    """Still pictures of the interactive outputs, for paper (taken by `take` in the
    browser the first time, then from the cache); without a browser, paper shows their
    text instead, with a warning."""
    try:
        return still_pictures(results, node_packages(project.root), Cache(project.root), take), []
    except ToolError as exc:
        return {}, [f"interactive outputs are shown as text on paper: {exc}"]


def write_rendition(project: Project, deck: Deck, markdown: dict[bool, str], stem: str,
                    assets: Assets, folder: Path | None = None) -> Rendition:
    """Write build/STEM.md (and STEM.paper.md when it differs) from the deck's Markdown
    for the screen and, when asked for, for paper (`markdown[paper]`); in `folder` instead
    of build/ for a copy served beside it (its paths still lead to build/'s files)."""
    theme_css = course_themes(project).get(str(deck.front_matter.get("theme")), "")
    colours = theme_colours(theme_css)
    texts, warnings = {}, []
    here = project.build_dir / PurePosixPath(deck.name).parent  # (links are relative to the deck's place)
    for paper, text in markdown.items():
        localized = localize(text, deck.path, project.build_dir, here, assets, colours, paper=paper)
        texts[paper] = with_metadata(with_lecturer_badge(localized.markdown, theme_css), deck, project)
        warnings += [w for w in localized.warnings if w not in warnings]
    folder = folder or project.build_dir
    screen, paper_path = folder / f"{stem}.md", folder / f"{stem}.paper.md"
    # (made again from the sources by any build that finds it not right: not worth a disk flush on every save)
    written = [screen] if write_if_changed(screen, texts[False], durable=False) else []
    if texts.get(True, texts[False]) == texts[False]:
        if True in texts:
            paper_path.unlink(missing_ok=True)
        return Rendition(screen, screen, warnings, written)
    if write_if_changed(paper_path, texts[True], durable=False):
        written.append(paper_path)
    return Rendition(screen, paper_path, warnings, written)


def steps_on_paper(deck: Deck, project: Project) -> str:
    """`steps-on-paper:` of the front matter, else course.yaml: last (a stepped code block's
    last step) or each (its slide once a step)."""
    setting = deck.front_matter.get("steps-on-paper", project.course.get("steps-on-paper", "last"))
    if setting not in ("last", "each"):
        raise DeckError(f"'steps-on-paper:' must be last or each, not {setting!r}", Location(deck.path))
    return str(setting)


def deck_title(deck: Deck) -> str:
    """The deck's title: its `title:`, else its first heading, else its file's name."""
    return str(deck.front_matter.get("title") or first_heading(deck.markdown) or deck.name)


def with_metadata(markdown: str, deck: Deck, project: Project) -> str:
    """The deck's title and language and the course's metadata as Marp's global
    directives (the HTML's title and `lang`, the PDF's title, language, author and
    subject), unless the deck sets them itself."""
    course = {**project.course, **(deck.front_matter.get("course") or {})}
    subject = " ".join(str(course[k]) for k in ("code", "name") if course.get(k))
    wanted = {"title": deck_title(deck), "lang": course_language(project, deck.front_matter, deck.path),
              "author": course.get("lecturer"), "description": subject}
    lines = [f"{key}: {json.dumps(str(value))}" for key, value in wanted.items()
             if value and key not in deck.front_matter]
    if not lines:
        return markdown
    if markdown.startswith("---\n"):
        return "---\n" + "\n".join(lines) + "\n" + markdown[4:]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + markdown


def slides_at_most(markdown: Path) -> int:
    """How many slides the Markdown may have, for the time its render may take: one more
    than the lines that could start a slide (a rule, or a heading where the deck says
    `headingDivider`). Parsing every deck to count them exactly cost a 40-deck theme edit
    a second."""
    text = markdown.read_text(encoding="utf-8")
    headings = "headingDivider" in text
    return 1 + sum(line.rstrip() in ("---", "***", "___") or headings and line.startswith("#")
                   for line in text.splitlines())

"""Read a deck: front matter, Jinja2 (course context, partials, snippet()), and its cells.

A deck comes out as Markdown in which each cell is a one-line marker, plus the cells in
slide order. Inline `python run` fences are cut out before Jinja sees the text (so code
may contain `{{`), and every template, partials included, goes through the same loader.
"""
from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .cells import Cell, SnippetFile, make_options, parse_snippet_file, split_options
from .errors import DeckError, Location
from .project import Project, load_yaml_mapping

MARKER = "<!-- deckrun:cell:{} -->"
MARKER_PATTERN = re.compile(r"<!-- deckrun:cell:(\d+) -->")

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_RUN_INFO = re.compile(r"^\s*python\s+run\s*$")


@dataclass(frozen=True)
class Deck:
    path: Path
    front_matter: dict[str, Any]
    markdown: str             # rendered Markdown, each cell a MARKER line
    cells: tuple[Cell, ...]   # in slide order; cells[i] belongs to MARKER i
    sources: frozenset[Path] = frozenset()  # the files it was made from: deck, partials, snippets

    @property
    def name(self) -> str:
        return self.path.stem


def load_deck(path: Path, project: Project) -> Deck:
    """Everything that can be checked before running code is checked here."""
    path = path.resolve()
    if not path.exists():
        raise DeckError("deck file not found", Location(path))
    text = path.read_text(encoding="utf-8")
    front_matter = read_front_matter(text, path)
    collector = _CellCollector(project)
    env = _environment(path, project, collector)
    overrides = front_matter.get("course") or {}
    if not isinstance(overrides, dict):
        raise DeckError("front matter 'course:' must be a mapping of course.yaml keys", Location(path, 2))
    context = {
        "course": {**project.course, **overrides},
        "deck": front_matter,
        "snippet": collector.snippet,
    }
    try:
        template = env.get_template(path.name)
        markdown = template.render(context)
    except DeckError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        where = Location(Path(exc.filename or path), exc.lineno)
        raise DeckError(f"template syntax error: {exc.message}", where) from None
    except jinja2.TemplateNotFound as exc:
        raise DeckError(f"included file not found: {exc.name}", _template_location(exc, path)) from None
    except Exception as exc:  # an error while rendering: undefined variable, bad call...
        raise DeckError(f"template error: {type(exc).__name__}: {exc}",
                        _template_location(exc, path)) from None
    return Deck(path, front_matter, markdown, tuple(collector.cells), frozenset(collector.files))


def read_front_matter(text: str, path: Path) -> dict[str, Any]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return load_yaml_mapping("\n".join(lines[1:end]), path, first_line=2)
    raise DeckError("front matter opened with '---' is never closed", Location(path, 1))


def _template_location(exc: BaseException, deck: Path) -> Location:
    """The innermost template frame of a render-time error (Jinja rewrites tracebacks so
    template frames carry the template's file name and line)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".md"):
            return Location(Path(frame.filename), frame.lineno)
    return Location(deck)


def _environment(deck: Path, project: Project, collector: "_CellCollector") -> jinja2.Environment:
    search = [str(deck.parent)]
    if project.slides_dir.resolve() != deck.parent:
        search.append(str(project.slides_dir))
    env = jinja2.Environment(
        loader=_CellLoader(search, collector),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["_cell"] = collector.inline_cell
    return env


class _CellLoader(jinja2.FileSystemLoader):
    """Loads templates with their `python run` fences swapped for `_cell(...)` calls."""

    def __init__(self, search: list[str], collector: "_CellCollector") -> None:
        super().__init__(search)
        self.collector = collector

    def get_source(self, environment, template):  # type: ignore[override]
        source, filename, uptodate = super().get_source(environment, template)
        self.collector.files.add(Path(filename).resolve())
        return self.collector.cut_fences(source, Path(filename)), filename, uptodate


class _CellCollector:
    """Finds cells while the deck renders and hands out their markers, in slide order."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.cells: list[Cell] = []
        self._inline: dict[tuple[str, int], Cell] = {}
        self._snippet_files: dict[Path, SnippetFile] = {}
        self.files: set[Path] = set()

    def _add(self, cell: Cell) -> str:
        self.cells.append(cell)
        return MARKER.format(len(self.cells) - 1)

    # -- inline fences

    def cut_fences(self, source: str, path: Path) -> str:
        """Replace each `python run` fence by `{{ _cell(...) }}`, keeping line numbers
        (the fence's other lines go into a Jinja comment)."""
        lines = source.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            opened = _FENCE_OPEN.match(lines[i])
            if not opened:
                out.append(lines[i])
                i += 1
                continue
            end = _closing_fence(lines, i, opened.group("fence"))
            if not _RUN_INFO.match(opened.group("info")):
                out.extend(lines[i:end + 1])  # an ordinary fence: left alone, code and all
                i = end + 1
                continue
            if end == len(lines):
                raise DeckError("'python run' fence is never closed", Location(path, i + 1))
            indent = opened.group("indent")
            code = "\n".join(_strip_indent(line, len(indent)) for line in lines[i + 1:end])
            self._inline[(str(path), i)] = self._inline_cell(code, path, i + 1)
            newlines = "\n" * (end - i)
            out.append(f'{indent}{{{{ _cell("{_escape(str(path))}", {i}) }}}}{{#{newlines}#}}')
            i = end + 1
        return "\n".join(out)

    def _inline_cell(self, code: str, path: Path, fence_line: int) -> Cell:
        body, options, start = split_options(code, Location(path, fence_line + 1))
        return Cell(body, options, origin=start, reference=Location(path, fence_line))

    def inline_cell(self, path: str, index: int) -> str:
        return self._add(self._inline[(path, index)])

    # -- snippet("file.py#cell", **options)

    def snippet(self, ref: str, **raw_options: Any) -> str:
        where = _caller_location()
        file_part, _, cell_name = str(ref).partition("#")
        path = (self.project.snippets_dir / file_part).resolve()
        if not path.is_file():
            raise DeckError(f"snippet file not found: snippets/{file_part}", where)
        self.files.add(path)
        snippet_file = self._snippet_files.get(path) or parse_snippet_file(path)
        self._snippet_files[path] = snippet_file
        if cell_name:
            found = snippet_file.cells.get(cell_name)
            if found is None:
                names = ", ".join(snippet_file.cells) or "none: mark cells with '# %% name'"
                raise DeckError(f"no cell named '{cell_name}' in snippets/{file_part} "
                                f"(cells: {names})", where)
            code, line = found.code, found.line
        else:
            code, line = snippet_file.text, 1
        body, options, start = split_options(code, Location(path, line))
        options = make_options(raw_options, where, options)
        return self._add(Cell(body, options, origin=start, reference=where, name=cell_name))


def _closing_fence(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at `start` (len(lines) if none)."""
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    for j in range(start + 1, len(lines)):
        if closing.match(lines[j]):
            return j
    return len(lines)


def _strip_indent(line: str, width: int) -> str:
    return line[width:] if line[:width].strip() == "" else line.lstrip()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _caller_location() -> Location:
    """The template file and line that called a global function (Jinja keeps the
    template in the frame's globals and maps Python lines back to template lines)."""
    frame = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None and template.filename:
            return Location(Path(template.filename), template.get_corresponding_lineno(frame.f_lineno))
        frame = frame.f_back
    return Location(Path("<deck>"))


"""Read a deck: front matter, Jinja2 (course context, partials, snippet()), and its cells.

A deck comes out as Markdown in which each cell is a one-line marker, plus the cells in
slide order. Inline `python run` fences are cut out before Jinja sees the text (so code
may contain `{{`), and every template, partials included, goes through the same loader.
"""
from __future__ import annotations

import difflib
import io
import re
import sys
import traceback
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any, Callable

import jinja2
import jinja2.meta

from ..core.errors import DeckError, Location, read_source
from ..core.files import write_atomic
from ..core.project import Project, load_yaml_mapping
from .cells import Cell, CellOptions, SnippetCell, SnippetFile, make_options, parse_snippet_file, split_options
from .diagrams import KINDS as DIAGRAM_KINDS
from .diagrams import MARKER as DIAGRAM_MARKER
from .diagrams import Diagram, read_diagram
from .notebooks import cell_not_found, read_notebook
from .steps import STEPPED_INFO, parse_steps

MARKER = "<!-- deckrun:cell:{} -->"
MARKER_PATTERN = re.compile(r"<!-- deckrun:cell:(\d+) -->")

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# ```python run, ```bash run; with Slidev's steps: ```python run {1|2-3|all}
_RUN_INFO = re.compile(r"^\s*(?P<language>[A-Za-z][\w+#-]*)\s+run\s*(?:\{(?P<steps>[^}]*)\})?\s*$")
# Opts a fence into templating: braces, so it can never be a language (```jinja shows Jinja).
_TEMPLATE_MARK = re.compile(r"(?:^|\s)\{template\}(?=\s|$)")
_MATH_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>\$\$)(?P<info>)\s*$")
_INLINE_CODE = re.compile(r"(?<![`\\])(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_JINJA_SYNTAX = re.compile(r"\{[{%#]")
_RAW_OPEN = re.compile(r"\{%-?\s*raw\s*-?%\}")
_RAW_CLOSE = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_EXPRESSION = re.compile(r"\{\{(?:(?!\}\}).)*\}\}")
_MAY_MATTER = re.compile(r"[`~${]")  # what every pattern above needs in a line
# Names a deck's template may read without setting them: deckrun's, and Jinja's own.
_CONTEXT = frozenset({"course", "deck", "snippet", "_cell", "_literal", "_diagram", "range", "dict", "lipsum", "cycler",
                      "joiner", "namespace", "loop", "self", "caller", "varargs", "kwargs", "super"})
_DECLARED = re.compile(r"\{%-?\s*(?:set|for|macro|import\s+\S+\s+as|from\s+\S+\s+import)\s+([A-Za-z_]\w*)")
_PARSER = jinja2.Environment()


@dataclass(frozen=True)
class Deck:
    path: Path
    name: str                 # its path under slides/ without .md (week1/index): where its outputs go
    front_matter: dict[str, Any]
    markdown: str             # rendered Markdown, each cell a MARKER line
    cells: tuple[Cell, ...]   # in slide order; cells[i] belongs to MARKER i
    sources: frozenset[Path] = frozenset()  # the files it was made from: deck, partials, snippets
    diagrams: tuple[Diagram, ...] = ()      # in slide order; diagrams[i] belongs to diagrams.MARKER i


def load_deck(path: Path, project: Project) -> Deck:
    """Everything that can be checked before running code is checked here."""
    path = path.resolve()
    if not path.exists():
        raise DeckError("deck file not found", Location(path))
    text = read_source(path)
    front_matter, body = read_front_matter(text, path)
    if not body.strip():
        raise DeckError("the deck is empty: write its slides after the front matter "
                        "(slides are separated by lines of ---)", Location(path, 1))
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
        source = _CellLoader.of(env).prepared(env, path.name)
        # (a deck with no template syntax, its cells cut out, is its own rendering: no compiling)
        markdown = source if not (_JINJA_SYNTAX.search(source) or "\r" in source) else \
            env.get_template(path.name).render(context)
    except DeckError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        where = Location(Path(exc.filename or path), exc.lineno)
        raise DeckError(f"template syntax error: {exc.message}", where, detail=_keep_as_written(where)) from None
    except jinja2.TemplateNotFound as exc:
        raise DeckError(f"included file not found: {exc.name}", _template_location(exc, path)) from None
    except Exception as exc:  # an error while rendering: undefined variable, bad call...
        where = _template_location(exc, path)
        raise DeckError(f"template error: {type(exc).__name__}: {exc}", where,
                        detail=_keep_as_written(where)) from None
    return Deck(path, project.deck_name(path), front_matter, markdown, tuple(collector.cells),
                frozenset(collector.files), tuple(collector.diagrams))


def read_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    """The front matter (between `---` lines at the top) and the text after it."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return load_yaml_mapping("\n".join(lines[1:end]), path, first_line=2), "\n".join(lines[end + 1:])
    raise DeckError("front matter opened with '---' is never closed", Location(path, 1))


def _keep_as_written(where: Location) -> str:
    """What to do when a line's template text is not meant for deckrun: the line, and how
    to keep it as written."""
    try:
        text = read_source(where.path).splitlines()[(where.line or 0) - 1].strip()
    except (OSError, IndexError, DeckError):
        return ""
    if not _JINJA_SYNTAX.search(text):
        return ""
    return (f"  {text}\n(a deck's text is a Jinja template: {{{{ }}}}, {{% %}} and {{# #}} are read as template code. "
            "To show this text as written, put it between {% raw %} and {% endraw %}, e.g. "
            "{% raw %}{{ $attributes }}{% endraw %})")


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
        bytecode_cache=_bytecode_cache(project.build_dir / ".jinja"),  # unchanged decks: no compiling
    )
    env.globals["_cell"] = collector.inline_cell
    env.globals["_literal"] = collector.literal
    env.globals["_diagram"] = collector.diagram
    return env


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's compiled templates in build/.jinja: written whole (atomically), and one
    that cannot be read is compiled again."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        out = io.BytesIO()
        bucket.write_bytecode(out)
        try:
            write_atomic(Path(self._get_cache_filename(bucket)), out.getvalue(), durable=False)  # (checked when read)
        except OSError:
            pass  # a cache: the next build compiles again


@lru_cache(maxsize=4)
def _bytecode_cache(folder: Path) -> jinja2.BytecodeCache:
    folder.mkdir(parents=True, exist_ok=True)
    return _BytecodeCache(str(folder))


class _CellLoader(jinja2.FileSystemLoader):
    """Loads templates with their `python run` fences swapped for `_cell(...)` calls."""

    def __init__(self, search: list[str], collector: "_CellCollector") -> None:
        super().__init__(search)
        self.collector = collector
        self._prepared: dict[str, tuple[str, str, Callable[[], bool]]] = {}

    @staticmethod
    def of(environment: jinja2.Environment) -> "_CellLoader":
        assert isinstance(environment.loader, _CellLoader)  # (_environment's)
        return environment.loader

    def prepared(self, environment: jinja2.Environment, template: str) -> str:
        """The template's source as Jinja gets it (its cells collected and cut out), kept
        for the load that may follow (the cells are collected once)."""
        self._prepared[template] = self.get_source(environment, template)
        return self._prepared[template][0]

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        if template in self._prepared:
            return self._prepared.pop(template)
        pieces = jinja2.loaders.split_template_path(template)  # refuses `..`: nothing outside
        for folder in self.searchpath:
            path = Path(folder, *pieces)
            if path.is_file():
                break
        else:
            raise jinja2.TemplateNotFound(template)
        mtime = path.stat().st_mtime
        self.collector.files.add(path.resolve())
        text = read_source(path)
        self.collector.declare(text)
        source = self.collector.cut_fences(text, path)
        return source, str(path), lambda: path.exists() and path.stat().st_mtime == mtime


class _CellCollector:
    """Finds cells while the deck renders and hands out their markers, in slide order."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.cells: list[Cell] = []
        self._inline: dict[tuple[str, int], Cell] = {}
        self._snippet_files: dict[Path, SnippetFile] = {}
        self.files: set[Path] = set()
        self.literals: list[str] = []  # code shown as written (see cut_fences)
        self._drawn: dict[tuple[str, int], Diagram] = {}  # ```mermaid and ```dot fences, by where they are
        self.diagrams: list[Diagram] = []  # in slide order (a partial's, once each time it is included)
        self._ran: dict[Path, set[str]] = {}  # snippet file -> labels of its pieces the deck runs
        self.declared: set[str] = set()  # names the deck's templates set themselves

    def _add(self, cell: Cell) -> str:
        if cell.options.highlight:  # its steps name lines the code has (the deck's line says which cell)
            parse_steps(cell.options.highlight, cell.reference, lines=len(cell.code.splitlines()))
        self.cells.append(cell)
        return MARKER.format(len(self.cells) - 1)

    # -- the template's source: cells cut out, code kept literal

    def declare(self, source: str) -> None:
        """Names a template sets itself ({% set %}, {% for %}, macros): its prose may use them."""
        self.declared |= set(_DECLARED.findall(source))

    def cut_fences(self, source: str, path: Path) -> str:
        """Prepare a template's source, keeping its line numbers: each `python run` fence
        becomes `{{ _cell(...) }}`, and code shown on a slide (other fences, `$$` math,
        inline code with `{{`, `{%` or `{#` in it) becomes `{{ _literal(n) }}`, so Jinja
        leaves it exactly as written, whatever its language. A fence whose info string
        holds `{template}` (```yaml {template}) is a template like prose. `{% raw %}`
        blocks are left alone."""
        lines = source.split("\n")
        out: list[str] = []
        i, raw = 0, False
        while i < len(lines):
            line = lines[i]
            if not raw and not _MAY_MATTER.search(line):  # (most prose: no fence, no math, no template)
                out.append(line)
                i += 1
                continue
            opening = None if raw else _RAW_OPEN.search(line)
            if raw or opening:  # inside {% raw %}: Jinja itself keeps it literal
                raw = not _RAW_CLOSE.search(line, opening.end() if opening else 0)
                out.append(line)
                i += 1
                continue
            opened = _FENCE_OPEN.match(line) or _MATH_OPEN.match(line)
            if not opened:
                out.append(_EXPRESSION.sub(self._literal_expression, _INLINE_CODE.sub(self._literal_span, line)))
                i += 1
                continue
            end = _closing_fence(lines, i, opened.group("fence"))
            info = opened.group("info")
            indent = opened.group("indent")
            newlines = "\n" * (min(end, len(lines) - 1) - i)
            if run := _RUN_INFO.match(info):
                if end == len(lines):
                    raise DeckError("'python run' fence is never closed", Location(path, i + 1))
                code = "\n".join(_strip_indent(text, len(indent)) for text in lines[i + 1:end])
                self._inline[(str(path), i)] = self._inline_cell(code, path, i + 1, run.group("language").lower(),
                                                                 run.group("steps"))
                out.append(f'{indent}{{{{ _cell("{_escape(str(path))}", {i}) }}}}{{#{newlines}#}}')
            elif (kind := info.strip().lower()) in DIAGRAM_KINDS and end < len(lines):
                code = "\n".join(_strip_indent(text, len(indent)) for text in lines[i + 1:end])
                self._drawn[(str(path), i)] = read_diagram(kind, code, Location(path, i + 1))
                out.append(f'{indent}{{{{ _diagram("{_escape(str(path))}", {i}) }}}}{{#{newlines}#}}')
            elif mark := _TEMPLATE_MARK.search(info):  # opted in: the code is a template
                out.append(line.replace(mark.group(0), " ", 1).rstrip())
                out.extend(lines[i + 1:end + 1])
            else:
                if stepped := STEPPED_INFO.match(info):  # (checked here, stepped in format/steps.py)
                    parse_steps(stepped.group("steps"), Location(path, i + 1), lines=max(end - i - 1, 0))
                self.literals.append("\n".join(lines[i:end + 1]))
                out.append(f"{{{{ _literal({len(self.literals) - 1}) }}}}{{#{newlines}#}}")
            i = end + 1
        return "\n".join(out)

    def _literal_span(self, span: re.Match[str]) -> str:
        if not _JINJA_SYNTAX.search(span.group(0)):
            return span.group(0)
        return self._keep(span.group(0))

    def _keep(self, text: str) -> str:
        self.literals.append(text)
        return f"{{{{ _literal({len(self.literals) - 1}) }}}}"

    def _literal_expression(self, found: re.Match[str]) -> str:
        """`{{ ... }}` in prose that cannot be deckrun's stays as written: text another
        tool's template syntax holds (Blade's `{{ $x }}`, Vue's `{{ message }}`, a Marp
        deck's `{{ paginate }}`): not an expression Jinja can read, or one that reads no
        name deckrun or the deck gives it (a name the deck sets itself counts)."""
        text = found.group(0)
        try:
            names = jinja2.meta.find_undeclared_variables(_PARSER.parse(text))
        except jinja2.TemplateSyntaxError:
            return self._keep(text)
        known = _CONTEXT | self.declared
        if names and not names & known and not any(difflib.get_close_matches(name, known, cutoff=0.75)
                                                   for name in names):
            return self._keep(text)  # (a name like one of deckrun's is a typo: an error says so)
        return text

    def diagram(self, path: str, index: int) -> str:
        self.diagrams.append(self._drawn[(path, index)])
        return DIAGRAM_MARKER.format(len(self.diagrams) - 1)

    def literal(self, index: int) -> str:
        return self.literals[index]

    def _inline_cell(self, code: str, path: Path, fence_line: int, language: str, steps: str | None) -> Cell:
        body, options, start = split_options(code, Location(path, fence_line + 1))
        if steps is not None and not options.highlight:
            options = make_options({"highlight": steps}, Location(path, fence_line), options)
        return Cell(body, options, origin=start, reference=Location(path, fence_line), language=language)

    def inline_cell(self, path: str, index: int) -> str:
        return self._add(self._inline[(path, index)])

    # -- snippet("file.py#cell", **options)

    def snippet(self, ref: str, **raw_options: Any) -> str:
        where = _caller_location()
        file_part, _, cell_name = str(ref).partition("#")
        path = (self.project.snippets_dir / file_part).resolve()
        if not path.is_relative_to(self.project.root):
            raise DeckError(f"snippet path '{file_part}' leads outside the course folder: "
                            "snippets are read from snippets/ (or elsewhere in the course)", where)
        if not path.is_file():
            raise DeckError(f"snippet file not found: snippets/{file_part}", where)
        self.files.add(path)
        snippet_file = self._snippet_files.get(path) or parse_snippet_file(path)
        self._snippet_files[path] = snippet_file
        ran = self._ran.setdefault(path, set())
        if cell_name:
            found = snippet_file.find(cell_name)
            if found is None:
                raise self._not_found(snippet_file, cell_name, file_part, where)
            for piece in snippet_file.needed_before(found.name):
                if piece.label not in ran:  # a script would have run it: run it first, unseen
                    body, options, start = split_options(piece.code, Location(path, piece.line),
                                                         self._tag_options(piece, where))
                    self._add(Cell(body, replace(options, echo=False, output="hide"), origin=start,
                                   reference=where, name=piece.name, setup=True, language=snippet_file.language))
                    ran.add(piece.label)
            code, line, base = found.code, found.line, self._tag_options(found, where)
            cell_name = found.name
            ran.add(cell_name)
        elif path.suffix == ".ipynb":
            names = ", ".join(snippet_file.cells) or "none"
            raise DeckError(f"snippet('{file_part}') needs a cell: snippet('{file_part}#label') shows one code cell "
                            f"of a notebook, found by its id, '#| label:' or a tag (cells: {names})", where)
        else:
            code, line, base = snippet_file.text, 1, None
            ran.update(piece.label for piece in snippet_file.order)
        body, options, start = split_options(code, Location(path, line), base)
        options = make_options(raw_options, where, options)
        return self._add(Cell(body, options, origin=start, reference=where, name=cell_name,
                              language=snippet_file.language))

    @staticmethod
    def _tag_options(piece: SnippetCell, where: Location) -> CellOptions | None:
        """A notebook cell's tags (remove-input, raises-exception, ...) as its options."""
        return make_options(piece.options, where) if piece.options else None

    @staticmethod
    def _not_found(snippet_file: SnippetFile, name: str, shown: str, where: Location) -> DeckError:
        if snippet_file.path.suffix == ".ipynb":
            return cell_not_found(read_notebook(snippet_file.path), name, where, f"snippets/{shown}")
        names = ", ".join(snippet_file.cells) or "none: mark cells with '# %% name'"
        return DeckError(f"no cell named '{name}' in snippets/{shown} (cells: {names})", where)


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
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None and template.filename:
            return Location(Path(template.filename), template.get_corresponding_lineno(frame.f_lineno))
        frame = frame.f_back
    return Location(Path("<deck>"))


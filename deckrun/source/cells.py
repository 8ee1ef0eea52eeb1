"""Cells: a piece of code to run, its options, and where it comes from.

Options are written `#| key: value` at the top of a cell (the Quarto convention) or as
keyword arguments of `snippet(...)`; both mean the same. Snippet files are cut into named
cells at `# %% name` lines (the percent format editors run cell by cell); a notebook's
code cells are found by id, `#| label:` or tag (see notebooks).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import DeckError, Location, read_source
from ..core.project import yaml_error
from .analysis import code_facts, replay_set
from .notebooks import Notebook, read_notebook
from .steps import parse_steps

OUTPUT_MODES = ("below", "right", "only", "hide")
VALUE_MODES = ("figures", "all")
FIGURE_FORMATS = ("png", "svg")


@dataclass(frozen=True)
class CellOptions:
    echo: bool = True               # show the code
    output: str = "below"           # below | right (code|output columns) | only | hide
    error: bool = False             # an exception is the lesson: show it, do not fail
    timeout: float = 600.0          # seconds before the cell is interrupted
    max_lines: int | None = None    # truncate longer text output, with a visible marker
    width: str | None = None        # figure size on the slide (CSS length; number = px)
    height: str | None = None
    fig_alt: str = ""               # the figures' alt text (read by screen readers)
    fig_cap: str = ""               # a caption under the figures
    format: str = "png"             # figure format: png | svg
    dpi: int = 150                  # figure resolution
    inputs: tuple[str, ...] = ()    # files the cell reads (globs), for the cache
    freeze: bool = False            # take its recorded output even if other versions made it
    label: str = ""                 # a name for the cell (Quarto's; finds a notebook's cell)
    values: str = "figures"         # all: also the value a plotting cell ends with (Text(...)) beside its figure
    highlight: str = ""             # lines each step highlights: "1-2|3|all" (see steps.py)
    figure_style: str = ""          # theme | none: figures in the course theme's look (default), or matplotlib's

    # Options that change what running the cell produces; the rest only change display.
    EXECUTION = ("format", "dpi")

    def execution_options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.EXECUTION}


_FIELDS = {f.name: f for f in dataclasses.fields(CellOptions)}


def make_options(raw: dict[str, Any], where: Location,
                 base: CellOptions | None = None) -> CellOptions:
    """Validate `raw` (names with - or _) on top of `base`; errors name `where`."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in _FIELDS:
            known = ", ".join(sorted(n.replace("_", "-") for n in _FIELDS))
            raise DeckError(f"unknown cell option '{key}' (known: {known})", where)
        values[name] = _check_option(name, value, where)
    return dataclasses.replace(base or CellOptions(), **values)


def _check_option(name: str, value: Any, where: Location) -> Any:
    def bad(expected: str) -> DeckError:
        return DeckError(f"cell option '{name.replace('_', '-')}' must be {expected}, "
                         f"not {value!r}", where)

    if name in ("echo", "error", "freeze"):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if name == "output":
        if value is False:
            return "hide"
        if value not in OUTPUT_MODES:
            raise bad(" | ".join(OUTPUT_MODES))
        return value
    if name == "figure_style":
        if value not in ("theme", "none"):
            raise bad("theme | none")
        return value
    if name == "values":
        if value not in VALUE_MODES:
            raise bad(" | ".join(VALUE_MODES))
        return value
    if name == "highlight":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise bad('steps of lines such as "1-2|3|all"')
        parse_steps(str(value), where)  # (the lines are checked against the code: see Cell)
        return str(value)
    if name == "format":
        if value not in FIGURE_FORMATS:
            raise bad(" | ".join(FIGURE_FORMATS))
        return value
    if name in ("timeout", "dpi", "max_lines"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise bad("a positive number")
        return value if name == "timeout" else int(value)
    if name in ("fig_alt", "fig_cap", "label"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise bad("text")
        return str(value)
    if name in ("width", "height"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad("a size such as 600 or 60%")
        return f"{value}px" if isinstance(value, (int, float)) else value
    if name == "inputs":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise bad("a file path or a list of paths")
        return tuple(items)
    raise AssertionError(name)


@dataclass(frozen=True)
class Cell:
    """One piece of code to run, in slide order.

    `origin` is where the code is written (its first code line): the deck for inline
    cells, the snippet file for referenced ones. `reference` is the deck line that put
    the cell on a slide (the fence, or the `snippet(...)` call).
    """
    code: str
    options: CellOptions
    origin: Location
    reference: Location
    name: str = ""
    setup: bool = False  # run before a snippet cell that needs it, not shown (see sources)
    language: str = "python"  # of its code: its fence's (```bash run), a notebook's kernel's
    look: str = ""  # the figure settings it runs with (JSON of matplotlib's rcParams; themes.dress_figures)

    def describe(self, root: Path | None = None) -> str:
        """Where it is, for messages (`root`: relative to the course, for what is stored)."""
        if self.origin.path == self.reference.path:
            return self.reference.shown(root)
        label = f"{self.origin.path.name}#{self.name}" if self.name else \
            f"{self.origin.path.name}:{self.origin.line}" if self.setup else self.origin.path.name
        return f"{self.reference.shown(root)} ({'setup from ' if self.setup else ''}{label})"


_OPTION_LINE = re.compile(r"^#\|\s?(.*)$")


def split_options(code: str, origin: Location,
                  base: CellOptions | None = None) -> tuple[str, CellOptions, Location]:
    """Strip leading `#|` lines; return the code, its options and where the code starts."""
    lines = code.splitlines()
    option_lines: list[str] = []
    while len(option_lines) < len(lines) and (option := _OPTION_LINE.match(lines[len(option_lines)])):
        option_lines.append(option.group(1))
    options = base or CellOptions()
    if option_lines:
        where = origin
        try:
            raw = yaml.safe_load("\n".join(option_lines)) or {}
        except yaml.YAMLError as exc:
            raise yaml_error(exc, "invalid '#|' cell options", origin.path, origin.line or 1) from None
        if not isinstance(raw, dict):
            raise DeckError("'#|' cell options must be 'key: value' lines", where)
        options = make_options(raw, where, options)
    body, first = trim_blank_lines(lines[len(option_lines):], (origin.line or 1) + len(option_lines))
    return body, options, Location(origin.path, first if origin.line is not None else None)


def trim_blank_lines(lines: list[str], first_line: int) -> tuple[str, int]:
    """Join `lines` without leading/trailing blank lines; return it and its first line number."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end]), first_line + start


# ---------------------------------------------------------------- snippet files

_CELL_MARKER = re.compile(r"^# %%(?P<title>.*)$")


@dataclass(frozen=True)
class SnippetCell:
    name: str  # "" for the lines before the first `# %%`, and for a cell with no name
    code: str
    line: int | None  # first line of the code in the file
    options: dict[str, Any] = field(default_factory=dict)  # a notebook cell's tags, as options

    @property
    def label(self) -> str:
        return self.name or f"line {self.line}"


@dataclass(frozen=True)
class SnippetFile:
    path: Path
    text: str
    cells: dict[str, SnippetCell] = field(default_factory=dict)  # the named ones
    order: tuple[SnippetCell, ...] = ()  # every piece of code, in file order
    aliases: dict[str, str] = field(default_factory=dict)  # a notebook's ids and tags -> names
    language: str = "python"  # a notebook's kernel's language

    def find(self, key: str) -> SnippetCell | None:
        return self.cells.get(self.aliases.get(key, key))

    def needed_before(self, name: str) -> list[SnippetCell]:
        """The earlier pieces of the file whose names cell `name` uses, as a script
        run from the top would have run them (the analysis replays use)."""
        position = next(i for i, piece in enumerate(self.order) if piece.name == name)
        facts = [code_facts(piece.code) for piece in self.order[:position + 1]]
        return [self.order[i] for i in replay_set(facts, [position])]

    def defining(self, name: str, cell: str) -> tuple[SnippetCell, bool] | None:
        """The piece of the file that binds `name` (the last one before cell `cell`, else
        the first after it), and whether it comes after (for error messages)."""
        position = next(i for i, piece in enumerate(self.order) if piece.name == cell)
        binds = [i for i, piece in enumerate(self.order) if i != position and name in code_facts(piece.code).binds]
        earlier = [i for i in binds if i < position]
        found = earlier[-1] if earlier else (binds[0] if binds else None)
        return None if found is None else (self.order[found], found > position)


def parse_snippet_file(path: Path) -> SnippetFile:
    """Cut a snippet file into its `# %% name` cells (and the lines before the first); a
    notebook into its code cells."""
    if path.suffix == ".ipynb":
        return _notebook_snippets(path)
    text = read_source(path)
    pieces: list[SnippetCell] = []
    name, start, body = "", 1, list[str]()

    def close() -> None:
        code, first = trim_blank_lines(body, start)
        if code or name:
            pieces.append(SnippetCell(name, code, first))

    for number, line in enumerate(text.splitlines(), start=1):
        marker = _CELL_MARKER.match(line)
        if not marker:
            body.append(line)
            continue
        close()
        name, start, body = _cell_title(marker.group("title")), number + 1, []
        if name and any(piece.name == name for piece in pieces):
            raise DeckError(f"cell '{name}' is defined twice in this snippet file",
                            Location(path, number))
    close()
    return SnippetFile(path, text, {p.name: p for p in pieces if p.name}, tuple(pieces))


def _notebook_snippets(path: Path) -> SnippetFile:
    """A notebook's code cells, named by label, else id; found by id first, then label,
    then tag (as Quarto's embed finds them)."""
    notebook = read_notebook(path)
    pieces: list[SnippetCell] = []
    aliases: dict[str, str] = {}
    for number, cell in enumerate(notebook.code_cells, start=1):
        name = cell.name or f"cell-{number}"
        if any(piece.name == name for piece in pieces):
            raise DeckError(f"two code cells are labelled '{name}' in this notebook", Location(path, cell.line))
        code, first = trim_blank_lines(cell.source.splitlines(), cell.line or 1)
        pieces.append(SnippetCell(name, code, first if cell.line else None, cell.tag_options()))
        aliases.setdefault(cell.id or name, name)
    for cell, piece in zip(notebook.code_cells, pieces):
        for key in (cell.label, *cell.tags):
            if key:
                aliases.setdefault(key, piece.name)
    return SnippetFile(path, notebook_text(notebook), {p.name: p for p in pieces}, tuple(pieces), aliases,
                       notebook.language)


def notebook_text(notebook: Notebook) -> str:
    """The notebook's code, as one script."""
    return "\n\n".join(cell.source for cell in notebook.code_cells)


def _cell_title(title: str) -> str:
    """`# %% classify [markdown]` -> 'classify' (Jupytext puts cell kinds in brackets)."""
    return title.split("[", 1)[0].strip()

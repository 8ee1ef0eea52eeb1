"""Jupyter notebooks as sources: read and validated once (a file that is not JSON or not
nbformat is a clear error naming it), their cells with what finds them (id, `#| label:`,
tags), the options their tags stand for, and the line of the file each cell's code starts
on (so that errors and tracebacks point into the .ipynb as they point into a .py)."""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import DeckError, Location, read_source

# The tags Jupyter Book, nbconvert and Quarto read, as cell options.
TAG_OPTIONS: dict[str, dict[str, Any]] = {
    "remove-input": {"echo": False},
    "hide-input": {"echo": False},
    "remove-output": {"output": "hide"},
    "hide-output": {"output": "hide"},
    "remove-cell": {"echo": False, "output": "hide"},
    "hide-cell": {"echo": False, "output": "hide"},
    "raises-exception": {"error": True},
}
_LABEL = re.compile(r"^#\|\s*label:\s*(?P<label>[^\s#]+)\s*$")
_SOURCE_KEY = re.compile(r'^\s*"source":\s*', re.M)


@dataclass(frozen=True)
class NotebookCell:
    kind: str                   # code | markdown | raw
    source: str
    id: str                     # the cell's id ("" in notebooks older than nbformat 4.5)
    label: str                  # its `#| label:` ("" if none)
    tags: tuple[str, ...]
    slideshow: str              # slide | subslide | fragment | notes | skip | - | ""
    line: int | None            # the line of the file its source starts on
    attachments: dict[str, dict[str, str]]  # name -> {MIME type: base64}
    raw_format: str = ""        # a raw cell's format (text/markdown, text/html, ...)
    outputs: int = 0            # stored outputs (never used: the build runs the code)
    raised: bool = False        # one of them is an error: it raised when the notebook was run

    @property
    def name(self) -> str:
        """What names it in messages and in the cache: its label, else its id."""
        return self.label or self.id

    def tag_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for tag in self.tags:
            options.update(TAG_OPTIONS.get(tag, {}))
        return options


@dataclass(frozen=True)
class Notebook:
    path: Path
    language: str               # the kernel's language ("python" unless it says otherwise)
    title: str
    cells: tuple[NotebookCell, ...]
    python2: bool = False       # written for Python 2 (its kernelspec or language version says so)

    @property
    def code_cells(self) -> tuple[NotebookCell, ...]:
        return tuple(cell for cell in self.cells if cell.kind == "code")

    def find(self, key: str) -> NotebookCell | None:
        """A code cell, found as Quarto's embed finds one: by id, then label, then tag."""
        for matches in (lambda c: c.id == key, lambda c: c.label == key, lambda c: key in c.tags):
            found = [cell for cell in self.cells if matches(cell)]
            if found:
                return found[0]
        return None

    def keys(self) -> list[str]:
        """What finds its code cells (labels, else ids), for messages."""
        return [cell.name for cell in self.code_cells if cell.name]


def read_notebook(path: Path) -> Notebook:
    """Read and validate a notebook; DeckError naming the file (and line) if it is not one."""
    import nbformat

    text = read_source(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeckError(f"this notebook is not valid JSON: {exc.msg} (column {exc.colno})",
                        Location(path, exc.lineno)) from None
    major = data.get("nbformat") if isinstance(data, dict) else None
    if major in (2, 3) and isinstance(data.get("worksheets"), list):
        return _upgraded(path, text)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise DeckError("this is not a Jupyter notebook: it has no list of cells", Location(path, 1))
    if major != 4:
        raise DeckError(f"this notebook is in nbformat {major!r}: deckrun reads versions 3 and 4 (open and save it "
                        "in a current Jupyter to convert it)", Location(path, 1))
    try:
        notebook = nbformat.from_dict(data)
        with warnings.catch_warnings():  # (a cell with no id, in a notebook older than 4.5, is fine)
            warnings.simplefilter("ignore")
            nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "the notebook"
        raise DeckError(f"this notebook is not valid nbformat: {where}: {exc.message}", Location(path, 1)) from None
    return _notebook(path, notebook, _source_lines(text, len(notebook.cells)))


def _upgraded(path: Path, text: str) -> Notebook:
    """A notebook in an older format (3, with worksheets; a python2 kernel), read as
    nbformat upgrades it to version 4 (its cells' lines in the file are not known)."""
    import nbformat

    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 (nbformat's reader raises many kinds)
        raise DeckError(f"this nbformat {json.loads(text).get('nbformat')} notebook could not be upgraded: {exc}",
                        Location(path, 1)) from None
    return _notebook(path, notebook, [None] * len(notebook.cells))


def _notebook(path: Path, notebook: Any, lines: Sequence[int | None]) -> Notebook:
    cells = tuple(_cell(cell, line) for cell, line in zip(notebook.cells, lines))
    spec, info = notebook.metadata.get("kernelspec", {}), notebook.metadata.get("language_info", {})
    language = spec.get("language") or info.get("name") or "python"
    mode = info.get("codemirror_mode")
    python2 = spec.get("name") == "python2" or str(info.get("version", "")).startswith("2.") \
        or isinstance(mode, dict) and mode.get("version") == 2
    return Notebook(path, str(language).lower(), _title(notebook, cells), cells, python2)


def _cell(cell: Any, line: int | None) -> NotebookCell:
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    label = next((m.group("label") for m in map(_LABEL.match, source.splitlines()[:20]) if m), "")
    metadata = cell.get("metadata", {})
    return NotebookCell(cell.cell_type, source, str(cell.get("id", "")), label if cell.cell_type == "code" else "",
                        tuple(str(tag) for tag in metadata.get("tags", [])),
                        str(metadata.get("slideshow", {}).get("slide_type", "")), line,
                        dict(cell.get("attachments", {})),
                        str(metadata.get("format", metadata.get("raw_mimetype", ""))),
                        len(cell.get("outputs", [])),
                        any(output.get("output_type") == "error" for output in cell.get("outputs", [])))


def _source_lines(text: str, count: int) -> Sequence[int | None]:
    """The line each cell's source starts on: the line after `"source": [` (Jupyter writes
    one line of code per line of the file), or that line for a source kept as one string.
    None for all when the file's layout cannot be matched to its cells."""
    starts = [match.end() for match in _SOURCE_KEY.finditer(text)]
    lines = [text.count("\n", 0, start) + 1 + bool(re.match(r"\[[ \t]*\r?\n", text[start:start + 8]))
             for start in starts]
    if len(starts) != count or len(set(lines)) != count:  # (another layout: one line for all, say)
        return [None] * count
    return lines


def _title(notebook: Any, cells: tuple[NotebookCell, ...]) -> str:
    title = notebook.metadata.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    for cell in cells:
        if cell.kind == "markdown":
            heading = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", cell.source, re.M)
            if heading:
                return heading.group(1)
    return ""


def cell_not_found(notebook: Notebook, key: str, where: Location, shown: str) -> DeckError:
    """An unknown label, naming the labels there are."""
    markdown = next((c for c in notebook.cells if c.kind != "code" and key in (c.id, *c.tags)), None)
    if markdown is not None:
        return DeckError(f"'{key}' in {shown} is a {markdown.kind} cell: snippet() shows code cells", where)
    names = ", ".join(notebook.keys()) or "none: give cells a '#| label: name' line, or a tag"
    return DeckError(f"no cell with the id, label or tag '{key}' in {shown} (cells: {names})", where)

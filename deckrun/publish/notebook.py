"""A deck as a notebook students can run again: the slides' prose as Markdown cells, the
deck's cells as code cells in slide order with the outputs the slides show. Written with
nbformat, Jupyter's own library, so JupyterLab, VS Code and Colab open it as is."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import DeckError
from ..core.project import GENERATED
from ..execute.capture import SECRET_NAME
from ..execute.kernel import RESEED
from ..execute.outputs import CellResult, Error, Rich, Stream
from ..execute.settings import KERNEL_ENV, DeckSettings
from ..source.analysis import code_facts
from ..source.cells import Cell
from ..source.deck import MARKER_PATTERN, Deck
from ..source.slides import parse_slides

MAX_SHIPPED_BYTES = 50 * 1024 * 1024  # a file larger than this is named, not copied
_BACKGROUND_IMAGE = re.compile(r"!\[[^\]]*\bbg\b[^\]]*\]\([^)]*\)")
_COMMENT = re.compile(r"<!--[\s\S]*?-->")


@dataclass(frozen=True)
class Provenance:
    """When a deck's outputs were computed, and with what."""
    computed: str                  # the newest cell's time (UTC), or "" if unknown
    python: str
    packages: dict[str, str]

    def describe(self) -> str:
        day = self.computed[:10] or "an unknown date"
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return f"Outputs computed on {day} with Python {self.python}" + (f", {packages}" if packages else "")


@dataclass(frozen=True)
class CourseFiles:
    """Course files the deck's cells read, relative to the course folder."""
    shipped: tuple[str, ...]
    missing: tuple[str, ...]  # with the reason


def course_files(cells: list[Cell], inputs: list[dict[str, str]], root: Path) -> CourseFiles:
    """Files a notebook needs beside it: those the cells declare or import (their cache
    keys read them) and those named by a string in their code or modules (`open("data/x.csv")`)."""
    names = {name for declared in inputs for name in declared}
    for code in [c.code for c in cells] + [(root / n).read_text(encoding="utf-8")
                                           for n in sorted(names) if n.endswith(".py")]:
        names |= _named_files(code, root)
    shipped, missing = [], []
    for name in sorted(names):
        path = root / name
        if not path.is_file():
            missing.append(f"{name} (not found)")
        elif path.stat().st_size > MAX_SHIPPED_BYTES:
            missing.append(f"{name} (over {MAX_SHIPPED_BYTES // 2**20} MB)")
        else:
            shipped.append(name)
    return CourseFiles(tuple(shipped), tuple(missing))


def _named_files(code: str, root: Path) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) < 300 \
                and "\n" not in node.value and not node.value.startswith(("/", "~")):
            path = (root / node.value).resolve()
            if path.is_relative_to(root) and path.is_file() and not _generated(path, root):
                found.add(str(path.relative_to(root)))
    return found


def _generated(path: Path, root: Path) -> bool:
    return bool(GENERATED & set(path.relative_to(root).parts))


@dataclass(frozen=True)
class NotebookCells:
    """The deck's cells a notebook holds, in deck order: those on the students' slides and
    the code the build ran unseen before them (a snippet file's setup regions)."""
    indices: tuple[int, ...]
    warnings: tuple[str, ...] = ()


def notebook_cells(cells: Sequence[Cell], shown: set[int]) -> NotebookCells:
    """The cells of a notebook in which the `shown` cells (those on students' slides) find
    every name they read, as in the build: each one's setup code, and setup code a left-out
    cell brought in that a shown cell needs. A shown cell that needs what only a left-out
    cell (on a lecturer-only slide) binds would fail: that is a DeckError."""
    facts = [code_facts(cell.code) for cell in cells]
    owner = {j: next((i for i in range(j + 1, len(cells)) if not cells[i].setup), None)
             for j, cell in enumerate(cells) if cell.setup}
    included = set(shown) | {j for j, i in owner.items() if i in shown}
    problems: list[str] = []
    pending = sorted(included)
    while pending:
        index = pending.pop(0)
        for name in sorted(facts[index].needs):
            binder = next((j for j in range(index - 1, -1, -1) if name in facts[j].binds), None)
            if binder is None or binder in included:
                continue
            if cells[binder].setup:
                included.add(binder)
                pending.append(binder)
            else:
                problems.append(f"{cells[index].describe()} uses '{name}', which only "
                                f"{cells[binder].describe()} sets, on a lecturer-only slide")
    if problems:
        raise DeckError("the students' notebook would not run:\n  " + "\n  ".join(problems),
                        cells[min(included)].reference if included else None,
                        detail="Set the name on a students' slide too, or take the class 'lecturer' "
                               "off the slide that sets it.")
    warnings = []
    for index in sorted(shown):
        for left_out in sorted(set(range(index)) - included):
            changed = facts[left_out].mutates & facts[index].needs
            if changed:
                warnings.append(f"{cells[left_out].describe()}: this cell, on a lecturer-only slide, "
                                f"changes {', '.join(sorted(changed))}, which {cells[index].describe()} "
                                "uses: its output in the students' notebook may differ from the slide")
    return NotebookCells(tuple(sorted(included)), tuple(dict.fromkeys(warnings)))


def make_notebook(deck: Deck, results: Sequence[CellResult], chosen: NotebookCells, title: str, course: str,
                  provenance: Provenance, settings: DeckSettings, files: CourseFiles, root: Path) -> str:
    """The notebook's JSON. `deck` is the students' version: its markers place the cells
    shown on its slides; the `chosen` cells the build ran unseen go, folded and marked,
    just before the next one shown."""
    import nbformat

    cells = [_markdown_cell(_introduction(title, course, provenance, files)),
             _code_cell(_setup_code(settings, files), None, {"tags": ["setup"]}, [])]
    count = 0
    unseen = [i for i in chosen.indices if deck.cells[i].setup]
    for kind, value in _pieces(deck.markdown):
        if kind == "markdown":
            cells.append(_markdown_cell(value))
            continue
        for index in [i for i in unseen if i < value]:
            count += 1
            cells.append(_unseen_cell(deck.cells[index], results[index], count, root))
            unseen.remove(index)
        count += 1
        cell, result = deck.cells[value], results[value]
        metadata: dict[str, Any] = {"deckrun": {"cell": cell.describe(root)}}
        if not cell.options.echo or cell.options.output == "only":
            metadata["jupyter"] = {"source_hidden": True}  # hidden on the slide, folded here
        if cell.options.error:
            metadata["tags"] = ["raises-exception"]  # Jupyter's tag: Run All goes on past it
        cells.append(_code_cell(cell.code, count, metadata, [_output(o, count) for o in result.outputs]))
    for number, notebook_cell in enumerate(cells, 1):
        notebook_cell["id"] = f"cell-{number}"  # stable: the same deck gives the same file
    notebook = nbformat.from_dict({
        "nbformat": 4, "nbformat_minor": 5, "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"},
                     "deckrun": {"deck": deck.path.name, "computed": provenance.computed,
                                 "python": provenance.python, "packages": provenance.packages}}})
    nbformat.validate(notebook)
    text: str = nbformat.writes(notebook)
    return text


def _unseen_cell(cell: Cell, result: CellResult, count: int, root: Path) -> dict[str, Any]:
    """Code the build ran before the next cell without showing it: folded, and saying so."""
    origin = f"{cell.origin.path.parent.name}/{cell.origin.path.name}" + (f"#{cell.name}" if cell.name else "")
    code = f"# Setup the slides do not show ({origin}), run before the next cell as in the build.\n{cell.code}"
    metadata = {"deckrun": {"cell": cell.describe(root)}, "jupyter": {"source_hidden": True}, "tags": ["setup"]}
    return _code_cell(code, count, metadata, [_output(o, count) for o in result.outputs])


def _markdown_cell(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code_cell(code: str, count: int | None, metadata: dict[str, Any], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": count, "metadata": metadata,
            "outputs": outputs, "source": code}


def _pieces(markdown: str) -> list[tuple[str, Any]]:
    """The deck in order: ("markdown", text) per slide's prose, ("code", cell index)."""
    slides = parse_slides(markdown)
    pieces: list[tuple[str, Any]] = []
    for slide in slides.slides:
        first = slide.start + 1 if slide.separator else slide.start
        text = "\n".join(slides.lines[first:slide.end])
        position = 0
        for marker in MARKER_PATTERN.finditer(text):
            pieces.append(("markdown", text[position:marker.start()]))
            pieces.append(("code", int(marker.group(1))))
            position = marker.end()
        pieces.append(("markdown", text[position:]))
    cleaned = []
    for kind, value in pieces:
        if kind == "markdown":
            value = _BACKGROUND_IMAGE.sub("", _COMMENT.sub("", value)).strip()
            if not value:
                continue
        cleaned.append((kind, value))
    return cleaned


def _introduction(title: str, course: str, provenance: Provenance, files: CourseFiles) -> str:
    lines = [f"# {title}", "", course, "",
             "This notebook holds the code of the slides, in order, with the outputs the "
             "slides show. Run it from top to bottom (Run All) to compute them again. Cells "
             "tagged *setup* (folded) run code the slides do not show, as the build did.", "",
             f"*{provenance.describe()}.*"]
    if files.shipped:
        lines += ["", "Files it reads, given beside it: " + ", ".join(f"`{f}`" for f in files.shipped) + "."]
    if files.missing:
        lines += ["", "**Not included**, so the cells that read them will fail: "
                  + ", ".join(f"`{f}`" for f in files.missing) + "."]
    return "\n".join(lines)


def _setup_code(settings: DeckSettings, files: CourseFiles) -> str:
    quiet = {k: v for k, v in KERNEL_ENV.items() if k not in ("PYTHONHASHSEED", "MPLBACKEND")}
    env = {k: v for k, v in {**quiet, **settings.env}.items()
           if not SECRET_NAME.search(k) and k not in settings.secrets}
    lines = ["# Setup: how the slides' cells were run (environment, course modules, seed).",
             "import os, sys, warnings",
             f"os.environ.update({json.dumps(env)})",
             'warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without widgets']
    if any(name.startswith("snippets/") for name in files.shipped):
        lines.append('sys.path.insert(0, "snippets")  # the course modules the cells import')
    seed = settings.seed
    lines += ["", RESEED.format(name="deckrun_seed", parameters=f"info=None, seed={seed}"),
              "# The build seeds random, NumPy and torch again before every cell: so does this notebook.",
              "_events = get_ipython().events",
              'if not any(getattr(f, "__name__", "") == "deckrun_seed" for f in _events.callbacks["pre_run_cell"]):',
              '    _events.register("pre_run_cell", deckrun_seed)']
    return "\n".join(lines)


def _output(output: Stream | Rich | Error, count: int) -> dict[str, Any]:
    if isinstance(output, Stream):
        return {"output_type": "stream", "name": output.name, "text": output.text}
    if isinstance(output, Error):
        return {"output_type": "error", "ename": output.ename, "evalue": output.evalue,
                "traceback": output.traceback.splitlines()}
    data = {mime: json.loads(value) if mime.endswith("json") else value
            for mime, value in output.data.items()}
    if output.is_result:
        return {"output_type": "execute_result", "data": data, "metadata": {}, "execution_count": count}
    return {"output_type": "display_data", "data": data, "metadata": {}}

"""A deck as a notebook students can run again: the slides' prose as Markdown cells, the
deck's cells as code cells in slide order with the outputs the slides show. Written with
nbformat, Jupyter's own library, so JupyterLab, VS Code and Colab open it as is."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cells import Cell
from .outputs import CellResult, Error, Rich, Stream
from .slides import parse_slides
from .sources import MARKER_PATTERN, Deck

MAX_SHIPPED_BYTES = 50 * 1024 * 1024  # a file larger than this is named, not copied
_BACKGROUND_IMAGE = re.compile(r"!\[[^\]]*\bbg\b[^\]]*\]\([^)]*\)")
_COMMENT = re.compile(r"<!--[\s\S]*?-->")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY", re.IGNORECASE)


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
    return bool({"build", "_freeze", ".git", ".venv", "node_modules"} & set(path.relative_to(root).parts))


def make_notebook(deck: Deck, results: list[CellResult], title: str, course: str,
                  provenance: Provenance, settings: dict[str, Any], files: CourseFiles) -> str:
    """The notebook's JSON. `deck` is the students' version: its markers name the cells
    that stay (cells on lecturer-only slides are gone with their slides)."""
    import nbformat

    cells = [_markdown_cell(_introduction(title, course, provenance, files)),
             _code_cell(_setup_code(settings, files), None, {"tags": ["setup"]}, [])]
    count = 0
    for kind, value in _pieces(deck.markdown):
        if kind == "markdown":
            cells.append(_markdown_cell(value))
            continue
        count += 1
        cell, result = deck.cells[value], results[value]
        metadata: dict[str, Any] = {"deckrun": {"cell": cell.describe()}}
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
    return nbformat.writes(notebook)


def _markdown_cell(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code_cell(code: str, count: int | None, metadata: dict[str, Any], outputs: list) -> dict[str, Any]:
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
             "slides show. Run it from top to bottom (Run All) to compute them again.", "",
             f"*{provenance.describe()}.*"]
    if files.shipped:
        lines += ["", "Files it reads, given beside it: " + ", ".join(f"`{f}`" for f in files.shipped) + "."]
    if files.missing:
        lines += ["", "**Not included**, so the cells that read them will fail: "
                  + ", ".join(f"`{f}`" for f in files.missing) + "."]
    return "\n".join(lines)


def _setup_code(settings: dict[str, Any], files: CourseFiles) -> str:
    env = {k: v for k, v in settings.get("env", {}).items() if not _SECRET_NAME.search(k)}
    lines = ["# Setup: how the slides' cells were run (environment, seed, course modules).",
             "import os, random, sys"]
    if env:
        lines.append(f"os.environ.update({json.dumps(env)})")
    if any(name.startswith("snippets/") for name in files.shipped):
        lines.append('sys.path.insert(0, "snippets")  # the course modules the cells import')
    lines.append(f"random.seed({int(settings.get('seed', 0))})")
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

"""Notebooks in: `import NOTEBOOK.ipynb` writes a deck whose code runs, and
`snippet("lab.ipynb#label")` shows one cell of a notebook with what it needs run unseen.
The mapping on notebooks made with nbformat (fast), then both through the real kernel and
Marp CLI (slow)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from deckrun.core.errors import DeckError
from deckrun.course.importer import convert
from deckrun.source.cells import parse_snippet_file
from deckrun.source.notebooks import read_notebook
from helpers.course import run_build

STALE = "STALE-OUTPUT-41"  # what the notebook last printed: never on a slide
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()


def cell(kind: str, source: str, slide: str = "", tags: tuple[str, ...] = (), **more) -> nbformat.NotebookNode:
    made = {"code": new_code_cell, "markdown": new_markdown_cell, "raw": new_raw_cell}[kind](source, **more)
    if slide:
        made.metadata["slideshow"] = {"slide_type": slide}
    if tags:
        made.metadata["tags"] = list(tags)
    return made


def lab(path: Path) -> Path:
    """A lecturer's notebook: slideshow metadata, notes, a skipped cell later cells need, a
    stale stored output, tags, a fragment list, an attachment, Jinja-looking prose."""
    notebook = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                     "display_name": "Python 3"}})
    pasted = cell("markdown", "![a dot](attachment:dot.png)")
    pasted.attachments = {"dot.png": {"image/png": PIXEL}}
    notebook.cells = [
        cell("markdown", "# Loops and lists\n\nA first lab.", "slide"),
        cell("markdown", "Ask who has used a spreadsheet formula.", "notes"),
        cell("code", "scale = 3\ndef times(n):\n    return n * scale", "skip", id="setup"),
        cell("markdown", "## Multiples", "slide"),
        cell("code", "#| label: multiples\nprint('multiples', [times(n) for n in range(4)])", "-",
             outputs=[new_output("stream", name="stdout", text=STALE + "\n")]),
        cell("markdown", "- first we loop\n- then we collect", "fragment"),
        cell("markdown", "## When it goes wrong", "slide"),
        cell("code", "int('three')", tags=("raises-exception",)),
        cell("code", "print('only the output', times(5))", tags=("remove-input", "teacher-only"), id="quiet"),
        cell("markdown", "Prose with {{ braces }} and {% percent %} kept as written.", "subslide"),
        pasted,
        cell("code", "%pip install numpy\nprint('after install')"),
        cell("raw", "a raw cell for LaTeX only"),
        cell("markdown", "This slide is skipped.", "skip"),
    ]
    nbformat.write(notebook, path)
    return path


# ------------------------------------------------------------- the mapping (fast)


def test_slides_follow_the_slideshow_metadata(tmp_path):
    imported = convert(read_notebook(lab(tmp_path / "lab.ipynb")), "lab", "nmt-theme", to_snippets=False)
    deck = imported.files["slides/lab.md"].decode()
    slides = deck.split("\n---\n")[1:]  # (after the front matter)
    assert [s.strip().splitlines()[0] for s in slides] == [
        "# Loops and lists", "## Multiples", "## When it goes wrong", "{% raw %}"]
    assert "title: Loops and lists" in deck and "theme: nmt-theme" in deck
    assert "<!--\nAsk who has used a spreadsheet formula.\n-->" in slides[0]
    assert "```python run\n#| echo: false\n#| output: hide\nscale = 3" in slides[0]  # skipped: runs unseen
    assert "* first we loop\n* then we collect" in slides[1]                       # a Marp fragment list
    assert "#| error: true\nint('three')" in slides[2]
    assert "#| echo: false\nprint('only the output'" in slides[2]
    assert "{% raw %}\nProse with {{ braces }}" in slides[3]
    assert "![a dot](images/lab/dot.png)" in slides[3]
    assert imported.files["slides/images/lab/dot.png"] == base64.b64decode(PIXEL)
    assert "# %pip install numpy" in slides[3] and "This slide is skipped" not in deck
    assert STALE not in deck and imported.outputs_left_out == 1
    said = "\n".join(imported.unmapped)
    for problem in ("tag 'teacher-only'", "`%pip install numpy` commented out", "a raw cell (no format) is left out"):
        assert problem in said, said


def test_without_metadata_a_heading_of_level_one_or_two_starts_a_slide(tmp_path):
    notebook = new_notebook(cells=[
        cell("markdown", "# Title\n\nintro\n\n## Part one\n\ntext\n\n### a detail stays\n\n```\n# not a heading\n```"),
        cell("code", "x = 1"),
        cell("markdown", "## Part two"),
    ])
    nbformat.write(notebook, tmp_path / "plain.ipynb")
    converted = convert(read_notebook(tmp_path / "plain.ipynb"), "plain", "nmt-theme", False)
    deck = converted.files["slides/plain.md"].decode()
    slides = deck.split("\n---\n")[1:]
    assert [s.strip().splitlines()[0] for s in slides] == ["# Title", "## Part one", "## Part two"]
    assert "### a detail stays" in slides[1] and "# not a heading" in slides[1] and "x = 1" in slides[1]
    assert "theme:" not in convert(read_notebook(tmp_path / "plain.ipynb"), "plain", None, False).files[
        "slides/plain.md"].decode()  # a course with no theme of its own: Marp's


def test_snippet_mode_writes_percent_cells_and_leaves_skipped_code_to_run_unseen(tmp_path):
    imported = convert(read_notebook(lab(tmp_path / "lab.ipynb")), "lab", "nmt-theme", to_snippets=True)
    deck, code = imported.files["slides/lab.md"].decode(), imported.files["snippets/lab.py"].decode()
    assert "# %% setup\nscale = 3" in code and "# %% multiples\n#| label: multiples" in code
    assert '{{ snippet("lab.py#multiples") }}' in deck and "lab.py#setup" not in deck
    (tmp_path / "lab.py").write_bytes(imported.files["snippets/lab.py"])
    snippets = parse_snippet_file(tmp_path / "lab.py")
    assert [piece.name for piece in snippets.needed_before("multiples")] == ["setup"]


def test_notebook_cells_are_found_by_id_then_label_then_tag(tmp_path):
    snippets = parse_snippet_file(lab(tmp_path / "lab.ipynb"))
    assert snippets.find("setup").code.startswith("scale = 3")                    # id
    assert snippets.find("multiples").code.startswith("#| label: multiples")      # label
    assert snippets.find("raises-exception").options == {"error": True}          # tag, and its option
    assert snippets.find("quiet").options == {"echo": False}
    assert snippets.find("nothing") is None
    assert [piece.name for piece in snippets.needed_before("multiples")] == ["setup"]
    lines = (tmp_path / "lab.ipynb").read_text().splitlines()
    assert json.loads(lines[snippets.find("multiples").line - 1].strip().rstrip(",")) == "#| label: multiples\n"


@pytest.mark.parametrize("text, problem, line", [
    ('{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}', "this notebook is not valid JSON: Expecting property", 3),
    ('[1, 2]', "this is not a Jupyter notebook: it has no list of cells", 1),
    ('{"cells": [], "nbformat": 3, "metadata": {}}', "this notebook is in nbformat 3", 1),
    ('{"cells": [{"cell_type": "code", "source": "x"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     "this notebook is not valid nbformat: cells/0:", 1),
])
def test_a_broken_notebook_is_a_clear_error(tmp_path, text, problem, line):
    (tmp_path / "bad.ipynb").write_text(text)
    with pytest.raises(DeckError) as raised:
        read_notebook(tmp_path / "bad.ipynb")
    assert problem in str(raised.value) and raised.value.where.line == line


# -------------------------------------------------- through the real pipeline (slow)


@pytest.mark.slow
def test_an_imported_notebook_builds_and_shows_no_stored_output(course, tmp_path):
    made = run_build(course, "import", str(lab(tmp_path / "lab.ipynb")), "--deck", "loops")
    assert made.returncode == 0, made.stderr
    assert "wrote slides/loops.md, slides/images/loops/dot.png" in made.stdout
    assert "1 stored output left out" in made.stdout and "not mapped: cell 9: tag 'teacher-only'" in made.stdout
    again = run_build(course, "import", str(tmp_path / "lab.ipynb"), "--deck", "loops")
    assert again.returncode == 1 and "slides/loops.md already exists" in again.stderr

    built = run_build(course, "slides/loops.md")
    assert built.returncode == 0, built.stdout + built.stderr
    markdown = (course / "build" / "loops.md").read_text()
    assert "multiples [0, 3, 6, 9]" in markdown and "only the output 15" in markdown
    assert "ValueError: invalid literal for int()" in markdown and "Prose with {{ braces }}" in markdown
    html = (course / "build" / "loops.html").read_text()
    assert STALE not in markdown + html and "print('only the output'" not in markdown
    assert "Ask who has used a spreadsheet formula." in html  # a presenter note
    assert (course / "build" / "loops.pdf").stat().st_size > 0


@pytest.mark.slow
def test_a_slide_shows_a_labelled_notebook_cell_with_its_setup_unseen(course, tmp_path):
    lab(course / "snippets" / "lab.ipynb")
    (course / "slides" / "embed.md").write_text(
        "---\nmarp: true\ntheme: nmt-theme\n---\n\n## From the lab\n\n"
        '{{ snippet("lab.ipynb#multiples") }}\n\n---\n\n{{ snippet("lab.ipynb#raises-exception") }}\n')
    built = run_build(course, "slides/embed.md", "--html")
    assert built.returncode == 0, built.stdout + built.stderr
    markdown = (course / "build" / "embed.md").read_text()
    assert "multiples [0, 3, 6, 9]" in markdown and "ValueError" in markdown
    assert "scale = 3" not in markdown and "#| label" not in markdown and STALE not in markdown
    assert "(setup from lab.ipynb#setup)" in built.stdout

    (course / "slides" / "embed.md").write_text('---\nmarp: true\n---\n\n{{ snippet("lab.ipynb#nope") }}\n')
    failed = run_build(course, "slides/embed.md", "--html")
    assert failed.returncode == 1
    assert "slides/embed.md:5: no cell with the id, label or tag 'nope' in snippets/lab.ipynb (cells: " in failed.stderr
    assert "setup, multiples" in failed.stderr and "Traceback" not in failed.stderr


def test_a_live_edit_kept_while_presenting_goes_back_into_its_notebook_cell(tmp_path):
    from deckrun.core.errors import Location
    from deckrun.preview.present import write_back
    from deckrun.source.cells import Cell, CellOptions

    path = lab(tmp_path / "lab.ipynb")
    shown = parse_snippet_file(path).find("multiples")
    code = shown.code.split("\n", 1)[1]  # (after its `#| label:` line, as the slide shows it)
    cell = Cell(code, CellOptions(label="multiples"), Location(path, shown.line + 1), Location(tmp_path / "deck.md", 3),
                name="multiples")
    write_back(cell, "print('multiples', [times(n) for n in range(6)])\n")
    notebook = nbformat.read(path, as_version=4)
    edited = next(c for c in notebook.cells if c.get("id") != "setup" and "multiples" in c.source)
    assert edited.source == "#| label: multiples\nprint('multiples', [times(n) for n in range(6)])"
    assert edited.outputs[0]["text"] == STALE + "\n"  # (the notebook's own outputs are the lecturer's)
    assert read_notebook(path).find("setup").source.startswith("scale = 3")
    with pytest.raises(DeckError, match="changed in its notebook"):
        write_back(cell, "print(1)")

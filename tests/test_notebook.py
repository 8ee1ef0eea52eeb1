"""The students' notebook, piece by piece, without building: which cells it holds, where
the unseen setup goes, and a first cell that seeds before every cell as the build does
(run in a real IPython shell)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from deckrun.core.errors import DeckError, Location
from deckrun.execute.outputs import CellResult, Stream
from deckrun.execute.settings import DeckSettings
from deckrun.publish.notebook import CourseFiles, Provenance, make_notebook, notebook_cells
from deckrun.source.cells import Cell, CellOptions
from deckrun.source.deck import MARKER, Deck

DECK = Path("slides/x.md")


def cell(code: str, line: int, setup: bool = False) -> Cell:
    where = Location(DECK, line)
    return Cell(code, CellOptions(echo=not setup, output="hide" if setup else "below"), where, where,
                name=f"c{line}", setup=setup)


def test_a_snippet_cells_setup_comes_with_it():
    cells = [cell("def helper(): return 1", 1, setup=True), cell("print(helper())", 2), cell("x = 1", 3)]
    assert notebook_cells(cells, {1, 2}).indices == (0, 1, 2)
    assert notebook_cells(cells, {2}).indices == (2,)  # its owner left out, nothing needs it


def test_setup_that_a_left_out_cell_brought_is_kept_when_a_shown_cell_needs_it():
    # slide 1 (lecturer only) shows c2, whose setup c1 defines `train`; slide 2 uses `train`.
    cells = [cell("def train(): return 2", 1, setup=True), cell("print('lecturer')", 2), cell("print(train())", 3)]
    assert notebook_cells(cells, {2}).indices == (0, 2)


def test_a_name_only_a_lecturer_only_cell_sets_is_refused_naming_both():
    cells = [cell("answer = 42", 1), cell("print(answer)", 2)]
    with pytest.raises(DeckError) as caught:
        notebook_cells(cells, {1})
    assert "the students' notebook would not run" in str(caught.value)
    assert "slides/x.md:2 uses 'answer', which only slides/x.md:1 sets, on a lecturer-only slide" in str(caught.value)


def test_a_lecturer_only_cell_that_changes_a_shown_cells_value_is_a_warning():
    cells = [cell("items = []", 1), cell("items.append(3)", 2), cell("print(items)", 3)]
    chosen = notebook_cells(cells, {0, 2})
    assert chosen.indices == (0, 2)
    assert chosen.warnings == ("slides/x.md:2: this cell, on a lecturer-only slide, changes items, which "
                               "slides/x.md:3 uses: its output in the students' notebook may differ from the slide",)


def notebook(seed: int = 5, env: dict | None = None) -> dict:
    cells = (cell("import random\ndef draw(): return random.random()", 1, setup=True),
             cell("print(draw())", 2), cell("print(random.random())", 3))
    markdown = f"# Chance\n\n{MARKER.format(1)}\n\n---\n\n## Again\n\n{MARKER.format(2)}\n"
    deck = Deck(DECK, DECK.stem, {}, markdown, cells)
    results = [CellResult(), CellResult((Stream("stdout", "0.1"),)), CellResult((Stream("stdout", "0.1"),))]
    settings = DeckSettings(seed=seed, env=env or {}, secrets=("MINE",))
    text = make_notebook(deck, results, notebook_cells(cells, {1, 2}), "Chance", "TST101",
                         Provenance("2026-12-01T10:00:00", "3.11.7", {}), settings, CourseFiles((), ()),
                         Path.cwd())
    return json.loads(text)


def test_unseen_setup_goes_folded_and_tagged_before_its_cell():
    code = [c for c in notebook()["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in code]
    assert sources[1].startswith("# Setup the slides do not show (slides/x.md#c1), run before the next cell")
    assert code[1]["metadata"]["jupyter"] == {"source_hidden": True} and "setup" in code[1]["metadata"]["tags"]
    assert sources[2:] == ["print(draw())", "print(random.random())"]
    assert [c["execution_count"] for c in code] == [None, 1, 2, 3]


def test_secrets_stay_out_of_the_first_cell():
    first = "".join(notebook(env={"HF_TOKEN": "x1", "MINE": "x2", "PLAIN": "x3"})["cells"][1]["source"])
    assert '"PLAIN": "x3"' in first and "HF_TOKEN" not in first and "MINE" not in first


def test_the_first_cell_reseeds_before_every_cell_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        first = "".join(notebook(seed=11)["cells"][1]["source"])
        assert not shell.run_cell(first).error_in_exec
        assert not shell.run_cell(first).error_in_exec  # run twice: one hook, not two
        hooks = [f for f in shell.events.callbacks["pre_run_cell"] if getattr(f, "__name__", "") == "deckrun_seed"]
        assert len(hooks) == 1
        draws = [shell.run_cell("import random\nrandom.random()").result for _ in range(2)]
        import random
        random.seed(11)
        assert draws == [random.random()] * 2  # the same as the build, before each cell
    finally:
        InteractiveShell.clear_instance()

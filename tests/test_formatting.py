from pathlib import Path

from deckrun.core.errors import Location
from deckrun.execute.outputs import CellResult, Rich, Stream
from deckrun.format.markdown import (
    CellFormatter,
    FigureFolder,
    Templates,
    fence_for,
    inject,
    truncate,
    without_plot_values,
)
from deckrun.source.cells import Cell, CellOptions
from deckrun.source.deck import MARKER, Deck

WHERE = Location(Path("slides/x.md"), 3)


def formatter(tmp_path: Path, templates: Path | None = None) -> CellFormatter:
    return CellFormatter(Templates(templates), FigureFolder(tmp_path / "x_files", "x_files"))


def test_fence_is_longer_than_backticks_inside():
    assert fence_for("plain") == "```"
    assert fence_for("a ```` b") == "`````"


def test_truncate_marks_hidden_lines():
    assert truncate("1\n2\n3\n4", 2) == "1\n2\n... (2 more lines)"
    assert truncate("1\n2", 2) == "1\n2"


def test_cell_below_and_only(tmp_path):
    result = CellResult((Stream("stdout", "hi"),))
    below = formatter(tmp_path).cell(Cell("print('hi')", CellOptions(), WHERE, WHERE), result)
    assert below == "```python\nprint('hi')\n```\n\n```output\nhi\n```"
    only = formatter(tmp_path).cell(Cell("print('hi')", CellOptions(output="only"), WHERE, WHERE), result)
    assert only == "```output\nhi\n```"


def test_figure_is_saved_with_a_content_hash(tmp_path):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    result = CellResult((Rich({"image/png": png, "text/plain": "<Figure>"}),))
    cell = Cell("plot()", CellOptions(echo=False, width="300px", fig_alt='Bars "a" to c', fig_cap="Counts"),
                WHERE, WHERE)
    text = formatter(tmp_path).cell(cell, result)
    saved = list((tmp_path / "x_files").iterdir())
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"\x89PNG")
    assert text == (f'<figure class="cell-figure">\n<img src="x_files/{saved[0].name}" '
                    'alt="Bars &#34;a&#34; to c" style="width:300px">\n<figcaption>Counts</figcaption>\n</figure>')


def test_project_templates_override_the_defaults(tmp_path):
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "stream.md.j2").write_text("> {{ text }}")
    cell = Cell("print('hi')", CellOptions(echo=False), WHERE, WHERE)
    assert formatter(tmp_path, overrides).cell(cell, CellResult((Stream("stdout", "hi"),))) == "> hi"


def test_inject_keeps_list_indentation():
    markdown = f"1. Step\n   {MARKER.format(0)}\n2. Text {MARKER.format(1)}\n"
    deck = Deck(Path("x.md"), "x", {}, markdown, ())
    out = inject(deck, ["```python\nx\n```", "A\n\nB"])
    assert out == "1. Step\n   ```python\n   x\n   ```\n2. Text\n\n   A\n\n   B\n"


def test_a_plotting_cells_last_value_goes_when_it_drew_a_figure():
    figure = Rich({"image/png": "iVBOR", "text/plain": "<Figure size 640x480 with 1 Axes>"})
    for noise in ("Text(0.5, 1.0, 'squares')", "[<matplotlib.lines.Line2D at 0x7f3a>]", "<Axes: title={'center': 'x'}>",
                  "(array([1., 2.]), array([0, 1, 2]), <BarContainer object of 2 artists>)"):
        assert without_plot_values((figure, Rich({"text/plain": noise}, True))) == (figure,)
    kept = (figure, Rich({"text/plain": "42"}, True))
    assert without_plot_values(kept) == kept  # a value that is not a plot's
    alone = (Rich({"text/plain": "Text(0.5, 1.0, 'x')"}, True),)
    assert without_plot_values(alone) == alone  # no figure drawn: nothing to hide it behind

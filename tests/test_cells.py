from pathlib import Path

import pytest

from deckrun.core.errors import DeckError, Location
from deckrun.source.cells import CellOptions, make_options, parse_snippet_file, split_options

HERE = Location(Path("slides/x.md"), 10)


def test_option_lines_are_stripped_and_parsed():
    code, options, start = split_options("#| echo: false\n#| max-lines: 3\nprint(1)\n", HERE)
    assert code == "print(1)"
    assert options.echo is False and options.max_lines == 3
    assert start == Location(Path("slides/x.md"), 12)


def test_option_lines_only_count_at_the_top():
    code, options, _ = split_options("x = 1\n#| echo: false\n", HERE)
    assert options == CellOptions()
    assert "#| echo: false" in code


def test_keyword_options_use_underscores_and_override():
    base = make_options({"output": "right"}, HERE)
    options = make_options({"max_lines": 5, "width": 400}, HERE, base)
    assert (options.output, options.max_lines, options.width) == ("right", 5, "400px")


@pytest.mark.parametrize("raw, message", [
    ({"ecko": True}, "unknown cell option 'ecko'"),
    ({"output": "left"}, "below | right | only | hide"),
    ({"echo": "yes"}, "true or false"),
    ({"timeout": -1}, "a positive number"),
    ({"format": "gif"}, "png | svg"),
])
def test_bad_options_name_the_place(raw, message):
    with pytest.raises(DeckError) as caught:
        make_options(raw, HERE)
    assert message in str(caught.value)
    assert str(caught.value).startswith("slides/x.md:10")


def test_invalid_option_yaml_gives_its_line():
    with pytest.raises(DeckError) as caught:
        split_options("#| echo: false\n#| output: [\nx = 1", HERE)
    assert "slides/x.md:1" in str(caught.value)


def test_snippet_file_cells(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("import os\n\n# %% first\n\nx = 1\n\n# %% second [markdown]\ny = 2\n# %%\nz = 3\n")
    parsed = parse_snippet_file(path)
    assert list(parsed.cells) == ["first", "second"]
    assert parsed.cells["first"].code == "x = 1"
    assert parsed.cells["first"].line == 5
    assert parsed.cells["second"].code == "y = 2"


def test_duplicate_snippet_cell_names_are_an_error(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("# %% a\nx = 1\n# %% a\ny = 2\n")
    with pytest.raises(DeckError, match="defined twice"):
        parse_snippet_file(path)

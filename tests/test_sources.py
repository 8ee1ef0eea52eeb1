from pathlib import Path

import pytest

from deckrun.core.errors import DeckError
from deckrun.core.project import load_project
from deckrun.source.deck import MARKER, load_deck


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def root(tmp_path):
    write(tmp_path, "course.yaml", "code: ABC1\nlecturer: Pat\n")
    write(tmp_path, "snippets/demo.py", "# %% hello\n#| echo: false\nprint('hello')\n\n# %% other\nx = 2\n")
    return tmp_path


def load(root: Path, text: str):
    return load_deck(write(root, "slides/deck.md", text), load_project(root))


def test_inline_cells_become_markers_in_slide_order(root):
    deck = load(root, "# {{ course.code }}\n\n```python run\n#| output: right\nx = {'a': {{1}}}\n```\n\ntext\n"
                      "```python run\nprint(x)\n```\n")
    assert deck.markdown == f"# ABC1\n\n{MARKER.format(0)}\n\ntext\n{MARKER.format(1)}\n"
    first, second = deck.cells
    assert first.code == "x = {'a': {{1}}}"  # cell code is not a template
    assert first.options.output == "right"
    assert (first.reference.line, first.origin.line) == (3, 5)
    assert second.reference.line == 9


def test_ordinary_fences_are_left_alone(root):
    deck = load(root, "````markdown\n```python run\nnot run\n```\n````\n```python\nshown only\n```\n")
    assert deck.cells == ()
    assert "```python run" in deck.markdown


def test_indented_fence_in_a_list(root):
    deck = load(root, "1. Step\n   ```python run\n   y = 1\n   ```\n")
    assert deck.cells[0].code == "y = 1"
    assert deck.markdown == f"1. Step\n   {MARKER.format(0)}\n"


def test_snippet_reference_with_options(root):
    deck = load(root, "---\nmarp: true\n---\n\n{{ snippet('demo.py#hello', output='only') }}\n")
    cell = deck.cells[0]
    assert cell.code == "print('hello')"
    assert cell.options.echo is False and cell.options.output == "only"
    assert cell.reference.line == 5
    assert cell.origin.path.name == "demo.py" and cell.origin.line == 3


def test_whole_snippet_file(root):
    deck = load(root, "{{ snippet('demo.py') }}\n")
    assert "x = 2" in deck.cells[0].code and "print('hello')" in deck.cells[0].code


def test_partials_can_hold_cells_and_use_the_course(root):
    write(root, "slides/partials/end.md", "Ask {{ course.lecturer }}\n```python run\nprint('end')\n```\n")
    deck = load(root, "intro\n{% include 'partials/end.md' %}\n")
    assert "Ask Pat" in deck.markdown
    assert deck.cells[0].reference.path.name == "end.md" and deck.cells[0].reference.line == 2


def test_front_matter_is_in_the_context(root):
    deck = load(root, "---\nmarp: true\ntitle: Session 3\ncourse:\n  code: OVERRIDE\n---\n"
                      "# {{ deck.title }} {{ course.code }}\n")
    assert "# Session 3 OVERRIDE" in deck.markdown


@pytest.mark.parametrize("text, message, line", [
    ("a\n\n{{ snippet('missing.py') }}\n", "snippet file not found: snippets/missing.py", 3),
    ("{{ snippet('demo.py#nope') }}\n", "no cell named 'nope' in snippets/demo.py (cells: hello, other)", 1),
    ("ok\n{% if %}\n", "template syntax error", 2),
    ("ok\n\n{{ course.missing }}\n", "template error", 3),
    ("---\nmarp: true\ntheme: [x\n---\n", "invalid YAML", 3),
    ("---\nmarp: true\n", "never closed", 1),
    ("x\n```python run\nprint(1)\n", "'python run' fence is never closed", 2),
    ("```python run\n#| colour: red\nx\n```\n", "unknown cell option 'colour'", 2),
    ("{{ snippet('demo.py', echo='no') }}\n", "must be true or false", 1),
    ("{% include 'partials/none.md' %}\n", "included file not found", 1),
])
def test_bad_input_names_file_and_line(root, text, message, line):
    with pytest.raises(DeckError) as caught:
        load(root, text)
    assert message in str(caught.value)
    assert caught.value.where.line == line


def test_code_on_a_slide_is_never_a_template(root):
    deck = load(root, "---\nmarp: true\n---\n\n# {{ course.code }}: `{{ name }}`, `{% if x %}` and ``{# c #}``\n\n"
                      "```yaml\nrun: echo ${{ secrets.HF_TOKEN }}\nsteps: {% for s in steps %}\n```\n\n"
                      "```python\nprint(f\"{{x}}\")\n```\n\n$$\n\\mathbf{{x}}\n$$\n\n"
                      "```text {template}\ncode {{ course.code }}\n```\n\n"
                      "```jinja\n{% for s in steps %}{{ s }}{% endfor %}\n```\n\n"
                      "{% raw %}\n{{ left alone }}\n{% endraw %}\n"
                      "Done {{ 1 + 1 }}\n")
    assert deck.markdown == ("---\nmarp: true\n---\n\n# ABC1: `{{ name }}`, `{% if x %}` and ``{# c #}``\n\n"
                             "```yaml\nrun: echo ${{ secrets.HF_TOKEN }}\nsteps: {% for s in steps %}\n```\n\n"
                             "```python\nprint(f\"{{x}}\")\n```\n\n$$\n\\mathbf{{x}}\n$$\n\n"
                             "```text\ncode ABC1\n```\n\n"
                             "```jinja\n{% for s in steps %}{{ s }}{% endfor %}\n```\n\n\n{{ left alone }}\n\nDone 2\n")


def test_a_template_error_after_literal_code_keeps_its_line(root):
    with pytest.raises(DeckError) as caught:
        load(root, "```yaml\na: ${{ b }}\nc: d\n```\n\n{{ course.missing }}\n")
    assert caught.value.where.line == 6


SCRIPT = ("import math\n\n# %% first\nradius = 2\n\n# %% unrelated\nprint('not needed')\n\n"
          "# %% second\narea = math.pi * radius ** 2\nprint(round(area, 2))\n")


def test_a_snippet_cell_gets_the_earlier_cells_it_needs_as_setup(root):
    write(root, "snippets/script.py", SCRIPT)
    deck = load(root, "# Only the second\n\n{{ snippet('script.py#second') }}\n")
    assert [(c.name, c.setup) for c in deck.cells] == [("", True), ("first", True), ("second", False)]
    setup = deck.cells[1]
    assert setup.options.output == "hide" and not setup.options.echo
    assert deck.cells[0].describe().endswith("slides/deck.md:3 (setup from script.py:1)")
    assert setup.describe().endswith("slides/deck.md:3 (setup from script.py#first)")
    assert deck.markdown.count("deckrun:cell") == 1  # only the shown cell has a place on a slide
    shown_first = load(root, "{{ snippet('script.py#first') }}\n\n{{ snippet('script.py#second') }}\n")
    assert [(c.name, c.setup) for c in shown_first.cells] == [("first", False), ("", True), ("second", False)]

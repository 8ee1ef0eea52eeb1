"""Figures drawn by cells in the deck theme's look: what the theme gives (source/themes.py)
and which look each cell runs with. (Drawn through the pipeline: test_steps.py.)"""
from __future__ import annotations

import json

from deckrun.core.project import load_project
from deckrun.source.deck import load_deck
from deckrun.source.themes import dress_figures, figure_styles
from helpers.course import REPO

THEME = (REPO / "themes" / "nmt-theme.css").read_text()


def test_the_theme_gives_fonts_colours_and_which_slides_are_dark():
    light, dark, dark_classes = figure_styles(THEME)
    assert dark_classes == {"lead", "invert"}
    assert light["font.sans-serif"][0] == "Liberation Sans" and light["font.size"] >= 12
    assert light["figure.facecolor"] == "#ffffff" and light["axes.prop_cycle"].startswith("cycler('color', ['#0f8a80'")
    assert dark["figure.facecolor"] == "#0d2b4e" and dark["text.color"] == "#ffffff"
    plain = figure_styles("/* @theme plain */\nsection { color: #222; background: #fff; }")
    assert plain[0]["text.color"] == "#222" and plain[0]["axes.prop_cycle"].count("#") >= 4  # a cycle still


DECK = """---
marp: true
theme: nmt-theme
{setting}---

# Light

```python run
x = 1
```

---

<!-- _class: lead -->

# Dark

```python run
y = 2
```

```python run
#| figure-style: none
z = 3
```
"""


def looks(tmp_path, setting: str = "") -> list[str]:
    (tmp_path / "themes").mkdir(exist_ok=True)
    (tmp_path / "themes" / "nmt-theme.css").write_text(THEME)
    (tmp_path / "slides").mkdir(exist_ok=True)
    (tmp_path / "slides" / "deck.md").write_text(DECK.format(setting=setting))
    project = load_project(tmp_path)
    return [cell.look for cell in dress_figures(load_deck(tmp_path / "slides" / "deck.md", project), project).cells]


def test_each_cell_runs_with_the_look_of_its_slide_unless_it_asks_for_none(tmp_path):
    light, dark, none = looks(tmp_path)
    assert json.loads(light)["figure.facecolor"] == "#ffffff" and json.loads(dark)["figure.facecolor"] == "#0d2b4e"
    assert none == "{}"  # matplotlib's own, put back
    assert looks(tmp_path, "figure-style: none\n") == ["", "", ""]  # the deck asks for none: nothing is put

"""```mermaid and ```dot fences drawn at build time: read with their options here; drawn
through the pipeline (Mermaid in Chromium, Graphviz), cached, themed, their errors located."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from deckrun.core.errors import DeckError, Location
from deckrun.core.project import load_project
from deckrun.execute.diagrams import themed
from deckrun.format.markdown import Templates, diagram_markdown
from deckrun.source.deck import load_deck
from deckrun.source.diagrams import read_diagram
from helpers.course import make_course, only_decks, run_build

FENCE = Location(Path("slides/d.md"), 3)


def test_option_lines_are_read_and_the_source_starts_after_them():
    diagram = read_diagram("mermaid", "%%| fig-alt: Sentence to ids\n%%| width: 600\nflowchart LR\n  a --> b", FENCE)
    assert diagram.source == "flowchart LR\n  a --> b" and diagram.where.line == 6
    assert diagram.alt == "Sentence to ids" and diagram.options.width == "600px"
    dot = read_diagram("dot", 'digraph {\n  label="Attention as a question"\n  a -> b\n}', FENCE)
    assert dot.alt == "Attention as a question" and dot.where.line == 4  # the title, when no fig-alt
    with pytest.raises(DeckError, match="unknown dot diagram option 'colour'"):
        read_diagram("dot", "//| colour: red\ndigraph { a }", FENCE)


def test_a_drawing_takes_the_slides_colours_and_its_size_within_the_slide():
    svg = themed('<?xml version="1.0"?>\n<!-- dot -->\n<svg width="300pt" height="80pt" viewBox="0.00 0.00 300.00 '
                 '80.00"><text fill="#0A0B0C">a</text><path fill="#f5f6f7"/></svg>')
    assert svg.startswith("<svg") and 'fill="currentColor"' in svg and "color-mix(in srgb, currentColor" in svg
    diagram = read_diagram("dot", "digraph { a }", FENCE)
    shown = diagram_markdown(Templates(None), diagram, svg)
    assert 'style="width:400px;max-width:100%;height:auto;max-height:440px"' in shown  # 300 pt
    assert 'role="img" aria-label="A dot diagram"' in shown and "\n\n" not in shown


def test_fences_in_a_fence_and_jinja_fences_stay_as_written(tmp_path):
    (tmp_path / "slides").mkdir()
    text = "# A\n\n````markdown\n```mermaid\nflowchart LR\n```\n````\n\n```jinja\n{{ x }}\n```\n"
    (tmp_path / "slides" / "deck.md").write_text(text)
    deck = load_deck(tmp_path / "slides" / "deck.md", load_project(tmp_path))
    assert deck.diagrams == () and deck.markdown == text


DRAWN = """---
marp: true
theme: nmt-theme
---

# Tokens

```mermaid
%%| fig-cap: From words to ids
flowchart LR
  S[Sentence] --> T(Tokenizer) --> I[Ids]
```

---

<!-- _class: lead -->

# Attention

```dot
digraph {
  label="Where it looks"
  it -> trophy [label="0.6"]
}
```
"""

BROKEN = """# Broken

```mermaid
flowchart LR
  A --> [oops
```
"""


@pytest.mark.slow
def test_diagrams_are_drawn_cached_and_need_no_tool_once_drawn(tmp_path):
    root = make_course(tmp_path / "course")
    only_decks(root, {"drawn.md": DRAWN, "broken.md": BROKEN})
    proc = run_build(root, "--html")
    assert proc.returncode == 1
    assert re.search(r"broken\.md:5: mermaid diagram: Parse error on line 2", proc.stderr), proc.stderr
    screen = (root / "build" / "drawn.md").read_text()
    assert screen.count("<svg") == 2 and "S[Sentence] -->" not in screen and "digraph" not in screen  # no source
    for label in ("Sentence", "Tokenizer", "trophy", "0.6"):
        assert f">{label}<" in screen
    assert "From words to ids" in screen and 'aria-label="Where it looks"' in screen
    assert "currentColor" in screen  # in the slide's colours (light on the dark slide)
    drawn = sorted((root / "_freeze" / "diagrams").rglob("*.svg"))
    assert len(drawn) == 2
    # A clone: the cache committed, neither Graphviz nor a browser to draw with
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns("build"))
    (clone / "slides" / "broken.md").unlink()
    bare = tmp_path / "bin"
    bare.mkdir()
    again = run_build(clone, "--html", env={**os.environ, "PATH": str(bare), "CHROME_PATH": str(bare / "none")})
    assert again.returncode == 0, again.stdout + again.stderr
    assert (clone / "build" / "drawn.md").read_text() == screen

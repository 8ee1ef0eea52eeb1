"""Code stepped through line by line: `#| highlight:` and Slidev's ```python {1|2-3|all}.
The Markdown transform and the errors here; in Chromium and on paper through the pipeline."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from deckrun.core.errors import DeckError
from deckrun.core.project import load_project
from deckrun.format.steps import step_through
from deckrun.source.deck import load_deck
from deckrun.source.slides import parse_slides
from helpers.browser import Browser
from helpers.course import make_course, only_deck, run_build

SHOWN = "# A\n\n```js {2|1,3|all}\nconst a = 1\nconst b = 2\nlog(a + b)\n```\n\nAfter.\n"


def test_a_stepped_fence_gets_one_fragment_a_step_after_the_first():
    screen = step_through(SHOWN, paper=False)
    assert screen.count("data-marpit-fragment") == 2
    assert "```js\n" in screen and "{2|1,3|all}" not in screen
    assert "\n\nAfter." in screen and screen.count("<style>") == 1
    first = re.search(r"<style>#deckrun-steps-1 [^{]+\{([^}]*)\}", screen).group(1)
    assert "calc(1 * 1lh)" in first and "calc(2 * 1lh)" in first  # line 2 lit first


def test_paper_shows_the_last_step_and_has_no_fragment():
    paper = step_through(SHOWN, paper=True)
    assert "data-marpit-fragment" not in paper
    assert "background-image: none; mask-image: none" in paper  # the last step: all lines


def test_paper_can_show_each_step_on_a_page_of_its_own():
    deck = "---\nmarp: true\n---\n\n" + SHOWN + "\n---\n\n# B\n"
    paper = step_through(deck, paper=True, pages=True)
    assert len(parse_slides(paper).slides) == 4 and paper.count("# A\n") == 3
    lit = [re.search(r"<style>#deckrun-steps-%d [^{]+\{([^}]*)\}" % n, paper).group(1) for n in (1, 2, 3)]
    assert "calc(1 * 1lh), rgb(250" in lit[0].replace("var(--deckrun-step-light, ", "")  # line 2 lit on page 1
    assert lit[2].endswith("background-image: none; mask-image: none; ")  # all lines on the last page


def test_fences_shown_as_written_are_left_alone():
    literal = "````markdown\n```python {1|2}\nx = 1\n```\n````\n"
    assert step_through(literal, paper=False) == literal
    assert step_through("```python\n{1|2}\n```\n", paper=False) == "```python\n{1|2}\n```\n"


def deck_error(tmp_path: Path, text: str) -> DeckError:
    (tmp_path / "slides").mkdir(exist_ok=True)
    (tmp_path / "slides" / "deck.md").write_text(text)
    with pytest.raises(DeckError) as raised:
        load_deck(tmp_path / "slides" / "deck.md", load_project(tmp_path))
    return raised.value


@pytest.mark.parametrize("text, line, said", [
    ("# A\n\n```python {1|5}\nx = 1\ny = 2\n```\n", 3, "names line 5, and the code has 2 lines"),
    ("# A\n\n```python run\n#| highlight: \"1|2-x\"\nx = 1\n```\n", 4, "is not lines such as 1-2,4"),
    ("# A\n\ntext\n\n```python run {3}\nx = 1\n```\n", 5, "names line 3, and the code has 1 line"),
])
def test_a_step_naming_lines_the_code_has_not_is_an_error_at_its_line(tmp_path, text, line, said):
    error = deck_error(tmp_path, text)
    assert error.where.line == line and said in str(error)


STEPPED = """---
marp: true
theme: nmt-theme
---

# Loops

```python run
#| highlight: "1|2-3|4"
total = 0
for n in range(4):
    total += n
print(total)
```

---

# Next slide

```python run
import matplotlib.pyplot as plt
plt.figure(figsize=(3, 2))
plt.plot([1, 2, 3], [1, 4, 9])
plt.title("squares")
```

```python run
#| values: all
plt.figure(figsize=(3, 2))
plt.plot([3, 2, 1])
```

---

<!-- _class: lead -->

# On a dark slide

```python run
plt.figure(figsize=(3, 2))
plt.bar(["a", "b"], [2, 1])
plt.show()
```

```python run
#| figure-style: none
plt.figure(figsize=(3, 2))
plt.bar(["a", "b"], [2, 1])
plt.show()
```
"""

LIT = "getComputedStyle(document.querySelector('#deckrun-steps-1 code')).backgroundImage"


@pytest.mark.slow
def test_each_press_of_next_lights_the_next_step_and_figures_come_without_noise(tmp_path):
    root = make_course(tmp_path / "course")
    only_deck(root, "loops.md", STEPPED)
    proc = run_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Browser() as page:
        page.open((root / "build" / "loops.html").as_uri() + "#1")
        page.wait("document.querySelector('#deckrun-steps-1 code')")
        seen = [page.eval(LIT)]
        for _ in range(2):
            page.press("ArrowRight")
            page.wait(f"{LIT} !== {seen[-1]!r}")
            seen.append(page.eval(LIT))
            assert page.eval("location.hash") in ("", "#1")  # still the first slide
        page.press("ArrowRight")
        page.wait("location.hash === '#2'")
    assert len(set(seen)) == 3 and all(lit.startswith("linear-gradient") for lit in seen)
    paper = (root / "build" / "loops.paper.md").read_text()
    assert "data-marpit-fragment" not in paper and "6" in (root / "build" / "loops.md").read_text()
    assert len(PdfReader(root / "build" / "loops.pdf").pages) == 3
    # a cell that ends in plt.title(...) shows its figure, not Text(0.5, 1.0, 'squares')
    screen = (root / "build" / "loops.md").read_text()
    assert "Text(0.5, 1.0" not in screen and screen.count('class="cell-figure"') == 4
    assert "matplotlib.lines.Line2D" in screen  # values: all keeps it

    # figures in the theme's look: its background (navy on the lead slide), unless asked not to
    pictures = [root / "build" / src for src in re.findall(r'<img src="([^"]+)"', screen)]
    corners = [Image.open(p).convert("RGB").getpixel((1, 1)) for p in pictures]
    assert corners[0] == corners[1] == (255, 255, 255) and corners[2] == (0x0d, 0x2b, 0x4e)
    assert corners[3] == (255, 255, 255)  # figure-style: none: matplotlib's own

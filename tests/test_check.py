"""`build.py check`: the rendered decks looked at in Chromium (overflow, alt text,
contrast), and which line each slide starts on."""
from __future__ import annotations

import re

import pytest

from helpers.course import only_deck, only_decks, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

BULLETS = "\n".join(f"- point number {n}" for n in range(40))
DECK = f"""---
marp: true
theme: nmt-theme
paginate: true
---

# A slide that fits

Short.

---

## Forty bullets

{BULLETS}

---

## Seventy lines of output

```python run
for n in range(70):
    print("line", n)
```

---

## Also fits

```python run
print("short")
```
"""


def test_exactly_the_overflowing_slides_are_reported(course):
    only_deck(course, "long.md", DECK)
    proc = run_build(course, "check")
    assert proc.returncode == 0, proc.stderr
    findings = [line for line in proc.stdout.splitlines() if re.match(r"slides/\S+ slide \d+ ", line)]
    lines = DECK.splitlines()
    second, third = lines.index("## Forty bullets") - 1, lines.index("## Seventy lines of output") - 1
    assert len(findings) == 2, proc.stdout
    assert re.fullmatch(rf"slides/long.md slide 2 \(line {second}\): list overflows by \d+px", findings[0])
    assert re.fullmatch(rf"slides/long.md slide 3 \(line {third}\): output overflows by \d+px", findings[1])
    assert "checked 1 deck: 2 findings" in proc.stdout
    assert run_build(course, "check", "--strict").returncode == 1


def test_images_without_alt_text_and_low_contrast_are_reported(course):
    only_decks(course, {})
    (course / "slides" / "images").mkdir()
    (course / "slides" / "images" / "dot.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18"/></svg>')
    (course / "slides" / "a11y.md").write_text(
        "---\nmarp: true\ntheme: nmt-theme\n---\n\n# Pictures\n\n<img src=\"images/dot.svg\">\n\n"
        "```python run\n#| echo: false\n#| height: 300\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]);\n```\n\n---\n\n"
        "# Faint\n\n<p style=\"color: #c8c8c8\">Hard to read on white</p>\n")
    proc = run_build(course, "check")
    findings = [line for line in proc.stdout.splitlines() if re.match(r"slides/\S+ slide \d+ ", line)]
    assert "slides/a11y.md slide 1 (line 6): image without alt text: dot.svg" in findings
    assert any(f.startswith("slides/a11y.md slide 1 (line 6): figure without alt text") and "fig-alt" in f
               for f in findings)
    assert any(f.startswith("slides/a11y.md slide 2 (line 17): text contrast below WCAG AA (#c8c8c8 on #ffffff")
               and "Hard to read" in f for f in findings), findings
    assert len(findings) == 3


FRAMES = """---
marp: true
theme: nmt-theme
---

# A tall interactive output in a short frame

```python run
#| height: 200px
from IPython.display import HTML
HTML("<div style='height:700px'>drawn by script</div><script>document.title = 'x'</script>")
```

---

## A local page in a frame too small for it

<iframe src="images/page.html" style="width:600px;height:120px"></iframe>

---

## A page that fits its frame

<iframe src="images/small.html" style="width:600px;height:300px"></iframe>
"""


def test_frames_that_cut_off_or_shrink_their_page_are_reported(course):
    only_deck(course, "frames.md", FRAMES)
    (course / "slides" / "images").mkdir(exist_ok=True)
    (course / "slides" / "images" / "page.html").write_text("<body><div style='height:400px'>tall</div></body>")
    (course / "slides" / "images" / "small.html").write_text("<body><p>short</p></body>")
    proc = run_build(course, "check")
    assert proc.returncode == 0, proc.stderr
    findings = [line for line in proc.stdout.splitlines() if re.match(r"slides/\S+ slide \d+ ", line)]
    assert len(findings) == 2, proc.stdout
    # The interactive output fits by shrinking itself: nothing is cut off, but it is small.
    assert re.fullmatch(r"slides/frames.md slide 1 \(line 6\): interactive output is shrunk to 2\d% to fit "
                        r"its 200px frame \(give the cell '#\| height: 7\d\dpx' and room on the slide\)", findings[0])
    assert re.fullmatch(r"slides/frames.md slide 2 \(line 14\): embed cuts off 2\d\dpx of its page "
                        r"\(images/page.html\); make the frame larger", findings[1])

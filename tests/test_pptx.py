"""`--pptx`: PowerPoint made of real objects (text, lists, tables, code, pictures, notes) where
the rendered slide has them; Marp's picture-a-slide PPTX under `--pptx-pictures`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.oxml.ns import qn

from helpers.course import make_course, only_decks, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

PARTS = """---
marp: true
theme: nmt-theme
paginate: true
footer: Week 3 · Parts
---

# Parts of a slide

A paragraph with **bold**, *italic*, `a code span` and [a link](https://example.org/page).

<!-- Say hello and what the session is about. -->

---

## A nested list

1. First step
   - a detail under it
   - another detail
2. Second step

<!-- The list has two levels. -->

---

## A table

| fruit | count |
| --- | ---: |
| apples | 3 |
| pears | 12 |

---

## Two columns

<div class="columns">
<div>

### Left side
- one thing

</div>
<div>

### Right side
- another thing

</div>
</div>

---

![bg right:40%](sea.png)

## A background picture

Words beside it.

---

## Code and its output

```python run
squares = [n * n for n in range(5)]
print(squares)
```

---

## A figure

```python run
import matplotlib.pyplot as plt
plt.figure(figsize=(4, 2.5))
plt.plot([1, 2, 3], [2, 4, 3])
plt.show()
```

<!-- The last note. -->
"""

SQUARE = """---
marp: true
theme: default
size: 4:3
---

# A 4:3 deck

Its slides are 960 by 720.
"""

PX = 9525  # EMU a CSS pixel
OFFICE_FONTS = {"Arial", "Times New Roman", "Courier New"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = make_course(tmp_path_factory.mktemp("pptx") / "course")
    only_decks(root, {"parts.md": PARTS, "square.md": SQUARE})
    Image.new("RGB", (400, 300), (20, 90, 140)).save(root / "slides" / "sea.png")
    proc = run_build(root, "--pptx", "--pptx-pictures")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def shapes(slide):
    """Every shape of a slide, groups opened."""
    for shape in slide.shapes:
        yield from (shape.shapes if shape.shape_type == MSO_SHAPE_TYPE.GROUP else [shape])


def texts(slide) -> list:
    return [shape for shape in shapes(slide) if shape.has_text_frame and shape.text_frame.text.strip()]


def runs(slide) -> list:
    return [run for shape in texts(slide) for p in shape.text_frame.paragraphs for run in p.runs]


def test_slides_are_made_of_text_with_its_looks(built):
    deck = Presentation(built / "build" / "parts.pptx")
    assert len(deck.slides) == 7
    assert (deck.slide_width, deck.slide_height) == (1280 * PX, 720 * PX)
    first = runs(deck.slides[0])
    by_text = {run.text.strip(): run for run in first}
    assert by_text["Parts of a slide"].font.size.pt > by_text["bold"].font.size.pt  # the heading is bigger
    assert by_text["bold"].font.bold and by_text["italic"].font.italic
    assert by_text["a code span"].font.name == "Courier New"
    assert by_text["a link"].hyperlink.address == "https://example.org/page"
    assert {run.font.name for slide in deck.slides for run in runs(slide)} <= OFFICE_FONTS
    # the footer and the page number are text too
    second = [shape.text_frame.text for shape in texts(deck.slides[1])]
    assert "Week 3 · Parts" in second and any(text.startswith("2") for text in second)


def test_lists_keep_their_levels_bullets_and_numbers(built):
    slide = Presentation(built / "build" / "parts.pptx").slides[1]
    paragraphs = {p.text: p for shape in texts(slide) for p in shape.text_frame.paragraphs}
    assert paragraphs["First step"].level == 0 and paragraphs["a detail under it"].level == 1
    numbered = paragraphs["Second step"]._p.pPr.find(qn("a:buAutoNum"))
    assert numbered is not None and numbered.get("startAt") == "2"
    assert paragraphs["another detail"]._p.pPr.find(qn("a:buChar")) is not None
    left = {text: int(p._p.pPr.get("marL")) for text, p in paragraphs.items() if p._p.pPr.get("marL")}
    assert left["a detail under it"] > left["First step"]


def test_tables_are_tables_and_columns_sit_side_by_side(built):
    deck = Presentation(built / "build" / "parts.pptx")
    [table] = [shape.table for shape in shapes(deck.slides[2]) if shape.has_table]
    assert [[cell.text for cell in row.cells] for row in table.rows] == [
        ["fruit", "count"], ["apples", "3"], ["pears", "12"]]
    assert table.cell(1, 1).text_frame.paragraphs[0]._p.pPr.get("algn") == "r"
    boxes = {shape.text_frame.text: shape for shape in texts(deck.slides[3])}
    assert boxes["LEFT SIDE"].left < boxes["RIGHT SIDE"].left
    assert boxes["LEFT SIDE"].top == pytest.approx(boxes["RIGHT SIDE"].top, abs=2 * PX)


def test_pictures_code_outputs_and_notes(built):
    deck = Presentation(built / "build" / "parts.pptx")
    pictures = [shape for shape in shapes(deck.slides[4]) if shape.shape_type == MSO_SHAPE_TYPE.PICTURE]
    background = max(pictures, key=lambda shape: shape.height)
    assert background.height == pytest.approx(720 * PX, abs=2 * PX)  # bg right:40%
    assert background.left == pytest.approx(1280 * 0.6 * PX, abs=2 * PX)
    code = [run for run in runs(deck.slides[5]) if run.font.name == "Courier New"]
    assert "squares" in "".join(run.text for run in code)
    colours = {str(run.font.color.rgb) for run in code if run.font.color and run.font.color.type}
    assert len(colours) >= 3  # syntax colours
    assert "[0, 1, 4, 9, 16]" in [shape.text_frame.text for shape in texts(deck.slides[5])]
    assert any(shape.shape_type == MSO_SHAPE_TYPE.PICTURE and shape.width > 200 * PX
               for shape in shapes(deck.slides[6]))  # the figure the cell drew
    notes = [slide.notes_slide.notes_text_frame.text if slide.has_notes_slide else "" for slide in deck.slides]
    assert notes[0] == "Say hello and what the session is about."
    assert notes[1] == "The list has two levels." and notes[6] == "The last note." and notes[2] == ""


def test_nothing_runs_out_of_its_slide(built):
    for name, (width, height) in (("parts", (1280, 720)), ("square", (960, 720))):
        deck = Presentation(built / "build" / f"{name}.pptx")
        assert (deck.slide_width, deck.slide_height) == (width * PX, height * PX)
        for number, slide in enumerate(deck.slides, 1):
            for shape in shapes(slide):
                assert shape.left >= -PX and shape.top >= -PX, (name, number, shape.name)
                assert shape.left + shape.width <= (width + 1) * PX, (name, number, shape.name)
                assert shape.top + shape.height <= (height + 1) * PX, (name, number, shape.name)


def test_marps_picture_a_slide_pptx_is_kept_under_its_own_option(built):
    deck = Presentation(built / "build" / "parts.pictures.pptx")
    assert len(deck.slides) == 7
    assert all(not texts(slide) for slide in deck.slides)


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext")),
                    reason="LibreOffice (libreoffice-impress) or poppler-utils is not installed")
def test_libreoffice_shows_every_word_inside_its_page(built, tmp_path):
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to",
                    "pdf", "--outdir", str(tmp_path), str(built / "build" / "parts.pptx")],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "parts.pdf"
    layout = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                            text=True).stdout
    pages = layout.split("<page ")[1:]
    assert len(pages) == 7
    words = []
    for page in pages:
        width, height = (float(page.split(f'{side}="')[1].split('"')[0]) for side in ("width", "height"))
        for word in page.split("<word ")[1:]:
            box = {key: float(word.split(f'{key}="')[1].split('"')[0]) for key in ("xMin", "yMin", "xMax", "yMax")}
            text = word.split(">")[1].split("<")[0]
            words.append(text)
            assert box["xMin"] >= 0 and box["yMin"] >= 0, text
            assert box["xMax"] <= width + 0.5 and box["yMax"] <= height + 0.5, text
    for expected in ("apples", "detail", "[0,", "Words", "beside"):
        assert expected in words

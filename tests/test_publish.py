"""`build.py publish` for real (kernel, Marp CLI, Chromium): the students' site, the
lecturer's copies, handouts, notebooks, and a repeat publish that does nothing."""
from __future__ import annotations

import math
import os
import re
import shutil
import stat
import zipfile
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from pypdf import PdfReader

from helpers.course import make_course, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

LESSON = """---
marp: true
theme: nmt-theme
paginate: true
title: "Lists and loops"
session: 3
---

# Lists and loops

<!-- NOTE-ALPHA: ask who has used Python before. -->

---

## Squares

```python run
squares = [n * n for n in range(5)]
print("squares:", squares)
```

<!-- NOTE-BRAVO: range stops before 5. -->

---

<!-- _class: lead lecturer -->

## Answers

LECTURER-SECRET: the answer is 42.

```python run
print("HIDDEN-ANSWER", sum(squares) + 12)
```

---

## Summing up

```python run
print("total:", sum(squares))
```

---

## Chance, seeded

{{ snippet("lab.py#draw") }}

```python run
import random
print("again:", random.random())
```

---

## A Jinja template, shown as written

```jinja
{% for item in items %}<li>{{ item.name }}</li>{% endfor %}
```
"""
SECRETS = ("LECTURER-SECRET", "HIDDEN-ANSWER", "NOTE-ALPHA", "NOTE-BRAVO")
# A snippet cell whose file sets up what it needs first, unseen; the seed decides what it prints.
LAB = """# %% helpers
import random


def draw(n):
    return [round(random.random(), 6) for _ in range(n)]


# %% draw
print("drawn:", draw(3))
"""
FRENCH = """---
marp: true
theme: nmt-theme
lang: fr-CA
title: Les boucles
---

# Les boucles

```python run
print("bonjour")
```
"""


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("publish") / "course")
    (root / "slides" / "options.md").unlink()  # its time-out cell would run on every build
    (root / "slides" / "lesson.md").write_text(LESSON)
    (root / "slides" / "french.md").write_text(FRENCH)
    (root / "snippets" / "lab.py").write_text(LAB)
    old = os.umask(0o022)
    try:  # the machine's locale is never the deck's language
        proc = run_build(root, "publish", "--zip", env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


@pytest.fixture
def published_copy(published, tmp_path):
    """A copy of the published course, to change without touching the others' one."""
    root, _ = published
    copy = tmp_path / "course"
    shutil.copytree(root, copy, symlinks=True)
    return copy


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def test_the_index_links_every_deck_to_files_in_the_site(published):
    root, _ = published
    site = root / "build" / "site"
    parser = Links()
    parser.feed((site / "index.html").read_text())
    local = [link for link in parser.links if not link.startswith(("mailto:", "http", "#"))]
    for deck in ("main", "second", "lesson"):
        for name in (f"{deck}.html", f"{deck}.pdf", f"{deck}-handout.pdf", f"{deck}.ipynb"):
            assert name in local
    assert all((site / link).is_file() for link in local), local
    assert "Session 3" in (site / "index.html").read_text()
    assert "Lists and loops" in (site / "index.html").read_text()
    assert "Outputs computed on" in (site / "index.html").read_text()


def test_the_lecturer_gets_powerpoint_beside_the_pdf_and_students_do_not(published_copy):
    from pptx import Presentation

    proc = run_build(published_copy, "publish", "--pptx", "slides/main.md")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lecturer = published_copy / "build" / "lecturer"
    assert len(Presentation(lecturer / "main.pptx").slides) == len(PdfReader(lecturer / "main.pdf").pages)
    assert not list((published_copy / "build" / "site").rglob("*.pptx"))


def test_every_published_file_is_readable_by_everyone(published):
    root, _ = published
    files = [p for p in (root / "build").rglob("*") if p.is_file() and ".stamps" not in p.parts]
    assert len(files) > 20
    private = [str(p) for p in files if not p.stat().st_mode & stat.S_IROTH]
    assert private == []


def test_students_get_neither_lecturer_slides_nor_notes(published):
    root, _ = published
    site = root / "build" / "site"
    texts = {"html": (site / "lesson.html").read_text(),
             "pdf": pdf_text(site / "lesson.pdf"),
             "handout": pdf_text(site / "lesson-handout.pdf"),
             "notebook": (site / "lesson.ipynb").read_text()}
    for kind, text in texts.items():
        assert "squares: [0, 1, 4, 9, 16]" in text, kind
        assert [s for s in SECRETS if s in text] == [], kind
    with zipfile.ZipFile(root / "build" / "site.zip") as archive:
        assert "index.html" in archive.namelist()
        assert not any(s.encode() in archive.read(n) for n in archive.namelist() if n.endswith((".html", ".ipynb"))
                       for s in SECRETS)
    assert len(PdfReader(site / "lesson.pdf").pages) == 5


def test_the_lecturer_keeps_everything_with_notes_as_text(published):
    root, _ = published
    lecturer = root / "build" / "lecturer"
    notes = pdf_text(lecturer / "lesson-notes.pdf")
    assert all(secret in notes for secret in SECRETS)
    assert "Slide 3 of 6 (lecturer only)" in notes
    slides = pdf_text(lecturer / "lesson.pdf")
    assert "LECTURER-SECRET" in slides and "LECTURER ONLY" in slides.upper()
    assert not (root / "build" / "site" / "lesson-notes.pdf").exists()


def test_student_pdfs_carry_metadata_outline_and_tags(published):
    root, _ = published
    reader = PdfReader(root / "build" / "site" / "lesson.pdf")
    assert reader.metadata.title == "Lists and loops"
    assert reader.metadata.author == "Sam Tester"
    assert reader.metadata.subject == "TST101 Testing Unit"
    assert reader.outline
    assert "/StructTreeRoot" in reader.trailer["/Root"]


def test_handouts_hold_n_slides_a_page(published_copy):
    root = published_copy
    handout = root / "build" / "site" / "main-handout.pdf"
    slides = len(PdfReader(root / "build" / "site" / "main.pdf").pages)
    assert len(PdfReader(handout).pages) == math.ceil(slides / 2)  # the default
    again = run_build(root, "publish", "slides/main.md", "--handout", "6")
    assert again.returncode == 0, again.stderr
    assert len(PdfReader(handout).pages) == math.ceil(slides / 6)
    page = PdfReader(handout).pages[0]
    assert "hello from the kernel" in page.extract_text()  # slides placed as vectors: text
    assert "slides/main.md: a handout of 6 slides a page prints the body text at" in again.stderr
    assert "(with 2 a page: " in again.stderr
    bad = run_build(root, "publish", "slides/main.md", "--handout", "5")
    assert bad.returncode != 0 and "handout must be one of 1, 2, 3, 4, 6" in bad.stderr


def printed_sizes(pdf: Path, wanted: str) -> list[float]:
    """The sizes (pt, as printed) of the text runs of a PDF that hold `wanted`."""
    sizes = []

    def visit(text, cm, tm, font, size):
        if wanted in text:
            sizes.append(abs(size * (tm[3] or 1) * (cm[3] or 1)))

    for page in PdfReader(pdf).pages:
        page.extract_text(visitor_text=visit)
    return sizes


def test_the_default_handout_prints_code_and_prose_legibly(published):
    root, _ = published
    site = root / "build" / "site"
    handout = site / "lesson-handout.pdf"
    code, prose = printed_sizes(handout, "squares ="), printed_sizes(handout, "Lists and loops")
    assert code and prose
    assert min(code + prose) >= 7.0, (code, prose)


def test_every_file_says_the_course_language_not_the_locale(published):
    root, _ = published
    site, lecturer = root / "build" / "site", root / "build" / "lecturer"
    for deck, lang in (("lesson", "en"), ("french", "fr-CA")):
        html = (site / f"{deck}.html").read_text()
        assert re.search(rf'<html lang="{lang}"', html), deck
        for pdf in (site / f"{deck}.pdf", site / f"{deck}-handout.pdf", lecturer / f"{deck}.pdf",
                    lecturer / f"{deck}-notes.pdf"):
            reader = PdfReader(pdf)
            assert reader.trailer["/Root"]["/Lang"] == lang, pdf
            assert reader.metadata.title, pdf
    notes = PdfReader(lecturer / "lesson-notes.pdf")  # the slides' outline, pointing at their pages
    entries = {item.title: notes.get_destination_page_number(item) for item in flatten(notes.outline)}
    assert entries["Lists and loops"] == 0 and entries["Squares"] == 1 and entries["Answers"] == 2
    assert '<html lang="en">' in (site / "index.html").read_text()


def flatten(outline: list) -> list:
    return [entry for item in outline for entry in (flatten(item) if isinstance(item, list) else [item])]


def printed(cell) -> dict[str, str]:
    """What a code cell printed, by stream (as one text: chunks and a last newline vary)."""
    streams: dict[str, str] = {}
    for output in cell.outputs:
        if output.output_type == "stream":
            streams[output.name] = streams.get(output.name, "") + output.text
    return {name: text.rstrip("\n") for name, text in streams.items()}


def test_the_notebook_holds_the_slides_cells_and_what_ran_unseen(published):
    root, _ = published
    notebook = nbformat.read(root / "build" / "site" / "lesson.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.source for cell in code[1:3]] == ['squares = [n * n for n in range(5)]\nprint("squares:", squares)',
                                                  'print("total:", sum(squares))']
    unseen = code[3]  # lab.py's helpers: the build ran them before the draw cell, unseen
    assert "setup" in unseen.metadata["tags"] and unseen.metadata["jupyter"]["source_hidden"]
    assert unseen.source.startswith("# Setup the slides do not show (snippets/lab.py#helpers)")
    assert "def draw(n):" in unseen.source
    assert code[4].source == 'print("drawn:", draw(3))'
    assert "pre_run_cell" in code[0].source  # seeded before every cell, as in the build


def test_every_notebook_runs_from_a_copy_of_the_site_and_prints_what_the_slides_show(published, tmp_path):
    root, _ = published
    site = root / "build" / "site"
    copy = tmp_path / "elsewhere" / "site"
    shutil.copytree(site, copy)
    notebooks = sorted(copy.glob("*.ipynb"))
    assert [n.stem for n in notebooks] == ["french", "lesson", "main", "second"]
    for path in notebooks:
        stored = nbformat.read(path, as_version=4)
        ran = nbformat.read(path, as_version=4)
        NotebookClient(ran, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(copy)}}).execute()  # fails on any error
        html = (site / f"{path.stem}.html").read_text()
        for before, after in zip(stored.cells, ran.cells):
            if before.cell_type == "code":
                assert printed(after) == printed(before), (path.name, before.source)
                shown = printed(before).get("stdout", "").split("\n")[0]  # (a slide may cut the rest)
                assert html_text(shown) in html, (path.name, shown)
    lesson = nbformat.read(copy / "lesson.ipynb", as_version=4)
    drawn = [printed(cell).get("stdout", "") for cell in lesson.cells if cell.cell_type == "code"]
    first = next(text for text in drawn if text.startswith("drawn: "))
    again = next(text for text in drawn if text.startswith("again: "))
    assert float(first.split("[")[1].split(",")[0]) == round(float(again.split(" ")[1]), 6)  # reseeded before each


def html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_a_jinja_fence_is_shown_as_written(published):
    root, _ = published
    html = (root / "build" / "site" / "lesson.html").read_text()
    text = unescape(re.sub(r"<[^>]+>", "", html))  # (the code is highlighted: spans)
    assert "{% for item in items %}<li>{{ item.name }}</li>{% endfor %}" in text


def test_the_zip_follows_the_site_without_asking(published_copy):
    root = published_copy
    lesson = root / "slides" / "lesson.md"
    lesson.write_text(lesson.read_text().replace("## Summing up", "## Summing it all up"))
    proc = run_build(root, "publish")
    assert proc.returncode == 0, proc.stderr
    site = root / "build" / "site"
    with zipfile.ZipFile(root / "build" / "site.zip") as archive:
        assert sorted(archive.namelist()) == sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
        assert all(archive.read(name) == (site / name).read_bytes() for name in archive.namelist())
    assert b"Summing it all up" in (site / "lesson.html").read_bytes()


def test_a_notebook_that_would_not_run_is_refused(published_copy):
    root = published_copy
    deck = root / "slides" / "lesson.md"
    deck.write_text(deck.read_text().replace('print("HIDDEN-ANSWER", sum(squares) + 12)',
                                             'answer = sum(squares) + 12'
                                             ).replace('print("total:", sum(squares))', 'print("total:", answer)'))
    before = (root / "build" / "site" / "lesson.ipynb").read_bytes()
    proc = run_build(root, "publish", "slides/lesson.md")
    assert proc.returncode == 1
    assert "the students' notebook would not run" in proc.stderr
    assert re.search(r"slides/lesson.md:\d+ uses 'answer', which only slides/lesson.md:\d+ sets, on a "
                     r"lecturer-only slide", proc.stderr), proc.stderr
    assert "warning" not in proc.stderr
    assert (root / "build" / "site" / "lesson.ipynb").read_bytes() == before  # the last good one kept


def test_a_second_publish_writes_nothing_and_starts_no_marp(published, tmp_path):
    root, _ = published
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "node.log"
    (fake / "node").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nexec {shutil.which('node')} \"$@\"\n")
    (fake / "node").chmod(0o755)
    run_build(root, "publish", "--zip")  # (whatever ran before, the site is as publish makes it)
    before = {p: p.stat().st_mtime_ns for p in (root / "build").rglob("*") if p.is_file()}
    proc = run_build(root, "publish", "--zip", env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}",
                                                    "DECKRUN_NODE": "system"})  # (the node that logs)
    assert proc.returncode == 0, proc.stderr
    after = {p: p.stat().st_mtime_ns for p in (root / "build").rglob("*") if p.is_file()}
    assert after == before
    assert not log.exists()
    assert "rendering" not in proc.stdout and "ran" not in proc.stdout.replace("0 ran", "")

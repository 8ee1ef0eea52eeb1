"""`build.py publish` for real (kernel, Marp CLI, Chromium): the students' site, the
lecturer's copies, handouts, notebooks, and a repeat publish that does nothing."""
from __future__ import annotations

import math
import os
import shutil
import stat
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from pypdf import PdfReader

from conftest import make_course, run_build

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
"""
SECRETS = ("LECTURER-SECRET", "HIDDEN-ANSWER", "NOTE-ALPHA", "NOTE-BRAVO")


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("publish") / "course")
    (root / "slides" / "options.md").unlink()  # its time-out cell would run on every build
    (root / "slides" / "lesson.md").write_text(LESSON)
    old = os.umask(0o022)
    try:
        proc = run_build(root, "publish", "--zip")
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


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
    assert len(PdfReader(site / "lesson.pdf").pages) == 3


def test_the_lecturer_keeps_everything_with_notes_as_text(published):
    root, _ = published
    lecturer = root / "build" / "lecturer"
    notes = pdf_text(lecturer / "lesson-notes.pdf")
    assert all(secret in notes for secret in SECRETS)
    assert "Slide 3 of 4 (lecturer only)" in notes
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


def test_handouts_hold_n_slides_a_page(published):
    root, proc = published
    handout = root / "build" / "site" / "main-handout.pdf"
    slides = len(PdfReader(root / "build" / "site" / "main.pdf").pages)
    assert len(PdfReader(handout).pages) == math.ceil(slides / 3)  # the default
    again = run_build(root, "publish", "slides/main.md", "--handout", "6")
    assert again.returncode == 0, again.stderr
    assert len(PdfReader(handout).pages) == math.ceil(slides / 6)
    page = PdfReader(handout).pages[0]
    assert "hello from the kernel" in page.extract_text()  # slides placed as vectors: text
    bad = run_build(root, "publish", "slides/main.md", "--handout", "5")
    assert bad.returncode != 0 and "handout must be one of 1, 2, 3, 4, 6" in bad.stderr


def test_the_notebook_runs_and_reproduces_the_deck(published, tmp_path):
    root, _ = published
    site = root / "build" / "site"
    notebook = nbformat.read(site / "lesson.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[1:] == ['squares = [n * n for n in range(5)]\nprint("squares:", squares)',
                        'print("total:", sum(squares))']
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    main = nbformat.read(copy / "main.ipynb", as_version=4)
    NotebookClient(main, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(copy)}}).execute()
    printed = "".join(o.get("text", "") for cell in main.cells if cell.cell_type == "code"
                      for o in cell.outputs)
    assert "value 3\nvalue 4" in printed          # read from the data file shipped beside it
    assert "hello from the kernel" in printed


def test_a_second_publish_writes_nothing_and_starts_no_marp(published, tmp_path):
    root, _ = published
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "node.log"
    (fake / "node").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nexec {shutil.which('node')} \"$@\"\n")
    (fake / "node").chmod(0o755)
    run_build(root, "publish", "--zip")  # the handout test above changed main's handout
    before = {p: p.stat().st_mtime_ns for p in (root / "build").rglob("*") if p.is_file()}
    proc = run_build(root, "publish", "--zip", env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr
    after = {p: p.stat().st_mtime_ns for p in (root / "build").rglob("*") if p.is_file()}
    assert after == before
    assert not log.exists()
    assert "rendering" not in proc.stdout and "ran" not in proc.stdout.replace("0 ran", "")

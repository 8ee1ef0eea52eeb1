"""Course scale: decks built in parallel (--jobs), rendered together in one Marp run a
format, and a build with nothing to do stopping at once; through the real pipeline."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from helpers.course import only_deck, only_decks, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

TIMED = """# Deck {name}

```python run
import time
start = time.time()
time.sleep(1.5)
open("times.log", "a").write(f"{name} {{start}} {{time.time()}}\\n")
print("deck {name} done")
```
"""


def decks(course: Path, names: str) -> None:
    only_decks(course, {f"{name}.md": TIMED.format(name=name) for name in names})


def test_decks_build_at_the_same_time_with_the_same_results(course):
    decks(course, "abcd")
    one = run_build(course, "--html", "--jobs", "1")
    assert one.returncode == 0, one.stderr
    serial = {p.name: p.read_text() for p in (course / "build").glob("*.md")}
    shutil.rmtree(course / "build")
    shutil.rmtree(course / "_freeze")
    (course / "times.log").unlink()
    two = run_build(course, "--html", "--jobs", "2")
    assert two.returncode == 0, two.stderr
    assert {p.name: p.read_text() for p in (course / "build").glob("*.md")} == serial
    spans = sorted((float(start), float(end)) for _, start, end in
                   (line.split() for line in (course / "times.log").read_text().splitlines()))
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))  # overlapping
    # One block of lines per deck, never mixed: each deck's lines follow its heading.
    lines = two.stdout.splitlines()
    for name in "abcd":
        at = lines.index(f"slides/{name}.md: 1 cell")
        assert lines[at + 1].startswith(f"  [1/1] slides/{name}.md:3 ... ")
        assert lines[at + 2] == "  cells: 0 from the cache, 1 ran"


def test_a_failing_deck_among_parallel_ones_fails_alone(course):
    decks(course, "abc")
    (course / "slides" / "b.md").write_text("# B\n\n```python run\nraise RuntimeError('b is broken')\n```\n")
    proc = run_build(course, "--html", "--jobs", "2")
    assert proc.returncode == 1
    assert "error: slides/b.md:3: cell raised RuntimeError: b is broken" in proc.stderr
    assert "2 decks built, 1 failed" in proc.stdout
    assert (course / "build" / "a.html").exists() and (course / "build" / "c.html").exists()
    assert not (course / "build" / "b.html").exists()


def test_decks_render_together_and_one_that_breaks_marp_is_named(course):
    only_decks(course, {f"{name}.md": f"# Deck {name}\n\nSome text.\n" for name in "abc"})
    proc = run_build(course, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "rendering html (3 decks in one Marp run)" in proc.stdout
    assert "rendering pdf (3 decks in one Marp run)" in proc.stdout
    for name in "abc":
        assert f"Deck {name}" in PdfReader(course / "build" / f"{name}.pdf").pages[0].extract_text()
    # A slide whose script never stops: the browser gives up on that deck's PDF only.
    (course / "slides" / "b.md").write_text("# Deck b\n\n<script>while (true) {}</script>\n")
    for name in "ac":
        path = course / "slides" / f"{name}.md"
        path.write_text(path.read_text().replace("Some text.", "Some other text."))
    before = (course / "build" / "b.pdf").read_bytes()
    proc = run_build(course, "--pdf", env={**os.environ, "DECKRUN_BROWSER_TIMEOUT": "3"})
    assert proc.returncode == 1
    assert "error: slides/b.md: Marp could not write b.pdf" in proc.stderr
    assert "timeout" in proc.stderr.lower()
    for name in "ac":
        assert "Some other text" in PdfReader(course / "build" / f"{name}.pdf").pages[0].extract_text()
    assert (course / "build" / "b.pdf").read_bytes() == before       # the last good one is kept
    assert not list((course / "build").glob(".*batch*"))             # no temporary file left


def test_a_build_with_nothing_to_do_stops_at_once(course):
    only_deck(course, "a.md", "# A\n\n```python run\nprint('a')\n```\n")
    assert run_build(course, "--html").returncode == 0
    again = run_build(course, "--html")
    assert again.stdout.strip() == "nothing changed since the last build: 1 deck up to date"
    (course / "build" / "a.html").unlink()                           # an output went missing
    assert "wrote build/a.html" in run_build(course, "--html").stdout
    time.sleep(0.01)
    (course / "slides" / "a.md").write_text("# A, edited\n\n```python run\nprint('a')\n```\n")
    edited = run_build(course, "--html")
    assert "wrote build/a.md, build/a.html" in edited.stdout
    assert "nothing changed" in run_build(course, "--html").stdout
    assert "nothing changed" not in run_build(course, "--html", "--pdf").stdout  # another request
    assert "nothing changed" not in run_build(course, "--html", "--refresh").stdout

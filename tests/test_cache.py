"""The execution cache, shown by counting executions (each cell logs a line when it runs)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.course import REPO, only_decks, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

COUNTED = """---
marp: true
---

# Counting runs

```python run
open("runs.log", "a").write("A\\n")
x = 1
print("A", x)
```

Some prose.

```python run
#| inputs: data/numbers.csv
open("runs.log", "a").write("B\\n")
rows = open("data/numbers.csv").read().split()
print("B", len(rows))
```

```python run
open("runs.log", "a").write("C\\n")
y = x + 1
print("C", y)
```

```python run
open("runs.log", "a").write("D\\n")
print("D")
```
"""
OTHER = '```python run\nopen("runs.log", "a").write("O\\n")\n```\n'
LINE_OF_C = COUNTED.splitlines().index('open("runs.log", "a").write("C\\n")') + 1
FENCE_OF_D = COUNTED.splitlines().index('open("runs.log", "a").write("D\\n")')


@pytest.fixture
def counted(course: Path) -> Path:
    only_decks(course, {"counted.md": COUNTED, "other.md": OTHER})
    assert build(course).returncode == 0
    assert runs(course) == ["A", "B", "C", "D", "O"]
    return course


def build(root: Path, *args: str) -> subprocess.CompletedProcess:
    proc = run_build(root, "--html", "--jobs", "1", *args)  # runs.log in one order
    (root / "runs.log").touch()
    return proc


def runs(root: Path) -> list[str]:
    """The cells that ran since the last call."""
    log = root / "runs.log"
    lines = log.read_text().split()
    log.write_text("")
    return lines


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_unchanged_prose_theme_and_display_options_run_nothing(counted):
    deck = counted / "slides" / "counted.md"
    proc = build(counted)
    assert runs(counted) == [] and "0 cells run, 5 from the cache" in proc.stdout
    edit(deck, "Some prose.", "Some edited prose.")
    edit(counted / "themes" / "nmt-theme.css", "--nmt-ink: #1c2633;", "--nmt-ink: #000000;")
    edit(deck, 'open("runs.log", "a").write("C\\n")',
         '#| echo: false\n#| output: right\nopen("runs.log", "a").write("C\\n")')
    proc = build(counted)
    assert proc.returncode == 0 and runs(counted) == []
    markdown = (counted / "build" / "counted.md").read_text()
    assert "Some edited prose." in markdown and "```output\nC 2\n```" in markdown
    assert 'write("C' not in markdown  # echo: false took effect without running


def test_editing_a_cell_reruns_it_and_the_cells_after_it_only(counted):
    edit(counted / "slides" / "counted.md", 'print("D")', 'print("D edited")')
    proc = build(counted)
    assert runs(counted) == ["D"]
    assert "cells: 3 from the cache, 1 ran" in proc.stdout
    assert "```output\nD edited\n```" in (counted / "build" / "counted.md").read_text()


def test_state_a_rerun_cell_needs_is_replayed(counted):
    edit(counted / "slides" / "counted.md", 'y = x + 1', 'y = x + 10')
    proc = build(counted)
    assert runs(counted) == ["A", "C", "D"]  # A only replays: C reads its x
    assert "(replay: state only)" in proc.stdout and "2 ran, 1 replayed" in proc.stdout
    assert "```output\nC 11\n```" in (counted / "build" / "counted.md").read_text()


def test_a_changed_input_file_reruns_the_cell_that_declares_it(counted):
    (counted / "data" / "numbers.csv").write_text("n\n3\n4\n5\n6\n")
    status = run_build(counted, "status")
    assert "input changed: data/numbers.csv" in status.stdout
    assert "an earlier cell changed" in status.stdout
    build(counted)
    assert runs(counted) == ["A", "B", "C", "D"]  # B, C, D stale; A replayed for C


def test_status_reports_cached_and_stale_cells(counted):
    assert "slides/counted.md: 4 cells, 4 cached, 0 stale" in run_build(counted, "status").stdout
    edit(counted / "slides" / "counted.md", 'print("C", y)', 'print("C is", y)')
    out = run_build(counted, "status").stdout
    assert "slides/counted.md: 4 cells, 2 cached, 2 stale" in out
    assert f"slides/counted.md:{LINE_OF_C - 1}: code changed" in out
    assert "an earlier cell changed" in out
    assert runs(counted) == []  # status runs nothing


def test_refresh_everything_a_deck_or_one_cell(counted):
    build(counted, "--refresh")
    assert runs(counted) == ["A", "B", "C", "D", "O"]
    build(counted, "--refresh", "slides/other.md")
    assert runs(counted) == ["O"]
    build(counted, "--refresh", f"slides/counted.md:{LINE_OF_C}")
    assert runs(counted) == ["A", "C"]
    typo = build(counted, "--refresh", "slides/countd.md")
    assert typo.returncode == 1 and "--refresh slides/countd.md: no cell" in typo.stderr
    assert runs(counted) == []


def test_frozen_never_executes(counted):
    assert build(counted, "--frozen").returncode == 0 and runs(counted) == []
    edit(counted / "slides" / "counted.md", 'print("D")', 'print("D again")')
    proc = build(counted, "--frozen")
    assert proc.returncode == 1 and runs(counted) == []
    assert "--frozen: 1 cell(s) have no cached output" in proc.stderr
    assert f"slides/counted.md:{FENCE_OF_D}: code changed" in proc.stderr


def test_a_corrupted_entry_is_reported_and_rerun(counted):
    entries = sorted((counted / "_freeze" / "cells").rglob("*.json"))
    assert len(entries) == 5
    for entry in entries:
        if '"text": "D"' in entry.read_text():
            entry.write_text('{"format": 1, "key": "trunc')
    proc = build(counted)
    assert proc.returncode == 0 and runs(counted) == ["D"]
    assert "is unreadable" in proc.stderr and "running the cell again" in proc.stderr
    assert build(counted).returncode == 0 and runs(counted) == []  # mended


def test_a_missing_blob_is_not_trusted(course):
    (course / "slides" / "fig.md").write_text(
        "```python run\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]);\n```\n")
    assert build(course, "slides/fig.md").returncode == 0
    for blob in (course / "_freeze" / "blobs").rglob("*.png"):
        blob.write_bytes(b"not the figure")
    proc = build(course, "slides/fig.md")
    assert proc.returncode == 0 and "does not match its hash" in proc.stderr
    assert "1 ran" in proc.stdout


def test_a_failed_cell_is_not_cached(course):
    (course / "slides" / "fails.md").write_text(
        '```python run\nopen("runs.log", "a").write("F\\n")\nraise RuntimeError("no")\n```\n')
    assert build(course, "slides/fails.md").returncode == 1
    assert build(course, "slides/fails.md").returncode == 1
    assert runs(course) == ["F", "F"]
    assert not list(course.glob("_freeze/cells/**/*.json"))


def test_an_interrupted_build_leaves_no_half_written_entry(course):
    (course / "slides" / "slow.md").write_text(
        '```python run\nprint("first")\n```\n\n'
        '```python run\nimport pathlib, time\n'
        'pathlib.Path("started").touch()\nwhile pathlib.Path("block").exists():\n    time.sleep(0.1)\n'
        'print("second")\n```\n')
    (course / "block").touch()
    proc = subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(course),
                             "slides/slow.md", "--html"], cwd=course, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (course / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the build and its kernel mid-cell
    proc.wait()
    entries = list((course / "_freeze" / "cells").rglob("*.json"))
    assert len(entries) == 1 and "first" in entries[0].read_text()
    json.loads(entries[0].read_text())  # complete, valid
    (course / "block").unlink()
    rebuilt = build(course, "slides/slow.md")
    assert rebuilt.returncode == 0 and "1 from the cache, 1 ran" in rebuilt.stdout


def test_a_cached_rebuild_imports_neither_torch_nor_jupyter_client(course):
    (course / "slides" / "torchy.md").write_text("```python run\nimport torch\ntorch.ones(2).sum()\n```\n")
    assert build(course, "slides/torchy.md").returncode == 0
    probe = ("import sys\nfrom deckrun.cli import main\n"
             f"code = main(['--root', {str(course)!r}, 'slides/torchy.md', '--html'])\n"
             "print('EXIT', code, 'jupyter_client' in sys.modules, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=course, capture_output=True, text=True)
    assert "EXIT 0 False False" in proc.stdout, proc.stdout + proc.stderr
    assert "1 from the cache, 0 ran" in proc.stdout


def test_prune_removes_what_no_deck_uses(counted):
    edit(counted / "slides" / "counted.md", 'print("D")', 'print("D, second version")')
    assert build(counted).returncode == 0 and runs(counted) == ["D"]
    assert len(list(counted.glob("_freeze/cells/*/*.json"))) == 6  # both versions of D
    proc = run_build(counted, "prune")
    assert proc.returncode == 0 and "removed 1 cache entry" in proc.stdout
    assert len(list(counted.glob("_freeze/cells/*/*.json"))) == 5
    assert build(counted, "--frozen").returncode == 0 and runs(counted) == []


def test_clean_keeps_the_cache_unless_asked(counted):
    assert run_build(counted, "clean").returncode == 0
    assert (counted / "_freeze").is_dir() and not (counted / "build").exists()
    assert build(counted).returncode == 0 and runs(counted) == []
    assert run_build(counted, "clean", "--cache").returncode == 0
    assert not (counted / "_freeze").exists()


def test_a_build_from_another_folder_leaves_the_cache_as_it_was(course, tmp_path):
    """What the cache records (and the site publishes) names cells relative to the course:
    `deckrun --root COURSE` from elsewhere must not rewrite a committed _freeze/."""
    assert run_build(course, "--html").returncode == 0
    before = {p: p.read_bytes() for p in (course / "_freeze").rglob("*.json")}
    deck = next((course / "slides").glob("*.md"))
    deck.write_text(deck.read_text() + "\nOne more line of prose.\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    built = subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(course), "--html"], cwd=elsewhere,
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr  # (a cell that timed out runs again: never cached)
    assert {p: p.read_bytes() for p in (course / "_freeze").rglob("*.json")} == before
    records = [json.loads(p.read_text()) for p in (course / "_freeze" / "decks").glob("*.json")]
    assert all(c["cell"].startswith("slides/") for r in records for c in r["cells"]), records

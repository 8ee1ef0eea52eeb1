"""Outputs judged by the packages that computed them, through the real pipeline: a course
module installed as a distribution of its own (on PYTHONPATH, for the build and its
kernel alike) whose version changes under a built deck."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from helpers.course import install_courselib, make_course, only_deck, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

DECK = """---
marp: true
theme: nmt-theme
title: Versions
---

# Versions

```python run
open("runs.log", "a").write("first\\n")
import courselib
made = courselib.make()
print("made with", courselib.__version__)
```

```python run
open("runs.log", "a").write("plain\\n")
print("plain")
```

```python run
open("runs.log", "a").write("uses\\n")
print("uses", made)
```
"""


class Course:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.packages = root.parent / "site-packages"
        self.env = {**os.environ, "PYTHONPATH": str(self.packages)}

    def build(self, *args: str):
        return run_build(self.root, *args, env=self.env)

    def runs(self) -> list[str]:
        log = self.root / "runs.log"
        lines = log.read_text().split() if log.exists() else []
        log.write_text("")
        return lines

    def freeze(self) -> dict[str, bytes]:
        files = (self.root / "_freeze").rglob("*")
        return {str(p.relative_to(self.root)): p.read_bytes() for p in files if p.is_file()}


@pytest.fixture
def versions(tmp_path) -> Course:
    root = make_course(tmp_path / "course")
    only_deck(root, "versions.md", DECK)
    course = Course(root)
    install_courselib(course.packages, "1.0")
    proc = course.build("--html")
    assert proc.returncode == 0, proc.stderr
    assert course.runs() == ["first", "plain", "uses"]
    return course


def test_an_upgrade_reruns_exactly_the_cells_that_use_what_changed(versions):
    install_courselib(versions.packages, "2.0")
    status = versions.build("status")
    assert status.returncode == 0, status.stderr
    reasons = re.findall(r"slides/versions.md:\d+: (.*)", status.stdout)
    assert reasons == ["package version changed: courselib 1.0 -> 2.0"] * 2, status.stdout
    assert "1 stale" not in status.stdout and "2 stale" in status.stdout
    proc = versions.build("--html")
    assert proc.returncode == 0, proc.stderr
    assert versions.runs() == ["first", "uses"]  # not the cell that imports nothing of it
    assert "made with 2.0" in (versions.root / "build" / "versions.md").read_text()
    pruned = versions.build("prune")
    assert "removed 2 cache entries" in pruned.stdout  # the outputs 1.0 made


def test_frozen_takes_the_recorded_outputs_says_so_and_publishes_their_versions(versions):
    before = versions.freeze()
    install_courselib(versions.packages, "2.0")
    proc = versions.build("--html", "--frozen")
    assert proc.returncode == 0, proc.stderr
    assert versions.runs() == []
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: slides/versions.md: 2 cells taken from the cache although computed with other "
                        "versions than the kernel has (courselib 1.0 -> 2.0; --frozen)"]
    assert "made with 1.0" in (versions.root / "build" / "versions.md").read_text()
    published = versions.build("publish", "--frozen")
    assert published.returncode == 0, published.stderr
    assert "courselib 1.0" in (versions.root / "build" / "site" / "index.html").read_text()
    notebook = json.loads((versions.root / "build" / "site" / "versions.ipynb").read_text())
    assert notebook["metadata"]["deckrun"]["packages"]["courselib"] == "1.0"
    assert versions.freeze() == before  # nothing in the repository changed


def test_freeze_true_takes_recorded_outputs_without_asking(versions):
    deck = versions.root / "slides" / "versions.md"
    deck.write_text(DECK.replace("title: Versions\n", "title: Versions\nexecute:\n  freeze: true\n"))
    install_courselib(versions.packages, "2.0")
    proc = versions.build("--html")
    assert proc.returncode == 0, proc.stderr
    assert versions.runs() == []
    assert "(courselib 1.0 -> 2.0; freeze: true)" in proc.stderr


def test_one_frozen_cell_is_taken_and_the_cells_after_it_run(versions):
    deck = versions.root / "slides" / "versions.md"
    deck.write_text(DECK.replace('open("runs.log", "a").write("first\\n")',
                                 '#| freeze: true\nopen("runs.log", "a").write("first\\n")'))
    install_courselib(versions.packages, "2.0")
    proc = versions.build("--html")  # the option is display-only: the cell's sources are the same
    assert proc.returncode == 0, proc.stderr
    assert versions.runs() == ["first", "uses"]  # `first` replayed only for the state `uses` needs
    markdown = (versions.root / "build" / "versions.md").read_text()
    assert "made with 1.0" in markdown and "uses made" in markdown


def test_a_rerun_that_changes_nothing_changes_no_file(versions):
    before = versions.freeze()
    proc = versions.build("--html", "--refresh")
    assert proc.returncode == 0, proc.stderr
    assert versions.runs() == ["first", "plain", "uses"]
    assert versions.freeze() == before


def test_status_holds_the_kernel_against_the_lock(versions):
    (versions.root / "requirements.lock").write_text(
        "courselib==1.0 \\\n    --hash=sha256:00\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:00\n")
    assert "this environment: every package as requirements.lock has it" in versions.build("status").stdout
    install_courselib(versions.packages, "2.0")
    status = versions.build("status").stdout
    assert ("this environment: 1 package differs from requirements.lock: courselib 2.0 (locked 1.0)") in status
    versions.build("--html")
    assert "its outputs were computed with versions the lock does not have: courselib 2.0 (locked 1.0)" \
        in versions.build("status").stdout

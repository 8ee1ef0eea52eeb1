"""How much a rebuild costs, measured in one run on this machine (issue: execution cache).

Builds a copy of the example course and prints, for HTML alone and for HTML + PDF:
  1. cold build (empty cache)
  2. rebuild with nothing changed
  3. rebuild after a one-line prose edit
  4. rebuild after editing one cell
  and the floor: the Marp CLI alone on the same final Markdown.
Then the same cells as notebooks through `jupyter nbconvert --execute --to slides` and
through jupyter-cache, and our ratio to them.

    ./run bench            (installs nbconvert and jupyter-cache, then runs this)
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deckrun.core.project import load_project  # noqa: E402
from deckrun.render.marp import engine_config, find_marp, marp_options  # noqa: E402
from deckrun.source.deck import load_deck  # noqa: E402

PARTS = ("slides", "snippets", "data", "themes", "course.yaml")
PROSE = ("- Encoders, decoders, and the two working together",
         "- Encoders and decoders, and how the two work together")
CELL = ('print(f"accuracy: {accuracy:.0%} of {len(test)}")',
        'print(f"accuracy: {accuracy:.1%} of {len(test)}")')
REPEAT = 3  # timings of the fast cases are medians of this many runs


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - started


def median(command: list[str], cwd: Path) -> float:
    return statistics.median(timed(command, cwd) for _ in range(REPEAT))


def build(root: Path, formats: list[str]) -> list[str]:
    return [sys.executable, str(REPO / "build.py"), "--root", str(root), *formats]


def marp_alone(root: Path, formats: list[str]) -> float:
    """The Marp CLI on each deck's generated Markdown, with the options the build uses,
    one run per format (as the build renders: all decks of a format together)."""
    work = root / "floor"  # a copy of build/, so that Marp's outputs land beside it
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root / "build", work, ignore=shutil.ignore_patterns("*.html", "*.pdf", "site", "lecturer"))
    decks = [str(md) for md in sorted(work.glob("session-*.md")) if md.suffixes == [".md"]]
    commands = [[*find_marp(REPO), *decks, *marp_options(fmt, engine_config(root, root / "themes", root / "floor"))]
                for fmt in (f.lstrip("-") for f in formats)]
    def once() -> float:
        return sum(timed(command, root) for command in commands)
    return statistics.median(once() for _ in range(REPEAT))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def notebooks(root: Path) -> list[Path]:
    """Each deck's cells, in order, as a notebook in the course folder (so data/ and
    snippets/ are found as in a build)."""
    project = load_project(root)
    paths = []
    for deck_path in project.decks():
        deck = load_deck(deck_path, project)
        setup = "import sys\nsys.path.insert(0, 'snippets')"
        cells = [{"cell_type": "markdown", "metadata": {}, "source": deck.markdown[:200]}]
        cells += [{"cell_type": "code", "metadata": {}, "source": cell.code, "outputs": [],
                   "execution_count": None} for cell in deck.cells]
        cells.insert(1, {**cells[1], "source": setup})
        notebook = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
                    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                "language": "python"}}}
        path = root / f"{deck.name}.ipynb"
        path.write_text(json.dumps(notebook))
        paths.append(path)
    return paths


def jupyter_cache_run(root: Path, paths: list[Path]) -> float:
    code = ("import sys\nfrom jupyter_cache import get_cache\n"
            "from jupyter_cache.executors import load_executor\n"
            "cache = get_cache('.jupyter_cache')\n"
            "for p in sys.argv[1:]:\n    cache.add_nb_to_project(p)\n"
            "result = load_executor('local-serial', cache).run_and_cache(timeout=900)\n"
            "assert not result.errored, result.errored\n")
    return timed([sys.executable, "-c", code, *map(str, paths)], root)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deckrun-bench-"))
    root = work / "course"
    root.mkdir()
    for part in PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    rows = []
    for label, formats in (("HTML", ["--html"]), ("HTML+PDF", ["--html", "--pdf"])):
        shutil.rmtree(root / "_freeze", ignore_errors=True)
        shutil.rmtree(root / "build", ignore_errors=True)
        cold = timed(build(root, formats), root)
        unchanged = median(build(root, formats), root)
        edit(root / "slides" / "session-12.md", *PROSE)
        prose = timed(build(root, formats), root)
        edit(root / "slides" / "session-12.md", *reversed(PROSE))
        timed(build(root, formats), root)
        edit(root / "snippets" / "sentiment_lab.py", *CELL)
        one_cell = timed(build(root, formats), root)
        edit(root / "snippets" / "sentiment_lab.py", *reversed(CELL))
        floor = marp_alone(root, formats)
        rows.append((label, cold, unchanged, prose, one_cell, floor))

    print(f"\nExample course: {len(list((root / 'slides').glob('*.md')))} decks, "
          f"machine: {subprocess.getoutput('nproc')} cores. Seconds; a deck whose Markdown, "
          "theme and images did not change is not rendered again,\nso a rebuild can cost "
          "less than Marp alone (the floor: Marp on every deck).\n")
    print(f"{'':10} {'cold':>8} {'nothing':>8} {'prose':>8} {'1 cell':>8} {'Marp':>8}"
          f" {'nothing/Marp':>13} {'prose/Marp':>11}")
    for label, cold, unchanged, prose, one_cell, floor in rows:
        print(f"{label:10} {cold:8.2f} {unchanged:8.2f} {prose:8.2f} {one_cell:8.2f} {floor:8.2f}"
              f" {unchanged / floor:12.2f}x {prose / floor:10.2f}x")

    nb_dir = root
    paths = notebooks(root)
    nbconvert = timed([sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "slides",
                       "--ExecutePreprocessor.timeout=900", *map(str, paths)], nb_dir)
    jcache_cold = jupyter_cache_run(nb_dir, paths)
    jcache_again = jupyter_cache_run(nb_dir, paths)
    edit(nb_dir / "session-12.ipynb", json.dumps(CELL[0])[1:-1], json.dumps(CELL[1])[1:-1])
    jcache_cell = jupyter_cache_run(nb_dir, paths)
    html = rows[0]
    print("\nThe same cells as notebooks (execution only, no Marp):")
    print(f"  nbconvert --execute --to slides: {nbconvert:6.2f}s every time "
          f"(ours, nothing changed: {html[2]:.2f}s = {html[2] / nbconvert:.2f}x; "
          f"one cell: {html[4]:.2f}s = {html[4] / nbconvert:.2f}x)")
    print(f"  jupyter-cache: cold {jcache_cold:6.2f}s, nothing changed {jcache_again:5.2f}s, "
          f"one cell {jcache_cell:6.2f}s (ours: one cell {html[4]:.2f}s = "
          f"{html[4] / jcache_cell:.2f}x)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

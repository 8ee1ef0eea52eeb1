"""Live preview latency, measured in one run on this machine (issue: live preview).

Runs `build.py watch` on a copy of the example course and prints the time from saving
a file to the rebuilt page being served (reload event received, then the page fetched):
  - a prose edit (goal: median under 0.5 s),
  - a one-cell edit, minus the cell's own compute time in the warm kernel (goal: under
    0.5 s: no import or model load repeated); the deck's last cell, and a cell in the
    middle of a deck (the cells after it rerun too: their compute time is counted),
and the same two edits with a cold `python build.py --html` for comparison.
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
sys.path.insert(0, str(REPO / "tests"))

from test_watch import Watching  # noqa: E402  (the watcher client the tests use)

PARTS = ("slides", "snippets", "data", "themes", "course.yaml")
ROUNDS = 7
PROSE = ("slides/session-12.md", "- Encoders, decoders, and the two working together",
         "- Encoders and decoders, and how the two work together")
LAST_CELL = ("snippets/sentiment_lab.py", '"The tutorial was a joy to work through"',
             '"The tutorial was a real joy to work through"')
MIDDLE_CELL = ("slides/session-11.md", 'print(f"  {len(counter)} different ones")',
               'print(f"  {len(counter)} distinct ones")')


def save_and_wait(watching: Watching, edit: tuple[str, str, str], expect: str, deck: str) -> float:
    path, old, new = edit
    started = time.perf_counter()
    watching.edit(path, old, new)
    while True:
        if deck in watching.expect("reload")["decks"] and expect in watching.get(f"{deck}.html"):
            return time.perf_counter() - started


def last_cell_seconds(root: Path) -> float:
    """Compute time of the most recently stored cell, as measured in the kernel."""
    newest = max((root / "_freeze" / "cells").rglob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())["result"]["seconds"]


def toggled(edit: tuple[str, str, str], forward: bool) -> tuple[str, str, str]:
    path, old, new = edit
    return (path, old, new) if forward else (path, new, old)


def watch_rounds(watching: Watching, edit, deck: str, subtract_compute: bool) -> list[float]:
    times = []
    for i in range(ROUNDS):
        step = toggled(edit, i % 2 == 0)
        seconds = save_and_wait(watching, step, step[2].strip('"-( '), deck)
        if subtract_compute:
            seconds -= last_cell_seconds(watching.root)
        times.append(seconds)
    return times


def cold(root: Path, edit, deck: str) -> float:
    path, old, new = edit
    (root / path).write_text((root / path).read_text().replace(old, new))
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(root), f"slides/{deck}.md",
                    "--html"], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="deckrun-watch-bench-")) / "course"
    root.mkdir()
    for part in PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(root), "--html"],
                   cwd=root, check=True, capture_output=True)  # fill the cache
    watching = Watching(root)
    try:
        prose = watch_rounds(watching, PROSE, "session-12", subtract_compute=False)
        save_and_wait(watching, LAST_CELL, "real joy", "session-12")  # warm-up: kernel, replays
        save_and_wait(watching, toggled(LAST_CELL, False), "was a joy", "session-12")
        last = watch_rounds(watching, LAST_CELL, "session-12", subtract_compute=True)
        save_and_wait(watching, MIDDLE_CELL, "distinct ones", "session-11")  # warm-up
        save_and_wait(watching, toggled(MIDDLE_CELL, False), "different ones", "session-11")
        middle = watch_rounds(watching, MIDDLE_CELL, "session-11", subtract_compute=False)
    finally:
        watching.proc.terminate()
        watching.proc.wait(timeout=60)
    cold_prose = cold(root, PROSE, "session-12")
    cold_cell = cold(root, toggled(LAST_CELL, True), "session-12")

    def show(label: str, times: list[float], goal: str = "") -> None:
        print(f"  {label:58} median {statistics.median(times):6.3f}s  "
              f"(min {min(times):.3f}, max {max(times):.3f}) {goal}")

    print(f"\nSave -> rebuilt page served, {ROUNDS} rounds each, {subprocess.getoutput('nproc')} cores:")
    show("prose edit (watch)", prose, "goal < 0.5 s")
    show("last cell edit, minus its compute time (watch, warm kernel)", last, "goal < 0.5 s")
    show("middle cell edit, cells after it rerun (watch, warm kernel)", middle)
    print(f"  {'prose edit, cold python build.py --html':58} {cold_prose:6.3f}s "
          f"({cold_prose / statistics.median(prose):.0f}x the watcher)")
    print(f"  {'last cell edit, cold python build.py --html':58} {cold_cell:6.3f}s "
          f"({cold_cell / statistics.median(last):.0f}x the watcher)")
    shutil.rmtree(root.parent)


if __name__ == "__main__":
    main()

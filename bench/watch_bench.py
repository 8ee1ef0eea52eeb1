"""Live preview latency, measured in one run on this machine (issue: live preview).

Runs `build.py watch` on a copy of the example course and prints the time from saving
a file to the rebuilt page being served (reload event received, then the page fetched):
  - a prose edit (goal: median under 0.5 s),
  - a one-cell edit, minus the cell's own compute time in the warm kernel (goal: under
    0.5 s: no import or model load repeated); the deck's last cell, and a cell in the
    middle of Session 12, whose later cells (the lab's fine-tune among them) rerun after
    the edited slide is shown (progressive preview, goal: under 0.5 s),
and the same two edits with a cold `python build.py --html` for comparison.
"""
from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.serving import Watching  # noqa: E402  (the watcher client the tests use)

PARTS = ("slides", "snippets", "data", "themes", "course.yaml")
ROUNDS = 7
# Edits as (file, line with {n}, what the rebuilt page then shows): round n puts " n" in.
PROSE = ("slides/session-12.md", "Every output on these slides came from running the code shown{n}.",
         "code shown{n}.")
LAST_CELL = ("snippets/sentiment_lab.py", '"The projector broke and nobody could fix it{n}"',
             "could fix it{n}")
MIDDLE_CELL = ("snippets/translate.py", 'sentence = "she reads the newspaper{n}"',
               "she reads the newspaper{n}")


class Edits:
    """Successive, never repeated edits of one line (a repeat would come from the cache)."""

    def __init__(self, root: Path, edit: tuple[str, str, str]) -> None:
        self.path, self.template, self.shown = root / edit[0], edit[1], edit[2]
        self.round = 0
        self.current = self.template.format(n="")
        assert self.current in self.path.read_text(), self.current

    def next(self) -> str:
        """Make the next edit; return what the rebuilt page will show."""
        self.round += 1
        new = self.template.format(n=f" {self.round}")
        self.path.write_text(self.path.read_text().replace(self.current, new))
        self.current = new
        return self.shown.format(n=f" {self.round}")


def save_and_wait(watching: Watching, edits: Edits, deck: str) -> float:
    """Seconds from a save to the page showing it; returns once the rebuild is over (a cell
    edit's later cells finish after the edited slide is shown)."""
    said = len(watching.output)
    started = time.perf_counter()
    shown = edits.next()
    while True:
        if deck in watching.expect("reload")["decks"] and shown in watching.get(f"{deck}.html"):
            seconds = time.perf_counter() - started
            break
    while not any(line.startswith("rebuilt ") for line in watching.output[said:]):
        time.sleep(0.05)
    return seconds


def cell_seconds(root: Path, cell: str) -> float:
    """Compute time of the newest run of `cell` (e.g. translate.py#encode), as measured in
    the kernel."""
    runs = [json.loads(p.read_text()) for p in (root / "_freeze" / "cells").rglob("*.json")]
    mine = [run for run in runs if cell in run["cell"]]
    return max(mine, key=lambda run: run["result"].get("computed", ""))["result"]["seconds"]


def watch_rounds(watching: Watching, edits: Edits, deck: str, compute_of: str = "") -> list[float]:
    """Save -> page served, each round; minus the compute time of cell `compute_of`."""
    save_and_wait(watching, edits, deck)  # warm-up: kernel start and replays, once
    times = []
    for _ in range(ROUNDS):
        watching.settle()
        seconds = save_and_wait(watching, edits, deck)
        if compute_of:
            seconds -= cell_seconds(watching.root, compute_of)
        times.append(seconds)
    return times


def cold(root: Path, edits: Edits, deck: str) -> float:
    edits.next()
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
    prose_edits, last_edits, middle_edits = (Edits(root, e) for e in (PROSE, LAST_CELL, MIDDLE_CELL))
    watching = Watching(root)
    try:
        prose = watch_rounds(watching, prose_edits, "session-12")
        last = watch_rounds(watching, last_edits, "session-12", "sentiment_lab.py#use")
        middle = watch_rounds(watching, middle_edits, "session-12", "translate.py#encode")
        watching.settle()
    finally:
        watching.proc.terminate()
        watching.proc.wait(timeout=60)
    rebuilds = [float(m.group(1)) for line in watching.output
                if (m := re.match(r"rebuilt session-12 in ([0-9.]+)s", line))]
    cold_prose = cold(root, prose_edits, "session-12")
    cold_cell = cold(root, last_edits, "session-12")

    def show(label: str, times: list[float], goal: str = "") -> None:
        print(f"  {label:58} median {statistics.median(times):6.3f}s  "
              f"(min {min(times):.3f}, max {max(times):.3f}) {goal}")

    print(f"\nSave -> rebuilt page served, {ROUNDS} rounds each, {subprocess.getoutput('nproc')} cores:")
    show("prose edit (watch)", prose, "goal < 0.5 s")
    show("last cell edit, minus its compute time (watch, warm kernel)", last, "goal < 0.5 s")
    show("middle cell edit, minus its compute (watch; later cells after)", middle, "goal < 0.5 s")
    print(f"  {'rebuild time the watcher reports (all rounds)':58} median {statistics.median(rebuilds):6.3f}s")
    print(f"  {'prose edit, cold python build.py --html':58} {cold_prose:6.3f}s "
          f"({cold_prose / statistics.median(prose):.0f}x the watcher)")
    print(f"  {'last cell edit, cold python build.py --html':58} {cold_cell:6.3f}s "
          f"({cold_cell / statistics.median(last):.0f}x the watcher)")
    shutil.rmtree(root.parent)


if __name__ == "__main__":
    main()

"""Live preview in a real browser: from a save to the pixels on screen, measured in one run
on this machine, with the page updated in place against the same run's full-reload path
(the page opened with ?deckrun-reload, which reloads on every rebuild as the preview used
to). A deck of 10 slides is open at slide 5 in headless Chromium (puppeteer-core):
  - prose: a save changes a word of slide 5 (goal: median at most 0.15 s, in place)
  - a cell edit, minus its 0.5 s of compute: the cell on slide 7 prints something else
  - streaming: a cell that prints a line every 0.8 s; from the line printed to it on
    screen (with a full reload nothing shows until the cell ends)

    .venv/bin/python bench/preview_bench.py
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.browser import Browser  # noqa: E402  (the tests' own helpers)
from helpers.serving import Watching  # noqa: E402

ROUNDS = 7
WARM_UP = 2  # saves first, not counted (the Marp CLI's code is still being compiled)
COMPUTE = 0.5
SLIDES = [f"## Slide {n}\n\nSome prose on slide {n}." for n in range(1, 11)]
SLIDES[4] = "## Slide 5\n\nThe word is w0."
SLIDES[6] += f"\n\n```python run\nimport time\ntime.sleep({COMPUTE})\nprint('value', 0)\n```"
SLIDES[8] += ("\n\n```python run\nimport time\nfor n in range(1, 5):\n    print('line', n, 'r0', "
              "f'{time.time():.3f}', flush=True)\n    time.sleep(0.8)\n```")
DECK = "---\nmarp: true\ntheme: nmt-theme\npaginate: true\n---\n\n" + "\n\n---\n\n".join(SLIDES) + "\n"


class Edits:
    """Successive edits of the deck, never repeated (a repeat would come from the cache)."""

    def __init__(self, root: Path) -> None:
        self.deck = root / "slides" / "bench.md"
        self.rounds = {"w": 0, "value": 0, "r": 0}

    def next(self, kind: str, template: str) -> tuple[int, float]:
        """Put the next number into `template` ("{}" where it goes); the number and when saved."""
        before, after = self.rounds[kind], self.rounds[kind] + 1
        text = self.deck.read_text()
        assert template.format(before) in text, template.format(before)
        self.deck.write_text(text.replace(template.format(before), template.format(after)))
        self.rounds[kind] = after
        return after, time.time()


def rebuilt(watcher: Watching, since: int) -> None:
    """Wait until the watcher has finished the rebuild a save started (a cell edit's later
    cells run on after the edited slide is shown)."""
    while not any(line.startswith("rebuilt ") for line in watcher.output[since:]):
        time.sleep(0.05)
    watcher.settle(quiet=0.2)


def measure(watcher: Watching, browser: Browser, edits: Edits, query: str, label: str) -> dict[str, float]:
    browser.open(f"{watcher.url}bench.html{query}#5")
    browser.wait("!!window.deckrunPreview && location.hash === '#5'")
    prose, cell, stream = [], [], []
    for _ in range(WARM_UP + ROUNDS):
        since = len(watcher.output)
        n, saved = edits.next("w", "The word is w{}.")
        _, painted = browser.wait(f"document.querySelector('svg.bespoke-marp-active').textContent.includes('w{n}.')")
        prose.append(painted - saved)
        rebuilt(watcher, since)
    prose = prose[WARM_UP:]
    browser.eval("location.hash = '#7'")
    for _ in range(ROUNDS):
        since = len(watcher.output)
        n, saved = edits.next("value", "print('value', {})")
        active = "document.querySelector('svg.bespoke-marp-active')"
        _, painted = browser.wait(f"{active}.textContent.includes('value {n}')")
        cell.append(painted - saved - COMPUTE)
        rebuilt(watcher, since)
    browser.eval("location.hash = '#9'")
    for _ in range(3):
        since = len(watcher.output)
        n, _ = edits.next("r", "'r{}'")
        printed, painted = browser.wait(
            "(() => { const m = document.body.textContent.match(/line 1 r%d (\\d+\\.\\d+)/);"
            " return m && Number(m[1]); })()" % n, timeout=60)
        stream.append(painted - printed)
        rebuilt(watcher, since)
    found = {"prose": statistics.median(prose), "cell": statistics.median(cell), "stream": statistics.median(stream)}
    print(f"  {label:<10} prose {found['prose']:.3f}s   cell edit minus compute {found['cell']:.3f}s   "
          f"first streamed line {found['stream']:.3f}s", flush=True)
    return found


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="deckrun-preview-bench-"))
    root = folder / "course"
    (root / "slides").mkdir(parents=True)
    shutil.copytree(REPO / "themes", root / "themes")
    (root / "slides" / "bench.md").write_text(DECK)
    watcher = Watching(root)
    try:
        with Browser() as browser:
            print(f"Save -> pixels in Chromium, a 10-slide deck open at slide 5, medians of {ROUNDS} saves "
                  f"after {WARM_UP} not counted (streaming: of 3), 2 cores:")
            edits = Edits(root)
            reload = measure(watcher, browser, edits, "?deckrun-reload", "reload")
            patch = measure(watcher, browser, edits, "", "in place")
    finally:
        watcher.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    for what, goal in (("prose", " (goal: at most 0.15 s)"), ("cell", ""), ("stream", "")):
        print(f"  {what:<7} in place / full reload: {patch[what] / reload[what]:.2f}x "
              f"({patch[what]:.3f}s vs {reload[what]:.3f}s){goal if what == 'prose' else ''}")


if __name__ == "__main__":
    main()

"""The watcher under a long editing session (issue: faults and security, "Soak").

Runs `build.py watch` on a copy of the test course and makes SAVES scripted saves in a
row, cycling through: a prose edit, a cell edit, a broken template, the fix, a cell that
raises, the fix. After every save it waits for the watcher's answer: a good save must be
served (reload event, then the page shows the edit), a broken one must be reported
(errors event). It prints the watcher's memory (its own and its children's: kernels,
Marp, the browser), its open files and its processes after a warm-up and at the end.

Goal: every good save served, memory growing by less than 50 MB, no file or process leak.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.course import make_course  # noqa: E402  (the tests' own helpers)
from helpers.serving import Watching  # noqa: E402

COUNTED = """# Counted

```python run
open("runs.log", "a").write("A\\n")
x = 1
```

```python run
open("runs.log", "a").write("B\\n")
print("B sees", x + 1)
```
"""

SAVES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
WARM_UP = 12


def usage(pid: int) -> dict[str, float]:
    """Memory (MB) of the watcher, of its kernels, and of Node + the browser it keeps
    open for checks (whose page processes come and go); its open files; its processes."""
    process = psutil.Process(pid)
    family = [process] + process.children(recursive=True)
    found = {"watcher": 0.0, "kernels": 0.0, "node+browser": 0.0}
    for member in family:
        try:
            rss = member.memory_info().rss / 2**20
            role = "watcher" if member.pid == pid else \
                "kernels" if "ipykernel" in " ".join(member.cmdline()) else "node+browser"
        except psutil.NoSuchProcess:
            continue
        found[role] += rss
    return {**found, "files": process.num_fds(), "processes": len(family)}


def describe(found: dict[str, float]) -> str:
    return (f"watcher {found['watcher']:.0f} MB, kernels {found['kernels']:.0f} MB, "
            f"node+browser {found['node+browser']:.0f} MB, {found['files']:.0f} open files, "
            f"{found['processes']:.0f} processes")


def main() -> None:
    root = make_course(Path(tempfile.mkdtemp(prefix="deckrun-soak-")) / "course")
    (root / "slides" / "counted.md").write_text(COUNTED)
    deck = root / "slides" / "counted.md"
    watching = Watching(root)
    original = deck.read_text()
    steps = [
        ("prose", lambda n: original.replace("# Counted", f"# Counted, save {n}"), "save {n}"),
        ("cell", lambda n: original.replace('print("B sees", x + 1)', f'print("B sees", x + {n})'), "B sees {x}"),
        ("broken", lambda n: original.replace("# Counted", "# Counted {% if %}"), None),
        ("fixed", lambda n: original.replace("# Counted", f"# Counted again {n}"), "again {n}"),
        ("raises", lambda n: original.replace('print("B sees", x + 1)', "print(undefined_name)"), None),
        ("fixed", lambda n: original.replace("# Counted", f"# Counted once more {n}"), "once more {n}"),
    ]
    served = failed_to_serve = reported = 0
    latencies: list[float] = []
    start_usage = None
    for n in range(1, SAVES + 1):
        kind, edit, shows = steps[(n - 1) % len(steps)]
        started = time.perf_counter()
        deck.write_text(edit(n))
        if shows is None:
            errors = watching.expect("errors", until=lambda data: "counted" in data)
            reported += bool(errors)
        else:
            expected = shows.format(n=n, x=1 + n)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                watching.expect("reload", until=lambda data: "counted" in data["decks"])
                if expected in watching.get("counted.html"):
                    served += 1
                    latencies.append(time.perf_counter() - started)
                    break
            else:
                failed_to_serve += 1
        if n == WARM_UP:
            start_usage = usage(watching.proc.pid)
        if n % 100 == 0:
            print(f"  {n} saves: {describe(usage(watching.proc.pid))}", flush=True)
    end_usage = usage(watching.proc.pid)
    watching.proc.terminate()
    watching.proc.wait(timeout=60)
    assert start_usage is not None
    good = sum(1 for n in range(1, SAVES + 1) if steps[(n - 1) % len(steps)][2] is not None)
    print(f"soak: {SAVES} saves ({good} good, {SAVES - good} broken), {served} good ones served, "
          f"{failed_to_serve} not, {reported} errors reported")
    print(f"  median save -> page served: {statistics.median(latencies):.2f} s")
    print(f"  after {WARM_UP} saves: {describe(start_usage)}")
    print(f"  after {SAVES} saves: {describe(end_usage)}")
    grown = {k: end_usage[k] - start_usage[k] for k in start_usage}
    print(f"  growth: watcher and kernels {grown['watcher'] + grown['kernels']:+.0f} MB (goal: under +50), "
          f"node+browser {grown['node+browser']:+.0f} MB, {grown['files']:+.0f} files, "
          f"{grown['processes']:+.0f} processes")


if __name__ == "__main__":
    main()

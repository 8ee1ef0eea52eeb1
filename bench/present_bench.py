"""Live cells while presenting Session 12, in a real browser, measured in one run on this
machine (a copy of the example course, its kernel warmed first):
  - Run -> pixels for the unchanged cell of slide 7 (attention.py#run: MiniLM's
    attention), the median of ROUNDS runs, minus the cell's own compute (what the kernel
    says it took); against the same run's floor: the same code sent to a bare Jupyter
    kernel of this environment (jupyter_client, execute -> idle), minus the same compute
  - every shown cell after the lecturer has run the deck's last one (its state is the
    furthest from theirs): what bringing a cell's state back costs beyond its compute,
    the worst cell and the median

    .venv/bin/python bench/present_bench.py
"""
from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.browser import Browser  # noqa: E402  (the tests' own helpers)
from helpers.live import READY, live, output, run_live, state  # noqa: E402
from helpers.serving import Watching  # noqa: E402

ROUNDS = 9
SLIDE_7 = "attention.py#run"


def course(folder: Path) -> Path:
    """Session 12 alone, with the committed cache: present builds nothing."""
    root = folder / "course"
    root.mkdir()
    for part in ("slides", "snippets", "data", "themes", "_freeze", "_assets"):
        if (REPO / part).exists():
            shutil.copytree(REPO / part, root / part)
    shutil.copy(REPO / "course.yaml", root)
    (root / "slides" / "session-11.md").unlink()
    return root


def timed_run(browser: Browser, cell: str) -> tuple[float, float]:
    """Run -> the frame showing its result, and the cell's own compute (seconds)."""
    ticket = live(browser, "ticket", cell)
    started = browser.eval("Date.now()") / 1000
    live(browser, "run", cell)
    _, painted = browser.wait(f"deckrunLive.ticket({json.dumps(cell)}) > {ticket} && {state(cell)} === 'done'", 600)
    pre = f"document.querySelector('[data-deckrun-cell={json.dumps(cell)}]')"
    seconds = float(browser.eval(f"{pre}.dataset.deckrunSeconds"))
    return painted - started, seconds


def bare_kernel(code: str, rounds: int) -> list[float]:
    """The same code in a bare kernel (set up first with the cell that loads the model):
    execute -> idle, minus what the kernel's own clock says the code took."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        client.execute_interactive("import sys\nsys.path.insert(0, 'snippets')\n" + SOURCES["load"], timeout=300)
        timed = f"import time as _t\n_s = _t.perf_counter()\n{code}\nprint('@took', _t.perf_counter() - _s)"
        overheads = []
        for _ in range(rounds):
            took: list[float] = []

            def hear(msg: dict) -> None:
                text = msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""
                took.extend(float(line.split()[1]) for line in text.splitlines() if line.startswith("@took"))

            started = time.perf_counter()
            client.execute_interactive(timed, timeout=300, output_hook=hear)
            overheads.append(time.perf_counter() - started - took[0])
        return overheads
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def snippet_cells(path: Path) -> dict[str, str]:
    cells, name, lines = {}, "", []
    for line in path.read_text().splitlines():
        if line.startswith("# %%"):
            if name:
                cells[name] = "\n".join(lines).strip()
            name, lines = line[4:].strip(), []
        else:
            lines.append(line)
    cells[name] = "\n".join(lines).strip()
    return cells


def main() -> None:
    global ROOT, SOURCES
    with tempfile.TemporaryDirectory() as folder:
        ROOT = course(Path(folder))
        SOURCES = snippet_cells(ROOT / "snippets" / "attention.py")
        with Watching(ROOT, command="present") as server, Browser() as browser:
            browser.open(server.url + "session-12.html#7")
            started = time.monotonic()
            browser.wait(READY, timeout=900)
            print(f"kernel warmed in {time.monotonic() - started:.1f} s (the deck's cells, once)")
            cells = live(browser, "cells")
            slide_7 = next(c for c in cells if "layers, each" in browser.eval(output(c)))
            runs = [timed_run(browser, slide_7) for _ in range(ROUNDS)]
            overhead = [total - compute for total, compute in runs]
            total = statistics.median(t for t, _ in runs)
            print(f"slide 7 ({SLIDE_7}), unchanged, warm: Run -> pixels {total * 1000:.0f} ms, "
                  f"its compute {statistics.median(c for _, c in runs) * 1000:.0f} ms, "
                  f"the rest {statistics.median(overhead) * 1000:.0f} ms (median of {ROUNDS})")
            jumps = {}
            for cell in cells:
                run_live(browser, cells[-1])  # the deck's last slide: the state furthest from the cell's
                browser.wait(f"{state(cells[-1])} !== 'running'", 600)
                total, compute = timed_run(browser, cell)
                jumps[cell] = total - compute
                live(browser, "reset", cell)
            worst = max(jumps, key=jumps.get)
            print(f"jumping back after the last slide: worst {worst} {jumps[worst] * 1000:.0f} ms beyond its compute, "
                  f"median {statistics.median(jumps.values()) * 1000:.0f} ms over {len(jumps)} cells")
        floor = bare_kernel(SOURCES["run"], ROUNDS)
        median = statistics.median(floor)
        print(f"floor: the same code on a bare kernel, execute -> idle beyond its compute: {median * 1000:.0f} ms; "
              f"present's Run -> pixels beyond compute is {statistics.median(overhead) / median:.1f}x that")


ROOT = Path()
SOURCES: dict[str, str] = {}

if __name__ == "__main__":
    main()

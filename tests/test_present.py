"""`deckrun present` in a real browser: a slide's code run again in the state of its own
slide (not of the deck's last), edits carried forward, in-place changes not made twice,
resets that win over late results, pages in step, a kernel killed and back, controls that
move nothing on the slide, input() and floods answered, nothing of the course written
(until an edit is kept), and the requests the server refuses."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time

import psutil
import pytest

from helpers.browser import Browser
from helpers.course import REPO, course_files, make_course, only_deck, page_token, run_build
from helpers.live import READY, cell_of, live, output, run_live, state, toolbar, wait_output
from helpers.serving import Watching, post

pytestmark = pytest.mark.slow  # a presenting server, its kernel, Marp and Chromium

DECK = """---
marp: true
theme: nmt-theme
paginate: true
---

# State, slide by slide

```python run
base = 40
items = []
model = ["translator"]
```

---

## Using it

```python run
print("answer", base + 2)
```

Closing words under the cell.

---

## Appending in place

```python run
items.append(len(items))
print("items", items)
```

---

## The first model

```python run
print("model", model[0])
```

---

## A sentence

```python run
sentence = "she reads"
print(sentence)
```

---

## The next slide uses it

```python run
print("next:", sentence.upper())
```

---

## Later, everything changes

```python run
model = ("classifier",)
base = 0
print("then", model[0], base)
```

---

## A slow one

```python run
#| timeout: 30
import time
print("B", 20)
```

---

<div class="columns">
<div>

```python run
print("in a column")
```

</div>
<div>

Text beside it.

</div>
</div>

---

## Side by side

```python run
#| output: right
print("right", 1)
```
"""
LINES = DECK.split("\n")
USES = cell_of(LINES, 'print("answer", base + 2)')
APPENDS = cell_of(LINES, "items.append(len(items))")
MODEL = cell_of(LINES, 'print("model", model[0])')
SENTENCE = cell_of(LINES, 'sentence = "she reads"')
NEXT = cell_of(LINES, 'print("next:", sentence.upper())')
SLOW = cell_of(LINES, "#| timeout: 30")
ACTIVE = "svg.bespoke-marp-active section"


@pytest.fixture(scope="module")
def presenting(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("present") / "course")
    only_deck(root, "live.md", DECK)
    assert run_build(root, "--html").returncode == 0
    before = course_files(root)
    with Watching(root, command="present") as server, Browser() as browser:
        browser.open(server.url + "live.html#2")
        browser.wait(READY, timeout=120)
        yield server, browser, before


@pytest.fixture
def page(presenting):
    """The presented page at slide 2, for one test: the cells it ran are reset after it."""
    server, browser, _ = presenting
    browser.eval("location.hash = '#2'")
    browser.wait("!!document.querySelector('svg.bespoke-marp-active section[id=\"2\"]')")
    yield browser
    for cell in live(browser, "cells"):
        if browser.eval(state(cell)) != "built":
            live(browser, "reset", cell)
    browser.wait("deckrunLive.cells().every(cell => deckrunLive.state(cell) === 'built')")


def test_an_earlier_slide_runs_in_its_own_state_not_the_decks_last(page):
    # The deck's last slides rebound `model` and `base`; slide 2 and 4 see theirs.
    for cell, built in ((USES, "answer 42"), (MODEL, "model translator")):
        assert built in page.eval(output(cell))
        run_live(page, cell)
        assert built in wait_output(page, cell, built)


def test_a_cell_that_changes_a_list_in_place_does_not_change_it_twice(page):
    for _ in range(3):
        run_live(page, APPENDS)
        page.wait(f"{state(APPENDS)} === 'running'")
        assert "items [0]" in wait_output(page, APPENDS, "items")
        assert "items [0, 1]" not in page.eval(output(APPENDS))


def test_an_edit_carries_forward_to_the_next_slide(page):
    run_live(page, SENTENCE, 'sentence = "he writes"\nprint(sentence)')
    wait_output(page, SENTENCE, "he writes")
    run_live(page, NEXT)
    assert "next: HE WRITES" in wait_output(page, NEXT, "next:")
    live(page, "reset", SENTENCE)  # the built code again: the next slide sees the built sentence
    run_live(page, NEXT)
    page.wait(f"{state(NEXT)} === 'running'")
    assert "next: SHE READS" in wait_output(page, NEXT, "next:")


def test_an_error_shows_as_an_error_and_b_brings_the_built_output_back(page):
    run_live(page, USES, "print(base / 0)")
    wait_output(page, USES, "ZeroDivisionError")
    assert page.eval(f"{state(USES)} === 'failed'")
    assert "B: the built output back" in page.eval(f"{toolbar(USES)}.textContent")
    page.eval("document.activeElement.blur(), true")
    page.press("b")
    page.wait(f"{state(USES)} === 'built' && {output(USES)}.includes('answer 42')")
    run_live(page, USES, 'print("answer", base - 1)')
    wait_output(page, USES, "answer 39")


def test_reset_wins_over_a_result_still_on_its_way(page):
    run_live(page, SLOW, 'import time\ntime.sleep(1.5)\nprint("again", 11)')
    page.wait(f"{state(SLOW)} === 'running'")
    live(page, "reset", SLOW)
    time.sleep(3)  # the run ends meanwhile: its result shows nothing
    assert page.eval(state(SLOW)) == "built"
    text = page.eval(output(SLOW))
    assert "B 20" in text and "again" not in text


def test_a_cell_that_never_ends_streams_and_is_stopped(page):
    run_live(page, SLOW, 'print("looping", flush=True)\nwhile True:\n    pass')
    page.wait(f"{output(SLOW)}.includes('looping')")  # its output streams while it runs
    live(page, "stop", SLOW)
    assert "KeyboardInterrupt" in wait_output(page, SLOW, "KeyboardInterrupt", timeout=30)
    run_live(page, SLOW, 'print("after", base)')
    wait_output(page, SLOW, "after 0", timeout=30)  # (slide 7 set base to 0)


def test_a_flood_of_output_is_bounded_and_stays_on_its_slide(page):
    page.eval("location.hash = '#8'")
    run_live(page, SLOW, 'import itertools\nfor n in itertools.count():\n    print("line", n)')
    page.wait(f"+(/line (\\d+)\\s*$/.exec({output(SLOW)}) || [0, 0])[1] > 5000", timeout=60)
    shown = page.eval(output(SLOW)).strip().split("\n")
    assert len(shown) <= 200 and shown[-1].startswith("line")  # its last lines
    slide = page.eval("(() => { const s = document.querySelector('svg.bespoke-marp-active section');"
                      " const box = s.getBoundingClientRect();"
                      " return [...s.querySelectorAll('*')]"
                      ".every(e => e.getBoundingClientRect().bottom <= box.bottom + 1) })()")
    assert slide
    live(page, "stop", SLOW)
    wait_output(page, SLOW, "KeyboardInterrupt", timeout=30)


def test_input_is_answered_with_an_error_not_a_hang(page):
    run_live(page, SLOW, 'name = input("Your name? ")\nprint("hello", name)')
    assert "StdinNotImplementedError" in wait_output(page, SLOW, "StdinNotImplementedError", timeout=30)
    status = page.eval(f"{toolbar(SLOW)}.querySelector('[data-deckrun-status]').title")
    assert "input() cannot be answered" in status and "write the value into the code" in status


def test_a_huge_figure_is_scaled_to_its_slide(page):
    page.eval("location.hash = '#8'")
    run_live(page, SLOW, "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(16, 16))\nplt.plot([1, 2, 3])")
    page.wait(f"{state(SLOW)} === 'done' && !!document.querySelector('{ACTIVE} img')", timeout=60)
    fits = page.eval(f"(() => {{ const s = document.querySelector('{ACTIVE}').getBoundingClientRect();"
                     f" const i = document.querySelector('{ACTIVE} img').getBoundingClientRect();"
                     " return i.bottom <= s.bottom + 1 && i.right <= s.right + 1 && i.height > 50 })()")
    assert fits


BOXES = """(() => [...document.querySelectorAll('section')].map(section => {
  const top = section.getBoundingClientRect()
  return [...section.querySelectorAll('*')].filter(el => !el.closest('[data-deckrun-toolbar]')).map(el => {
    const box = el.getBoundingClientRect()
    return [el.tagName.toLowerCase().replace('marp-pre', 'pre'),
            Math.round(box.left - top.left), Math.round(box.top - top.top),
            Math.round(box.width), Math.round(box.height)].join(' ')
  })
}))()"""


def test_the_controls_move_nothing_on_the_slides(presenting, page):
    server, _, _ = presenting
    with Browser() as built:
        built.open((server.root / "build" / "live.html").as_uri())
        expected = [built_slide(built, number) for number in range(1, 11)]
    for number, slide in enumerate(expected, start=1):
        page.eval(f"location.hash = '#{number}'")
        time.sleep(0.2)
        page.hover("svg.bespoke-marp-active section > :not(marp-pre)")  # (the mouse off the cells)
        if number == 2:
            page.hover(f'[data-deckrun-cell="{USES}"]')  # its controls show
            assert page.eval(f"getComputedStyle({toolbar(USES)}).display") == "flex"
        assert active_boxes(page) == slide, f"slide {number}"


def built_slide(browser: Browser, number: int) -> list[str]:
    browser.eval(f"location.hash = '#{number}'")
    time.sleep(0.2)
    return active_boxes(browser)


def active_boxes(browser: Browser) -> list[str]:
    return browser.eval(BOXES.replace("document.querySelectorAll('section')",
                                      "document.querySelectorAll('svg.bespoke-marp-active section')"))[0]


def test_two_windows_are_in_step(presenting, page):
    server, _, _ = presenting
    with Browser() as other:
        other.open(server.url + "live.html?view=presenter#2")
        other.wait(READY, timeout=60)
        live(page, "setCode", USES, 'print("typed", base)')  # typed in one window
        other.wait(f"document.querySelector('[data-deckrun-cell=\"{USES}\"] code').textContent.includes('typed')")
        live(page, "run", USES)
        assert "typed 40" in wait_output(other, USES, "typed 40")  # run in one, shown in both
        live(other, "reset", USES)                                   # reset in the other
        page.wait(f"{state(USES)} === 'built' && {output(USES)}.includes('answer 42')")
        assert "typed" not in page.eval(f"document.querySelector('[data-deckrun-cell=\"{USES}\"] code').textContent")


def test_only_the_pages_own_requests_run_only_the_decks_cells(presenting):
    server, browser, _ = presenting
    token = page_token(browser.eval("document.documentElement.outerHTML"))
    ask = {"deck": "live", "cell": USES, "code": "print('from elsewhere')"}
    assert post(server.url, "/_deckrun/run", ask, None)[0] == 403
    assert post(server.url, "/_deckrun/run", ask, "guess")[0] == 403
    assert post(server.url, "/_deckrun/run", ask, token, host="attacker.example")[0] == 403
    assert post(server.url, "/_deckrun/run", {**ask, "cell": "slides/live.md:1"}, token)[0] == 422  # not a cell
    assert post(server.url, "/_deckrun/run", {**ask, "deck": "other"}, token)[0] == 422
    assert post(server.url, "/_deckrun/reset", {"deck": "live", "cell": USES}, token)[0] == 202


def test_nothing_of_the_course_changed(presenting, page):
    server, _, before = presenting
    run_live(page, USES, 'print("not kept")')
    wait_output(page, USES, "not kept")
    after = course_files(server.root)  # slides/, snippets/, _freeze/, build/ (but where the preview is)
    changed = [name for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]
    assert changed == ["build/.preview.json"]


KILLED = """# Killed

```python run
base = 40
```

---

## Uses it

```python run
print("answer", base + 2)
```
"""


def test_a_killed_kernel_comes_back_with_the_slides_state(tmp_path):
    root = make_course(tmp_path / "course")
    only_deck(root, "live.md", KILLED)
    uses = cell_of(KILLED.split("\n"), 'print("answer", base + 2)')
    with Watching(root, command="present") as server, Browser() as page:
        page.open(server.url + "live.html#2")
        page.wait(READY, timeout=120)
        run_live(page, uses, 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)')
        page.wait(f"{output(uses)}.includes('sleeping')")
        kernels = [p for p in psutil.Process(server.proc.pid).children(recursive=True)
                   if "ipykernel" in " ".join(p.cmdline())]
        assert len(kernels) == 1
        os.kill(kernels[0].pid, signal.SIGKILL)
        assert "KernelDied" in wait_output(page, uses, "KernelDied", timeout=60)
        page.wait("(document.querySelector('[data-deckrun-kernel]')?.title || '').startsWith('ready')", timeout=120)
        run_live(page, uses, 'print("answer", base + 2)')  # the state of its slide is back
        assert "answer 42" in wait_output(page, uses, "answer 42", timeout=60)


TWO = """# Deck {name}

```python run
import os
print("{name} runs in", os.getpid())
```
"""


def test_two_decks_presented_at_once_keep_their_own_kernels(tmp_path):
    root = make_course(tmp_path / "course")
    only_deck(root, "one.md", TWO.format(name="one"))
    (root / "slides" / "two.md").write_text(TWO.format(name="two"))
    cells = {name: f"slides/{name}.md:3" for name in ("one", "two")}
    with Watching(root, command="present") as server, Browser() as one, Browser() as two:
        pids = {}
        for name, page in (("one", one), ("two", two)):
            page.open(server.url + f"{name}.html")
            page.wait(READY, timeout=120)
        for name, page in (("one", one), ("two", two)):
            run_live(page, cells[name])
        for name, page in (("one", one), ("two", two)):
            pids[name] = wait_output(page, cells[name], "runs in").split()[-1]
        assert pids["one"] != pids["two"]


SAFE = """# Safe

```python run
print("built output")
```
"""


def test_safe_keeps_a_failure_off_the_projected_slide(tmp_path):
    root = make_course(tmp_path / "course")
    only_deck(root, "live.md", SAFE)
    cell = cell_of(SAFE.split("\n"), 'print("built output")')
    with Watching(root, "--safe", command="present") as server, Browser() as projected, Browser() as presenter:
        projected.open(server.url + "live.html")
        presenter.open(server.url + "live.html?view=presenter")
        presenter.wait(READY, timeout=120)
        run_live(presenter, cell, "raise ValueError('oops')")
        assert "ValueError" in wait_output(presenter, cell, "ValueError")  # the lecturer sees why
        projected.wait(f"{state(cell)} === 'failed'")
        assert "built output" in projected.eval(output(cell)) and "oops" not in projected.eval(output(cell))
        run_live(presenter, cell, 'print("fixed")')
        assert "fixed" in wait_output(projected, cell, "fixed")  # a good run shows everywhere


def test_a_kept_edit_is_written_back_and_built_as_a_save(tmp_path):
    root = make_course(tmp_path / "course")
    only_deck(root, "live.md", KILLED)
    uses = cell_of(KILLED.split("\n"), 'print("answer", base + 2)')
    with Watching(root, command="present") as server, Browser() as page:
        page.open(server.url + "live.html#2")
        page.wait(READY, timeout=120)
        live(page, "setCode", uses, 'print("answer", base * 2)')
        live(page, "keep", uses)
        page.wait(f"{output(uses)}.includes('answer 80') && {state(uses)} === 'built'", timeout=90)  # rebuilt, patched
        assert 'print("answer", base * 2)' in (root / "slides" / "live.md").read_text()
        status = run_build(root, "status")
        assert "2 cells, 2 cached, 0 stale" in status.stdout, status.stdout  # the cache took the kept edit


def test_every_cell_of_session_12_run_live_in_any_order_shows_what_its_slide_shows(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    for part in ("slides", "snippets", "data", "themes", "_freeze", "course.yaml"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
    (root / "slides" / "session-11.md").unlink()
    with Watching(root, command="present") as server, Browser() as page:
        page.open(server.url + "session-12.html")
        page.wait(READY, timeout=600)
        cells = live(page, "cells")
        built = {cell: " ".join(page.eval(output(cell)).split()) for cell in cells}
        figures = {cell: page.eval(FIGURES % json.dumps(cell)) for cell in cells}
        order = cells[:]
        random.Random(time.time_ns()).shuffle(order)  # (the order is said if it fails)
        for cell in order:
            run_live(page, cell)
            page.wait(f"{state(cell)} !== 'running'", timeout=300)
            assert page.eval(state(cell)) == "done", (cell, order, page.eval(output(cell)))
            assert " ".join(page.eval(output(cell)).split()) == built[cell], (cell, order)
            assert page.eval(FIGURES % json.dumps(cell)) == figures[cell], (cell, order)


FIGURES = """(() => { const parts = deckrunCells.partsOf(%s)
  return deckrunCells.between(parts.outputs, parts.end).filter(node => node.nodeType === 1)
    .reduce((count, node) =>
      count + node.querySelectorAll('img, iframe').length + (node.matches('img, iframe') ? 1 : 0), 0) })()"""

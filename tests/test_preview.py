"""The live preview in a real browser (Chromium through puppeteer-core): saves patch the
open page in place, the view follows the edits (or stays, pinned, or on the same slide
when one is inserted above), an editor can ask for the slide of a line, a running cell's
output streams onto its slide, and errors show over the deck until fixed."""
from __future__ import annotations

import json
import time

import pytest

from helpers.browser import Browser
from helpers.course import make_course, only_deck, run_build
from helpers.serving import Watching, post

pytestmark = pytest.mark.slow  # a watcher, its kernels, Marp and Chromium

SLIDES = ["# Title slide", "## Second slide\n\nAlpha text.", "## Third slide\n\nBravo text.",
          "## Fourth slide\n\nCharlie text.", "## Fifth slide\n\nDelta text."]
DECK = "---\nmarp: true\ntheme: nmt-theme\npaginate: true\n---\n\n" + "\n\n---\n\n".join(SLIDES) + """

---

## Counting

```python run
import time
for n in range(1, 4):
    print("tick", n, flush=True)
    time.sleep(0.8)
```
"""


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("preview") / "course")
    only_deck(root, "live.md", DECK)
    watcher = Watching(root)
    with Browser() as browser:
        yield watcher, browser
    if watcher.proc.poll() is None:
        watcher.proc.kill()


@pytest.fixture
def page(preview):
    """The deck open on its third slide, following edits; the deck as it was after."""
    watcher, browser = preview
    browser.open("about:blank")  # (from the last test's page, only the hash would change: no new page)
    browser.open(watcher.url + "live.html#3")
    browser.wait("window.deckrunPreview && location.hash === '#3'")
    browser.eval("sessionStorage.clear(); window.keptValue = 42")
    yield watcher, browser
    watcher.restore()


def shown(browser: Browser) -> int:
    """The slide on screen (1-based), as Marp's navigation has it."""
    return browser.eval("Number(location.hash.slice(1) || 1)")


def active_text(browser: Browser) -> str:
    return browser.eval("document.querySelector('svg.bespoke-marp-active').textContent")


def test_a_prose_edit_is_patched_in_place(page):
    watcher, browser = page
    watcher.edit("slides/live.md", "Bravo text.", "Bravo text, edited.")
    browser.wait("document.body.textContent.includes('Bravo text, edited.')")
    assert browser.eval("window.keptValue") == 42  # the page was not reloaded
    assert browser.eval("window.deckrunPreview.reloads") == 0 and browser.eval("window.deckrunPreview.patched") >= 1
    assert shown(browser) == 3 and "Bravo text, edited." in active_text(browser)


def test_the_view_follows_an_edit_on_another_slide_unless_pinned(page):
    watcher, browser = page
    watcher.edit("slides/live.md", "Delta text.", "Delta text, edited.")
    browser.wait("location.hash === '#5'")
    assert "Delta text, edited." in active_text(browser)
    browser.click("[data-deckrun-pinned]")
    assert browser.eval("document.querySelector('[data-deckrun-pinned]').dataset.deckrunPinned") == "1"
    watcher.edit("slides/live.md", "Alpha text.", "Alpha text, edited.")
    browser.wait("document.body.textContent.includes('Alpha text, edited.')")
    assert shown(browser) == 5  # pinned: it stays


def test_a_slide_inserted_above_keeps_the_same_slide_in_view(page):
    watcher, browser = page
    watcher.edit("slides/live.md", "## Second slide", "## A new slide\n\nNew text.\n\n---\n\n## Second slide")
    browser.wait("location.hash === '#4' && document.body.textContent.includes('New text.')")
    assert "Bravo text." in active_text(browser)  # the third slide's content, now the fourth


def test_an_error_shows_over_the_deck_and_goes_when_fixed(page):
    watcher, browser = page
    watcher.edit("slides/live.md", "## Third slide", "## Third slide {{ course.nothing_here }}")
    message, _ = browser.wait("document.querySelector('[data-deckrun-errors]').style.display === 'block'"
                              " && document.querySelector('[data-deckrun-errors]').textContent")
    assert "slides/live.md" in message and "nothing_here" in message
    watcher.edit("slides/live.md", "## Third slide {{ course.nothing_here }}", "## Third slide")
    browser.wait("document.querySelector('[data-deckrun-errors]').style.display === 'none'")
    assert browser.eval("window.keptValue") == 42


def test_an_editor_shows_the_slide_of_its_cursor_line(page):
    watcher, browser = page
    line = DECK.split("\n").index("Charlie text.") + 1
    preview = json.loads((watcher.root / "build" / ".preview.json").read_text())
    assert (watcher.root / "build" / ".preview.json").stat().st_mode & 0o077 == 0  # it holds the token
    path = f"/_deckrun/goto?file=slides/live.md&line={line}"
    assert post(watcher.url, path, None, None)[0] == 403                       # no token
    assert post(watcher.url, path, None, "guess")[0] == 403                    # a wrong one
    assert post(watcher.url, path, None, preview["token"], host="evil.example:80")[0] == 403  # DNS rebinding
    assert post(watcher.url, "/_deckrun/goto?file=slides/live.md&line=x", None, preview["token"])[0] == 400
    assert post(watcher.url, path, None, preview["token"])[0] == 204
    browser.wait("location.hash === '#4'")
    counted = DECK.split("\n").index('    print("tick", n, flush=True)') + 1
    proc = run_build(watcher.root, "goto", f"slides/live.md:{counted}")  # as the VS Code task calls it
    assert proc.returncode == 0, proc.stderr
    browser.wait("location.hash === '#6'")
    assert run_build(watcher.root, "goto", "slides/live.md:x").returncode == 1


def test_a_running_cells_output_streams_onto_its_slide(page):
    watcher, browser = page
    browser.eval("location.hash = '#6'")
    watcher.edit("slides/live.md", 'print("tick", n, flush=True)', 'print("tock", n, flush=True)')
    browser.wait("!!document.querySelector('[data-deckrun-live=\"mark\"]')")
    _, first = browser.wait("(document.querySelector('[data-deckrun-live=\"stream\"]') || {}).textContent"
                            " === 'tock 1\\n'")
    _, third = browser.wait("(document.querySelector('[data-deckrun-live=\"stream\"]') || {}).textContent"
                            " === 'tock 1\\ntock 2\\ntock 3\\n'")
    assert third - first > 1.2  # they came as they were printed, 0.8 s apart
    browser.wait("!document.querySelector('[data-deckrun-live]') && document.body.textContent.includes('tock 3')")
    assert browser.eval("window.keptValue") == 42  # the final output replaced the stream, in place
    assert time.time() - third < 30

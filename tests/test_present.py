"""`build.py present` in a real browser: a slide's code edited and run again in the deck's
warm kernel, errors, a reset, a cell that never ends, nothing of the course written (until
an edit is kept), and the requests the server refuses."""
from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path

import pytest

from conftest import make_course, page_token, run_build
from test_watch import Watching

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from browser import Browser  # noqa: E402

pytestmark = pytest.mark.slow  # a presenting server, its kernel, Marp and Chromium

DECK = """---
marp: true
theme: nmt-theme
---

# A model, loaded once

```python run
base = 40  # the state later slides need (a model, in a real deck)
```

---

## Using it

```python run
print("answer", base + 2)
```

---

## A long one

```python run
#| timeout: 2
print("quick")
```
"""
LINES = DECK.split("\n")
USES = "slides/live.md:%d" % LINES.index('print("answer", base + 2)')  # a cell is named by its fence's line
LONG = "slides/live.md:%d" % LINES.index("#| timeout: 2")


def cell(name: str, part: str) -> str:
    return f'document.querySelector(\'[data-deckrun-cell="{name}"] [data-deckrun-{part}]\')'


def output(name: str) -> str:
    return f"(({cell(name, 'output')} || {{}}).textContent || '')"


def course_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for folder in ("slides", "snippets", "_freeze", "build")
            for p in (root / folder).rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def presenting(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("present") / "course")
    for deck in (root / "slides").glob("*.md"):
        deck.unlink()
    (root / "slides" / "live.md").write_text(DECK)
    assert run_build(root, "--html").returncode == 0
    before = course_files(root)
    server = Watching(root, command="present")
    with Browser() as browser:
        browser.open(server.url + "live.html#2")
        browser.wait("document.querySelector('[data-deckrun-kernel]')?.dataset.deckrunKernel === 'ready'", timeout=120)
        yield server, browser, before
    if server.proc.poll() is None:
        server.proc.kill()


def run_live(browser: Browser, name: str, code: str) -> None:
    browser.eval(f"{cell(name, 'code')}.textContent = {json.dumps(code)}")
    browser.click(f'[data-deckrun-cell="{name}"] [data-deckrun-run]')


def test_a_live_edit_runs_in_the_warm_kernel_with_the_state_of_earlier_slides(presenting):
    _, browser, _ = presenting
    assert "answer 42" in browser.eval(output(USES))
    run_live(browser, USES, 'print("answer", base + 5)')
    text, _ = browser.wait(f"{output(USES)}.includes('answer 45') && {output(USES)}")
    assert "answer 42" not in text
    assert browser.eval(f"!!{cell(USES, 'output')}.querySelector('code.language-output')")  # styled as outputs are


def test_an_error_shows_as_an_error_then_a_good_run_works(presenting):
    _, browser, _ = presenting
    run_live(browser, USES, "print(base / 0)")
    browser.wait(f"{output(USES)}.includes('ZeroDivisionError')")
    assert browser.eval(f"!!{cell(USES, 'output')}.querySelector('.cell-error, code.language-error')")
    run_live(browser, USES, 'print("answer", base - 1)')
    browser.wait(f"{output(USES)}.includes('answer 39')")


def test_reset_brings_back_the_built_code_and_output(presenting):
    _, browser, _ = presenting
    run_live(browser, USES, 'print("answer", 0)')
    browser.wait(f"{output(USES)}.includes('answer 0')")
    browser.click(f'[data-deckrun-cell="{USES}"] [data-deckrun-reset]')
    assert browser.eval(f"{cell(USES, 'code')}.textContent").strip() == 'print("answer", base + 2)'
    assert "answer 42" in browser.eval(output(USES))


def test_a_cell_that_never_ends_is_stopped_and_the_next_run_works(presenting):
    _, browser, _ = presenting
    browser.eval("location.hash = '#3'")
    run_live(browser, LONG, 'print("looping", flush=True)\nwhile True:\n    pass')
    browser.wait(f"{output(LONG)}.includes('looping')")  # its output streams while it runs
    browser.wait(f"{output(LONG)}.includes('TimeoutError')", timeout=30)
    run_live(browser, LONG, 'print("after", base)')
    browser.wait(f"{output(LONG)}.includes('after 40')", timeout=30)


def post(url: str, path: str, body: dict, token: str | None, host: str | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")), timeout=10)
    headers = {"Content-Type": "application/json", **({"X-Deckrun-Token": token} if token else {})}
    if host:
        headers["Host"] = host
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    return connection.getresponse().status


def test_only_the_pages_own_requests_run_only_the_decks_cells(presenting):
    server, browser, _ = presenting
    token = page_token(browser.eval("document.documentElement.outerHTML"))
    ask = {"deck": "live", "cell": USES, "code": "print('from elsewhere')"}
    assert post(server.url, "/_deckrun/run", ask, None) == 403
    assert post(server.url, "/_deckrun/run", ask, "guess") == 403
    assert post(server.url, "/_deckrun/run", ask, token, host="attacker.example") == 403
    assert post(server.url, "/_deckrun/run", {**ask, "cell": "slides/live.md:1"}, token) == 422  # not a cell
    assert post(server.url, "/_deckrun/run", {**ask, "deck": "other"}, token) == 422
    assert post(server.url, "/_deckrun/run", ask, token) == 202


def test_nothing_of_the_course_changed(presenting):
    server, _, before = presenting
    assert course_files(server.root) == before  # slides/, snippets/, _freeze/, build/


def test_a_kept_edit_is_written_back_and_built_as_a_save(presenting):
    server, browser, _ = presenting
    browser.eval("location.hash = '#2'")
    browser.eval(f"{cell(USES, 'code')}.textContent = 'print(\"answer\", base * 2)'")
    browser.click(f'[data-deckrun-cell="{USES}"] [data-deckrun-keep]')
    browser.wait(f"{output(USES)}.includes('answer 80')", timeout=60)  # the deck rebuilt, the page patched
    assert 'print("answer", base * 2)' in (server.root / "slides" / "live.md").read_text()
    status = run_build(server.root, "status")
    assert "3 cells, 3 cached, 0 stale" in status.stdout, status.stdout  # the cache took the kept edit

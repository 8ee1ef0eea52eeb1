"""A real watcher in a subprocess: edits, reload events, errors and recovery, warm kernels."""
from __future__ import annotations

import re
import signal
import time
import urllib.error
import urllib.request

import psutil
import pytest

from helpers.course import make_course, page_token, run_build, still_running
from helpers.serving import Watching

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

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


# A later cell rebinds a name an earlier one set: the warm kernel's value is not the one
# a rerun of the middle cell needs, but it kept the old one aside (no reload of "load").
REBOUND = """# Rebound

```python run
open("loads.log", "a").write("load\\n")
model = ["translator"]
```

```python run
model.append("tuned")
```

```python run
sentence = "she reads"
print(model, "->", sentence)
```

```python run
model = "classifier"
print("then", model)
```
"""


SLOW = """# Slow

```python run
print("first", 1)
```

```python run
import time
time.sleep(5)
print("slept")
```
"""


@pytest.fixture(scope="module")
def watcher(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("watch") / "course")
    (root / "slides" / "counted.md").write_text(COUNTED)
    (root / "slides" / "slow.md").write_text(SLOW)
    (root / "slides" / "rebound.md").write_text(REBOUND)
    watcher = Watching(root)
    watcher.first_runs = watcher.runs()
    watcher.first_outputs = {path.name for path in (root / "build").iterdir()}
    yield watcher
    if watcher.proc.poll() is None:
        watcher.proc.kill()


@pytest.fixture
def watching(watcher):
    """The module's watcher, for one test: what the test edits is put back after it."""
    watcher.runs()
    yield watcher
    watcher.restore()


def test_first_build_and_serving(watching):
    assert watching.first_runs == ["A", "B"]
    page = watching.get("second.html")
    assert "EventSource" in page and "45" in page  # sum(range(10)), and the reload script
    assert "second.html" in watching.get("")        # an index of the decks
    assert "second.html" in watching.first_outputs
    assert "second.pdf" not in watching.first_outputs  # HTML only while watching (a later test asks for one)


def test_a_prose_edit_reloads_its_deck_and_runs_nothing(watching):
    watching.edit("slides/second.md", "# Second deck", "# Second deck, edited")
    assert watching.expect("reload")["decks"] == ["second"]
    assert "Second deck, edited" in watching.get("second.html")
    assert watching.runs() == []


def test_a_snippet_edit_rebuilds_the_decks_using_it(watching):
    watching.edit("snippets/examples.py", 'print("value", v)', 'print("value is", v)')
    assert watching.expect("reload")["decks"] == ["main"]
    assert "value is 3" in (watching.root / "build" / "main.md").read_text()


def test_a_theme_edit_reloads_every_deck(watching):
    # (a colour would also draw the figures again in the new look: the decks would come one by one)
    watching.edit("themes/nmt-theme.css", "  font-size: 28px;\n", "  font-size: 28.5px;\n")
    assert set(watching.expect("reload")["decks"]) == {"counted", "main", "options", "rebound", "second", "slow"}
    assert "28.5px" in watching.get("main.html")


def test_an_edited_cell_reruns_in_the_warm_kernel(watching):
    watching.edit("slides/counted.md", 'print("B sees", x + 1)', 'print("B now sees", x + 2)')
    assert watching.expect("reload")["decks"] == ["counted"]
    assert watching.runs() == ["B"]  # A's state is still in the kernel: not replayed
    assert "B now sees 3" in (watching.root / "build" / "counted.md").read_text()


def test_a_rerun_finds_the_state_of_its_place_in_the_deck(watching):
    loads = watching.root / "loads.log"
    watching.settle()
    before = loads.read_text()
    for old, new in (("she reads", "he writes"), ("he writes", "they read")):
        watching.edit("slides/rebound.md", f'sentence = "{old}"', f'sentence = "{new}"')
        watching.expect("reload", until=lambda data: "rebound" in data["decks"])
        watching.settle()
        built = (watching.root / "build" / "rebound.md").read_text()
        assert f"['translator', 'tuned'] -> {new}" in built and "then classifier" in built
    assert loads.read_text() == before  # the kernel put the kept model back: nothing reloaded


def test_an_edited_cell_is_shown_before_the_slow_cells_after_it(watching):
    watching.edit("slides/slow.md", 'print("first", 1)', 'print("first", 2)')
    started = time.monotonic()
    watching.expect("reload", until=lambda data: "slow" in data["decks"])
    first = watching.get("slow.html")
    assert time.monotonic() - started < 4            # the 5 s cell after it is still running
    assert "first 2" in first and "updating: the output of the last run" in first and "slept" in first
    watching.expect("reload", until=lambda data: "slow" in data["decks"])
    done = watching.get("slow.html")
    assert "first 2" in done and "slept" in done and "updating: the output of the last run" not in done


def test_mistakes_show_an_error_and_a_good_save_recovers(watching):
    good = watching.get("second.html")
    watching.edit("slides/second.md", "# Second deck", "# Second {% if %}")
    errors = watching.expect("errors")
    assert "slides/second.md:6: template syntax error" in errors["second"]
    assert watching.get("second.html") == good  # the last good deck stays
    watching.edit("slides/second.md", "# Second {% if %}", "# Second deck")
    watching.edit("slides/second.md", "print(sum(range(10)))", "print(undefined_name)")
    assert "cell raised NameError" in watching.expect("errors")["second"]
    watching.edit("slides/second.md", "print(undefined_name)", "print(sum(range(10)))")
    assert watching.expect("errors") == {}
    assert watching.expect("reload")["decks"] == ["second"]


def test_a_broken_partial_is_retried_when_fixed(watching):
    partial = "slides/partials/closing.md"
    watching.edit(partial, "## Questions?", "## Questions? {{ course.")
    error = watching.expect("errors")["main"]
    assert "slides/partials/closing.md:" in error and "template syntax error" in error
    watching.edit(partial, "## Questions? {{ course.", "## Any questions?")
    assert watching.expect("errors") == {}
    assert watching.expect("reload")["decks"] == ["main"]
    assert "Any questions?" in watching.get("main.html")


def test_an_overflowing_slide_is_shown_as_a_warning(watching):
    bullets = "\n".join(f"- point {n}" for n in range(40))
    watching.edit("slides/second.md", "# Second deck", f"# Second deck\n\n{bullets}")
    warnings = watching.expect("warnings", until=lambda data: "second" in data)
    assert re.search(r"slides/second.md slide 1 \(line \d+\): list overflows by \d+px", warnings["second"])
    watching.edit("slides/second.md", f"# Second deck\n\n{bullets}", "# Second deck")
    watching.expect("warnings", until=lambda data: "second" not in data)


def test_a_dead_kernel_is_restarted_and_the_deck_rebuilt(watching):
    (watching.root / "died").unlink(missing_ok=True)
    watching.edit("slides/second.md", "print(sum(range(10)))",
                  'import os\nif not os.path.exists("died"):\n    open("died", "w").close()\n'
                  '    os._exit(1)\nprint("survived")')
    assert watching.expect("reload")["decks"] == ["second"]
    assert "kernel died: restarting it and rebuilding" in "\n".join(watching.output)
    assert "survived" in (watching.root / "build" / "second.md").read_text()


def test_a_one_off_build_while_watching(watching):
    proc = run_build(watching.root, "slides/second.md", "--html")
    assert proc.returncode == 0, proc.stderr
    assert "built by the running preview" in proc.stdout and "1 deck built" in proc.stdout  # warm, there
    alone = run_build(watching.root, "slides/second.md", "--html", "--jobs", "1")  # (not the watch's to say)
    assert alone.returncode == 0 and "nothing changed since the last build" in alone.stdout  # the watch's counted
    watching.edit("slides/second.md", "# Second deck", "# Second deck (after a build)")
    assert watching.expect("reload", until=lambda data: "second" in data["decks"])
    assert "(after a build)" in watching.get("second.html")
    watching.edit("slides/second.md", "# Second deck (after a build)", "# Second deck")


def test_a_build_finds_a_preview_gone_and_builds_on_its_own(course):
    (course / "build").mkdir()
    (course / "build" / ".preview.json").write_text('{"url": "http://127.0.0.1:9/", "token": "left behind"}')
    proc = run_build(course, "slides/second.md", "--html")  # (a preview killed without its teardown)
    assert proc.returncode == 0, proc.stderr
    assert "built by" not in proc.stdout and (course / "build" / "second.html").exists()


def test_a_pdf_on_request_from_the_page(watching):
    token = page_token(watching.get("second.html"))
    request = urllib.request.Request(watching.url + "_deckrun/pdf/second", method="POST",
                                     headers={"X-Deckrun-Token": token})
    with urllib.request.urlopen(request) as response:
        assert response.url.endswith("/second.pdf")
        assert response.read().startswith(b"%PDF-")
    with pytest.raises(urllib.error.HTTPError) as refused:  # a GET any page could send starts nothing
        urllib.request.urlopen(watching.url + "_deckrun/pdf/second")
    assert refused.value.code == 404


def test_stopping_leaves_no_process_behind(course):
    for deck in (course / "slides").glob("*.md"):
        if deck.name != "second.md":
            deck.unlink()
    own = Watching(course)
    started = psutil.Process(own.proc.pid).children(recursive=True)
    assert started  # the kernels and the Marp worker
    own.proc.send_signal(signal.SIGINT)
    assert own.proc.wait(timeout=60) == 0
    time.sleep(0.5)
    assert still_running(started) == []
    assert "stopped" in "\n".join(own.output)

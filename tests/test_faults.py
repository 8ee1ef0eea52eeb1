"""The fault matrix: every mistake and mishap answered with a clear message, the right
exit code, in bounded time, and nothing already built or cached lost or half-written."""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from helpers.course import REPO, has_kernel_child, make_course, only_deck, run_build, still_running

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

GOOD = "# A good deck\n\n```python run\nprint('good output')\n```\n"


def write(course: Path, name: str, text: str | bytes) -> None:
    path = course / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def snapshot(course: Path) -> dict[str, bytes]:
    """Every file of build/ and _freeze/ (stamps, compiled templates and locks aside)."""
    return {str(p.relative_to(course)): p.read_bytes() for folder in ("build", "_freeze")
            for p in (course / folder).rglob("*") if p.is_file() and not {".stamps", ".jinja"} & set(p.parts)
            and p.name != ".lock"}


def no_temporary_files(course: Path) -> bool:
    return not [p for p in course.rglob("*.tmp") if ".venv" not in p.parts]


@pytest.fixture
def good(course: Path) -> Path:
    only_deck(course, "good.md", GOOD)
    assert run_build(course, "--html").returncode == 0
    return course


def test_bad_sources_are_named_by_file_and_line_before_anything_runs(good):
    write(good, "snippets/twice.py", "# %% a\nx = 1\n# %% a\ny = 2\n")
    write(good, "snippets/latin.py", "# %% x\nprint('caf\xe9')\n".encode("latin-1"))
    bad = {
        "yaml.md": ("---\nmarp: true\ntitle: [unclosed\n---\n# x\n", "slides/yaml.md:3: invalid YAML"),
        "theme.md": ("---\ntheme: nowhere\n---\n# x\n", "slides/theme.md:2: unknown theme 'nowhere'"),
        "jinja.md": ("# x\n\n{% if %}\n", "slides/jinja.md:3: template syntax error"),
        "undefined.md": ("# x\n\n{{ course.nothing }}\n", "slides/undefined.md:3: template error: UndefinedError"),
        "partial.md": ("# x\n{% include 'partials/none.md' %}\n", "slides/partial.md:2: included file not found"),
        "snippet.md": ("# x\n{{ snippet('none.py') }}\n",
                       "slides/snippet.md:2: snippet file not found: snippets/none.py"),
        "cell.md": ("# x\n{{ snippet('examples.py#nope') }}\n", "slides/cell.md:2: no cell named 'nope'"),
        "twice.md": ("# x\n{{ snippet('twice.py#a') }}\n", "snippets/twice.py:3: cell 'a' is defined twice"),
        "latin1.md": ("# Caf\xe9\n\nText\n".encode("latin-1"),
                      "slides/latin1.md:1: not UTF-8 text: byte 0xe9 at line 1, column 6 cannot be read "
                      "(it looks like Latin-1 or Windows-1252); save the file as UTF-8"),
        "latin_snippet.md": ("# x\n{{ snippet('latin.py#x') }}\n", "snippets/latin.py:2: not UTF-8 text"),
        "empty.md": ("---\nmarp: true\n---\n\n", "slides/empty.md:1: the deck is empty"),
        "outside.md": ("# x\n\n{{ snippet('../../../etc/passwd') }}\n",
                       "slides/outside.md:3: snippet path '../../../etc/passwd' leads outside the course folder"),
        "include_outside.md": ("# x\n{% include '../../../etc/passwd' %}\n",
                               "slides/include_outside.md:2: included file not found"),
    }
    for name, (text, _) in bad.items():
        write(good, f"slides/{name}", text)
    before = snapshot(good)
    started = time.monotonic()
    proc = run_build(good, "--html")
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    for name, (_, message) in bad.items():
        assert f"error: {message}" in proc.stderr, (name, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert f"1 deck built, {len(bad)} failed" in proc.stdout
    assert "cells: 1 from the cache, 0 ran" in proc.stdout      # the good deck, untouched
    assert snapshot(good) == before


def png_of_side(side: int) -> str:
    """Python that displays a blank side x side PNG, made without drawing it."""
    return (f"import struct, zlib\nfrom IPython.display import Image, display\n"
            f"def chunk(kind, data):\n    return struct.pack('>I', len(data)) + kind + data + "
            f"struct.pack('>I', zlib.crc32(kind + data))\n"
            f"rows = zlib.compress(b'\\x00' * ({side} + 1) * {side}, 1)\n"
            f"png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', {side}, {side}, 8, 0, 0, 0, 0)) "
            f"+ chunk(b'IDAT', rows) + chunk(b'IEND', b'')\n"
            f"display(Image(data=png, format='png'))")


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A course the cell faults share: each builds its own deck in it."""
    return make_course(tmp_path_factory.mktemp("faults") / "course")


def check_raises(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    assert "error: slides/raises.md:3: cell raised ValueError: bad value" in proc.stderr


def check_forever(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    forever = (build / "forever.md").read_text()
    assert "TimeoutError: the cell ran longer than 2 s" in forever and "after the hang" in forever


def check_exit(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    assert "error: slides/exit.md:3: the kernel died while running this cell: it exited with status 3" in proc.stderr


def check_segv(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    assert "error: slides/segv.md:3: the kernel died while running this cell: it crashed (segmentation fault" \
        in proc.stderr


def check_oom(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    assert "error: slides/oom.md:3: the kernel died while running this cell: it was killed (SIGKILL)" in proc.stderr


def check_flood(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    flood = (build / "flood.md").read_text()
    assert len(flood) < 300_000 and "more lines not kept: the limit is 2000 lines" in flood
    assert "slides/flood.md:3: output cut to 2000 lines" in proc.stderr
    assert max(p.stat().st_size for p in (course / "_freeze").rglob("*.json")) < 3_000_000


def check_huge(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    assert "slides/huge.md:3: a figure of 20000 x 20000 px (400 MP) was left out" in proc.stderr
    assert "<img" not in (build / "huge.md").read_text()


def check_inject(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    html = (build / "inject.html").read_text()
    assert len(re.findall(r"<section\b[^>]*\bid=", html)) == 1           # no slide was added
    assert "<script>alert" not in html
    assert re.search(r'<div class="cell-output-markdown">\s*<hr />\s*<h1>Injected heading</h1>', html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'sandbox="allow-scripts"' in html and "<script>document.title" not in html


def check_secret(proc: subprocess.CompletedProcess, build: Path, course: Path) -> None:
    for where in [build / "secret.md", build / "secret.html"] + list((course / "_freeze").rglob("*.json")):
        assert "hf_VerySecret123" not in where.read_text(), where
    assert "token: ****" in (build / "secret.md").read_text()


# A cell that fails, hangs, kills its kernel or floods: its deck, whether the build fails, what it is told.
FAULTS = {
    "raises": ("# x\n\n```python run\nraise ValueError('bad value')\n```\n", 1, check_raises),
    "forever": ("# x\n\n```python run\n#| timeout: 2\n#| error: true\nimport time\nwhile True:\n"
                "    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass\n```\n\n"
                "```python run\nprint('after the hang')\n```\n", 0, check_forever),
    "exit": ("# x\n\n```python run\nimport os\nos._exit(3)\n```\n", 1, check_exit),
    "segv": ("# x\n\n```python run\nimport ctypes\nctypes.string_at(0)\n```\n", 1, check_segv),
    "oom": ("# x\n\n```python run\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n```\n", 1, check_oom),
    "flood": ("# x\n\n```python run\nprint(('x' * 99 + '\\n') * 500_000)\n```\n", 0, check_flood),
    "huge": (f"# x\n\n```python run\n{png_of_side(20_000)}\n```\n", 0, check_huge),
    "inject": ("# Title\n\n```python run\nfrom IPython.display import HTML, Markdown, display\n"
               "print('---\\n```\\n<script>alert(1)</script>')\n"
               "display(Markdown('---\\n# Injected heading\\n<script>alert(2)</script>'))\n"
               "display(HTML(\"<script>document.title='pwned'</script><b>bold</b>\"))\n```\n", 0, check_inject),
    "secret": ("# x\n\n```python run\nimport os\n"
               "print('token:', os.environ['HF_TOKEN'])\nos.environ['HF_TOKEN']\n```\n",
               0, check_secret),
}


@pytest.mark.parametrize("name", FAULTS)
def test_a_cell_that_fails_hangs_dies_or_floods_is_answered(shared, name):
    text, code, check = FAULTS[name]
    write(shared, f"slides/{name}.md", text)
    started = time.monotonic()
    proc = run_build(shared, "--html", str(shared / "slides" / f"{name}.md"),
                     env={**os.environ, "HF_TOKEN": "hf_VerySecret123"})
    assert time.monotonic() - started < 60, proc.stdout
    assert proc.returncode == code, proc.stderr
    assert "Traceback (most recent call last):\n  File \"/" not in proc.stderr  # (a deckrun bug shows one)
    check(proc, shared / "build", shared)


def test_missing_and_hanging_tools_are_named(good, tmp_path):
    copy = tmp_path / "deckrun-copy"  # a deckrun with no node_modules beside it, the npm registry out of reach
    shutil.copytree(REPO / "deckrun", copy / "deckrun")
    for name in ("build.py", "package.json", "package-lock.json"):
        shutil.copy(REPO / name, copy / name)
    write(good, "slides/good.md", GOOD + "\nEdited.\n")  # so that it must be rendered
    offline = {**os.environ, "DECKRUN_CACHE": str(tmp_path / "cache"), "npm_config_offline": "true",
               "npm_config_cache": str(tmp_path / "npm-cache")}
    no_marp = subprocess.run([sys.executable, str(copy / "build.py"), "--root", str(good), "--html"],
                             capture_output=True, text=True, timeout=120, env=offline)
    assert no_marp.returncode == 1
    assert "installing the pinned Marp CLI and browser libraries (npm ci, once)" in no_marp.stdout
    assert "the npm registry (https://registry.npmjs.org) cannot be reached" in no_marp.stderr, no_marp.stderr
    installed = (tmp_path / "cache" / "deckrun" / "node").glob("*/node_modules/@marp-team")
    assert not list(installed)  # nothing half-installed
    no_node = run_build(good, "--html", env={**os.environ, "PATH": str(tmp_path), "DECKRUN_NODE": "system"})
    assert no_node.returncode == 1 and "Node.js is needed to run the Marp CLI" in no_node.stderr
    hang = tmp_path / "hanging-chrome"
    hang.write_text("#!/bin/sh\nsleep 600\n")
    hang.chmod(0o755)
    started = time.monotonic()
    proc = run_build(good, "--pdf", env={**os.environ, "CHROME_PATH": str(hang)})
    assert time.monotonic() - started < 60
    assert proc.returncode == 1
    assert f"Marp could not write good.pdf (browser: {hang}): the browser did not answer" in proc.stderr
    assert not [p for p in psutil.process_iter(["cmdline"]) if "sleep 600" in " ".join(p.info["cmdline"] or [])]


def test_ctrl_c_in_a_build_stops_it_cleanly(good):
    write(good, "slides/slow.md", "# x\n\n```python run\nimport time\ntime.sleep(60)\n```\n")
    before = snapshot(good)
    proc = subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(good), "--html"],
                            cwd=good, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not has_kernel_child(proc.pid):
        time.sleep(0.2)
    time.sleep(1.5)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    time.sleep(0.5)
    assert still_running(children) == []
    assert snapshot(good) == before and no_temporary_files(good)


def test_a_reader_that_goes_away_ends_the_command_quietly(good):
    for n in range(30):  # enough lines to outlast a pipe that was closed after the first
        write(good, f"slides/extra-{n:02d}.md", "# x\n")
    proc = subprocess.Popen(f"{sys.executable} {REPO / 'build.py'} --root {good} status | head -1",
                            shell=True, cwd=good, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    assert len(out.splitlines()) == 1 and "Traceback" not in err, err


def test_two_builds_at_once_take_turns(good):
    write(good, "slides/slow.md", "# x\n\n```python run\nimport time\ntime.sleep(4)\nprint('slept')\n```\n")
    first = subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(good), "--html"],
                             cwd=good, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    second = run_build(good, "--html")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err + second.stderr
    assert re.search(r"waiting for the build running since \d\d:\d\d:\d\d \(process \d+\)", second.stdout)
    assert "slept" in (good / "build" / "slow.md").read_text() and no_temporary_files(good)


def test_a_full_disk_is_reported_and_what_was_built_is_kept(good):
    write(good, "slides/good.md", GOOD + "\n```python run\nprint('x' * 60_000)\n```\n")
    assert run_build(good, "--html").returncode == 0
    before = snapshot(good)
    write(good, "slides/good.md", GOOD + "\n```python run\nprint('y' * 60_000)\n```\n")

    def small_disk() -> None:  # files may grow to 40 kB: the deck's Markdown will not fit
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(good), "--html"],
                          cwd=good, capture_output=True, text=True, timeout=120, preexec_fn=small_disk)
    assert proc.returncode == 1
    assert "the disk is full:" in proc.stderr and "files built and cached before are kept" in proc.stderr
    assert "Traceback" not in proc.stderr
    after = snapshot(good)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing built before is changed
    assert no_temporary_files(good)
    assert all(json.loads(p.read_text()) for p in (good / "_freeze").rglob("*.json"))

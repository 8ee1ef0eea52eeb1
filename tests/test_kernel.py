"""The execute stage through a real ipykernel, driven from this process (no Marp, no
browser: the fast layer): a kernel's cells with their seed, outputs and limits, a time-out,
a death; the pool's warm kernels; the versions a warm kernel keeps, so a cell reruns in
its own place's state; the cache's API; and build_decks with a stand-in renderer."""
from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from deckrun.core.errors import DeckError, Location
from deckrun.core.options import BuildOptions
from deckrun.core.progress import Progress
from deckrun.core.project import load_project
from deckrun.execute.cache import Cache
from deckrun.execute.capture import OutputLimits
from deckrun.execute.connection import KernelDied
from deckrun.execute.keys import CellKey
from deckrun.execute.outputs import CellResult, Rich, Stream
from deckrun.execute.settings import KernelSettings
from deckrun.execute.warm import KernelPool, WarmKernel
from deckrun.source.cells import Cell, CellOptions
from helpers.course import make_course, only_deck


def cell(code: str, line: int = 1, **options) -> Cell:
    where = Location(Path("slides/k.md").resolve(), line)
    return Cell(code, CellOptions(**options), where, where)


def text(result: CellResult) -> str:
    return "".join(o.text for o in result.outputs if isinstance(o, Stream)).strip()


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    pool = KernelPool(keep_warm=True)
    yield pool
    pool.shutdown()


@pytest.fixture
def warm(pool, tmp_path) -> WarmKernel:
    """A fresh warm kernel for one test (the pool's kernel of a deck of its own)."""
    settings = KernelSettings(tmp_path, tmp_path, seed=3, limits=OutputLimits(lines=50, megabytes=0.01))
    with pool.lease(tmp_path / "k.md", settings) as kernel:
        yield kernel
    pool.discard(tmp_path / "k.md")


def test_a_cell_runs_with_its_seed_and_its_outputs_collected(warm):
    first = warm.run(cell("import random\nprint(random.random())\n{'a': 1}"), 0)
    again = warm.run(cell("import random\nprint(random.random())\n{'a': 1}"), 0)
    assert text(first) == text(again)  # seeded before every cell
    assert any(isinstance(o, Rich) and o.is_result and "{'a': 1}" in o.data["text/plain"] for o in first.outputs)
    flood = warm.run(cell("for n in range(10_000):\n    print('x' * 20)"), 1)
    assert len(text(flood)) < 12_000 and any("left out" in note or "cut" in note for note in flood.notes)


def test_a_cell_past_its_time_out_is_stopped_and_the_kernel_goes_on(warm):
    stopped = warm.run(cell("import time\ntime.sleep(30)", timeout=1), 0)
    assert stopped.timed_out and stopped.error and stopped.error.ename == "TimeoutError"
    assert text(warm.run(cell("print('after')"), 1)) == "after"


def test_a_killed_kernel_is_a_kernel_died_error_and_the_pool_starts_another(pool, tmp_path):
    settings = KernelSettings(tmp_path, tmp_path)
    with pytest.raises(KernelDied, match="killed"):
        with pool.lease(tmp_path / "dies.md", settings) as warm:
            warm.run(cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), 0)
    with pool.lease(tmp_path / "dies.md", settings) as warm:
        assert text(warm.run(cell("print('again')"), 0)) == "again"
    pool.discard(tmp_path / "dies.md")


def test_the_pool_keeps_a_warm_kernel_while_its_settings_are_the_same(pool, tmp_path):
    settings = KernelSettings(tmp_path, tmp_path)
    with pool.lease(tmp_path / "same.md", settings) as first:
        first.run(cell("kept = 42"), 0)
    with pool.lease(tmp_path / "same.md", settings) as second:
        assert second is first and text(second.run(cell("print(kept)"), 1)) == "42"
    with pool.lease(tmp_path / "same.md", replace(settings, seed=9)) as other:
        assert other is not first  # other settings: a fresh kernel
    pool.discard(tmp_path / "same.md")


DECK = ['model = ["translator"]', 'model.append("tuned")', 'print(model)',
        'items = []', 'items.append(len(items))\nprint(items)', 'model = "classifier"']


def run_at(warm: WarmKernel, index: int, code: str | None = None) -> str:
    """Run cell `index` (with `code`, else its own) in the state of its place."""
    if code is not None:
        warm.timeline.set_code(index, code)
    for replay in warm.replays(index):
        warm.run(cell(warm.timeline.codes[replay], replay), replay)
    return text(warm.run(cell(warm.timeline.codes[index], index), index))


def test_a_warm_kernel_reruns_a_cell_in_the_state_of_its_place(warm):
    warm.follow(DECK)
    for index in range(len(DECK)):
        run_at(warm, index)
    assert run_at(warm, 2) == "['translator', 'tuned']"  # not the later slide's "classifier"
    assert run_at(warm, 4) == run_at(warm, 4) == "[0]"    # changed in place: not changed twice
    assert run_at(warm, 1) == "" and run_at(warm, 2) == "['translator', 'tuned']"
    assert run_at(warm, 2, 'print(model, "edited")') == "['translator', 'tuned'] edited"


def test_the_cache_stores_and_loads_results_by_key(tmp_path):
    cache = Cache(tmp_path)
    key = CellKey("ab" * 32, "slides/x.md:3", "c0de")
    assert cache.load(key) is None
    result = CellResult((Stream("stdout", "hi\n"), Rich({"image/png": "iVBORw0KGgo=", "text/plain": "fig"})), 0.5)
    cache.store(key, result)
    loaded = cache.load(key)
    assert loaded is not None and loaded.outputs == result.outputs
    entry = next((tmp_path / "_freeze" / "cells").rglob("*.json"))
    before = entry.stat().st_mtime_ns
    cache.store(key, replace(result, seconds=9.0))  # the same outputs: the entry is left as it is
    assert entry.stat().st_mtime_ns == before
    entry.write_text("{ damaged")
    assert cache.load(key) is None and "is unreadable" in cache.problems[0]
    cache.write_manifest("week1/index", [key])
    assert cache.manifest("week1/index") == [key] and cache.recorded("week1/index") == {}


def test_build_decks_runs_caches_and_renders_with_a_stand_in_renderer(tmp_path):
    from deckrun.pipeline.build import Session, build_decks

    root = make_course(tmp_path / "course")
    deck = only_deck(root, "fast.md", "# Fast\n\n```python run\nx = 20\n```\n\n```python run\nprint(x + 1)\n```\n")
    rendered = []

    def renderer(jobs, config):  # (writes what Marp would, enough for the stamps)
        for job in jobs:
            job.target.parent.mkdir(parents=True, exist_ok=True)
            job.target.write_text(f"<html>{job.markdown.read_text()}</html>")
            rendered.append(job.target.name)
        return {job: None for job in jobs}

    project = load_project(root)
    options = BuildOptions(formats=("html",))
    session = Session.open(project, options, Progress(open(os.devnull, "w")), renderer=renderer)
    try:
        first = build_decks([deck], options, session)
        assert [r.ok for r in first] == [True] and (first[0].cells_run, first[0].cells_cached) == (2, 0)
        assert "```output\n21\n```" in (root / "build" / "fast.md").read_text() and rendered == ["fast.html"]
        again = build_decks([deck], options, session)
        assert (again[0].cells_run, again[0].cells_cached) == (0, 2) and rendered == ["fast.html"]  # up to date
        deck.write_text(deck.read_text().replace("x + 1", "x + 2"))
        edited = build_decks([deck], options, session)
        assert (edited[0].cells_run, edited[0].cells_cached, edited[0].cells_replayed) == (1, 1, 1)
        deck.write_text(deck.read_text().replace("print(x + 2)", "print(y)"))
        failed = build_decks([deck], options, session)
        assert isinstance(failed[0].error, DeckError) and "NameError" in str(failed[0].error)
    finally:
        session.close()


def test_a_dead_kernel_is_said_to_be_killed(warm):
    with pytest.raises(KernelDied) as died:
        warm.run(cell("import os\nos.kill(os.getpid(), {})".format(int(signal.SIGKILL))), 0)
    assert "SIGKILL" in str(died.value)


def test_a_theme_colour_change_draws_again_only_the_cells_that_drew_figures(tmp_path):
    from deckrun.pipeline.build import Session, build_decks

    root = make_course(tmp_path / "course")
    deck = only_deck(root, "plots.md", "---\nmarp: true\ntheme: nmt-theme\n---\n\n# Plots\n\n```python run\n"
                                        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n```\n\n"
                                        "```python run\nprint(1 + 1)\n```\n")
    project = load_project(root)
    options = BuildOptions(formats=("html",))
    session = Session.open(project, options, Progress(open(os.devnull, "w")),
                           renderer=lambda jobs, config: {job: None for job in jobs})
    try:
        assert build_decks([deck], options, session)[0].cells_run == 2
        theme = root / "themes" / "nmt-theme.css"
        theme.write_text(theme.read_text().replace("--nmt-teal: #0f8a80;", "--nmt-teal: #0f7a80;"))
        again = build_decks([deck], options, session)[0]
        assert (again.cells_run, again.cells_cached) == (1, 1)  # the figure, in the new look; not the print
    finally:
        session.close()

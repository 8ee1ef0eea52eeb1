"""What a build is asked and what it will do, checked without running anything: --refresh
targets, a deck's `execute:` settings (course.yaml under front matter), where its kernel
runs, which decks a save affects."""
from __future__ import annotations

from pathlib import Path

import pytest

from deckrun.core.errors import DeckError, Location
from deckrun.core.options import BuildOptions
from deckrun.core.project import Project
from deckrun.execute.capture import OutputLimits
from deckrun.execute.settings import Gateway, choose_gateway, execute_settings
from deckrun.preview.sources import affected_decks
from deckrun.source.cells import Cell, CellOptions
from deckrun.source.deck import Deck
from deckrun.source.targets import refreshes, target_names


def deck_at(root: Path, front_matter: dict | None = None, cells: tuple[Cell, ...] = ()) -> Deck:
    return Deck(root / "slides" / "x.md", "x", front_matter or {}, "", cells)


def snippet_cell(root: Path) -> Cell:
    """`{{ snippet("s.py#train") }}` on line 12 of the deck, whose code is lines 5-7 of s.py."""
    return Cell("a = 1\nb = 2\nc = 3", CellOptions(), origin=Location(root / "snippets" / "s.py", 5),
                reference=Location(root / "slides" / "x.md", 12), name="train")


@pytest.mark.parametrize("target, named", [
    ("all", True),
    ("slides/x.md", True), ("slides/y.md", False),
    ("slides/x.md:12", True), ("slides/x.md:13", False),          # the line that shows the cell
    ("snippets/s.py:6", True), ("snippets/s.py:8", False),        # a line of its code
    ("s.py#train", True), ("snippets/s.py#train", True), ("s.py#test", False), ("t.py#train", False),
])
def test_refresh_targets_name_cells(tmp_path, monkeypatch, target, named):
    monkeypatch.chdir(tmp_path)  # targets are given from the course folder
    cell = snippet_cell(tmp_path)
    assert target_names(target, deck_at(tmp_path, cells=(cell,)), cell) is named
    assert refreshes(BuildOptions(refresh=(target,)), deck_at(tmp_path), cell) is named


def test_execute_settings_take_the_front_matter_over_course_yaml(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTER_GATEWAY_URL", raising=False)
    project = Project(tmp_path, {"execute": {"seed": 3, "env": {"A": "1", "B": 2}, "max-output-lines": 50}})
    deck = deck_at(tmp_path, {"execute": {"seed": 7, "env": {"B": "two"}, "secrets": ["MINE"], "freeze": True}})
    settings = execute_settings(project, deck, BuildOptions())
    assert (settings.seed, settings.env) == (7, {"A": "1", "B": "two"})
    assert (settings.secrets, settings.freeze) == (("MINE",), True)
    assert settings.limits == OutputLimits(lines=50) and settings.gateway is None
    assert settings.for_keys() == {"seed": 7, "env": {"A": "1", "B": "two"}, "limits": OutputLimits(lines=50),
                                   "secrets": ("MINE",)}  # where it runs is not part of a key
    assert execute_settings(Project(tmp_path), deck_at(tmp_path), BuildOptions()).seed == 0


@pytest.mark.parametrize("course, front, message, where", [
    ({"execute": ["seed"]}, {}, "'execute:' must be a mapping", "course.yaml"),
    ({}, {"execute": {"sede": 1}}, "unknown 'execute:' setting 'sede' (known: seed, env,", "slides/x.md"),
    ({}, {"execute": {"freeze": "yes"}}, "'execute: freeze:' must be true or false, not 'yes'", "slides/x.md"),
    ({}, {"execute": {"secrets": "TOKEN"}}, "'execute: secrets:' must be a list", "slides/x.md"),
    ({"execute": {"max-output-mb": 0}}, {}, "'execute: max-output-mb:' must be a positive number", "slides/x.md"),
    ({}, {"execute": {"gateway": "gpu.example.edu"}}, "must be an http:// or https:// URL", "slides/x.md"),
])
def test_bad_execute_settings_name_their_file(tmp_path, monkeypatch, course, front, message, where):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeckError) as caught:
        execute_settings(Project(tmp_path, course), deck_at(tmp_path, front), BuildOptions())
    assert message in str(caught.value)
    assert str(caught.value.where).startswith(where)


def test_where_a_deck_runs(monkeypatch):
    here = Location(Path("slides/x.md"))
    monkeypatch.delenv("JUPYTER_GATEWAY_URL", raising=False)
    assert choose_gateway(None, None, None, here) is None
    assert choose_gateway("https://gpu.example.edu/", "python_k8s", None, here) == \
        Gateway("https://gpu.example.edu", "python_k8s")
    monkeypatch.setenv("JUPYTER_GATEWAY_URL", "http://env.example:8888")
    assert choose_gateway(None, None, None, here) == Gateway("http://env.example:8888")
    assert choose_gateway("https://files.example", None, None, here).url == "https://files.example"  # files first
    assert choose_gateway("https://files.example", None, "http://flag.example", here).url == "http://flag.example"
    assert choose_gateway("https://files.example", None, "local", here) is None  # --gateway local: here
    with pytest.raises(DeckError, match="'execute: kernel:' must be a kernel name"):
        choose_gateway("https://gpu.example.edu", 3, None, here)


def test_which_decks_a_save_affects(tmp_path):
    project = Project(tmp_path)
    a, b = project.slides_dir / "a.md", project.slides_dir / "b.md"
    helper = project.snippets_dir / "helper.py"
    depends = {a: {a, helper}, b: {b}}

    def affected(*changed: Path, in_error: set[Path] = set()) -> list[Path]:
        return affected_decks(project, [a, b], depends, in_error, set(changed))

    assert affected(helper) == [a]
    assert affected(b) == [b]
    assert affected(project.root / "data" / "other.csv") == []
    assert affected(project.root / "data" / "other.csv", in_error={b}) == [b]  # retried on every save
    for shared in (project.root / "course.yaml", project.themes_dir / "t.css",
                   project.templates_dir / "stream.md.j2", project.slides_dir / "images" / "logo.svg"):
        assert affected(shared) == [a, b]

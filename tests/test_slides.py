"""Slides as Marp sees them, and the students' version of a deck; checked against Marp."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from deckrun.core.project import load_project
from deckrun.core.tools import node, node_packages
from deckrun.render.check import slide_locations
from deckrun.source.audience import with_lecturer_badge, without_lecturer_content
from deckrun.source.deck import load_deck
from deckrun.source.slides import parse_slides
from helpers.course import REPO

TRICKY = """---
marp: true
paginate: true
headingDivider: 2
---

# Title

<!-- _class: lead -->
<!-- Speaker: welcome everyone -->

## Second

Text <!-- inline note --> more
<!-- class: lecturer -->

---

Third (inherits lecturer)

<!--
multi-line
note here
-->

## Fourth
<!-- _class: normal -->

```
<!-- not a comment in code -->
```

---
<!-- paginate: false -->
<!-- This is a note: with a colon -->
Fifth ![w](pic.png)

<!-- class: "" -->
<!-- prettier-ignore -->

## Sixth
<div style="background: url('bg.jpg')"><img src="https://example.org/x.png"></div>
"""


def marp_view(tmp_path: Path, markdown: str) -> dict:
    deck = tmp_path / "deck.md"
    deck.write_text(markdown)
    script = REPO / "tests" / "helpers" / "marp_slides.cjs"
    out = subprocess.run([str(node()), str(script), str(node_packages(REPO)), str(deck)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_slides_classes_and_notes_are_marps(tmp_path):
    ours = parse_slides(TRICKY)
    theirs = marp_view(tmp_path, TRICKY)
    assert [s.directives.get("class", "") for s in ours.slides] == theirs["classes"]
    assert [list(s.notes) for s in ours.slides] == theirs["comments"]
    assert [s.lecturer_only for s in ours.slides] == [False, True, True, False, False, False]


def test_references_are_what_slides_load():
    deck = parse_slides(TRICKY.replace("paginate: true", "paginate: true\nfooter: '![logo](logo.svg)'"))
    assert [(r.url, r.alt) for r in deck.slides[4].references] == [("pic.png", "w"), ("logo.svg", "logo")]
    assert {r.url for r in deck.slides[5].references} == {"bg.jpg", "https://example.org/x.png", "logo.svg"}
    assert "not a comment" not in str(deck.slides[3].references)
    iframe = parse_slides('<iframe src="https://v.example/embed/1" title="A talk"></iframe>\n\n'
                          '![bg right:40% A cat](c.png)\n')
    assert [(r.url, r.kind, r.alt) for r in iframe.slides[0].references] == [
        ("https://v.example/embed/1", "embed", "A talk"), ("c.png", "background", "A cat")]


def test_students_get_no_lecturer_slide_and_no_note(tmp_path):
    student = without_lecturer_content(TRICKY)
    assert "Second" not in student and "Third" not in student
    for note in ("Speaker", "inline note", "multi-line", "with a colon"):
        assert note not in student
    assert "<!-- not a comment in code -->" in student and "<!-- paginate: false -->" in student
    theirs = marp_view(tmp_path, student)
    assert theirs["classes"] == ["lead", "normal", "", ""]       # the directives carried on
    assert theirs["comments"] == [[], [], [], []]


def test_removing_the_first_slide_leaves_no_empty_one(tmp_path):
    deck = ("---\nmarp: true\n---\n\n<!-- _class: lecturer -->\n# Secret\n\n---\n\n"
            "<!-- paginate: true -->\n# Public\n\n---\n\n# Last <!-- note -->\n")
    student = without_lecturer_content(deck)
    assert "Secret" not in student and "note" not in student
    assert marp_view(tmp_path, student)["classes"] == ["", ""]
    assert [s.directives.get("paginate") for s in parse_slides(student).slides] == ["true", "true"]


@pytest.mark.parametrize("theme, badge", [("", True), ("section.lecturer::before { content: 'x' }", False)])
def test_the_lecturer_badge_is_the_themes_when_it_has_one(theme, badge):
    deck = "---\nmarp: true\n---\n\n# A\n\n---\n\n<!-- _class: lecturer -->\n# B\n"
    assert ("Lecturer only" in with_lecturer_badge(deck, theme)) is badge
    assert with_lecturer_badge("# no lecturer slide\n", "") == "# no lecturer slide\n"


def test_slides_are_traced_to_the_lines_they_start_on(tmp_path):
    (tmp_path / "slides" / "partials").mkdir(parents=True)
    (tmp_path / "slides" / "partials" / "end.md").write_text("---\n\n# Questions?\n")
    (tmp_path / "slides" / "deck.md").write_text(
        "---\nmarp: true\n---\n\n# {{ 'Title' }}\n\n---\n\n{% for n in [1, 2] %}\nItem {{ n }}\n{% endfor %}\n\n"
        "---\n\n## Last own slide\n\n{% include 'partials/end.md' %}\n")
    project = load_project(tmp_path)
    deck = load_deck(tmp_path / "slides" / "deck.md", project)
    located = [(where.path.name, where.line) for where in slide_locations(deck)]
    assert located == [("deck.md", 5), ("deck.md", 7), ("deck.md", 13), ("end.md", 1)]

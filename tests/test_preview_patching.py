"""The preview's page after a series of saves on a long deck is the page a full render
gives: each save's changed slides are sent and put in place (no fetch, no reload) when
that is enough, and a save only a whole page shows right (slides added or removed, a
slide's own styles, fragments) is fetched or reloaded. Each state is compared, in
Chromium, with the same deck's page freshly loaded in another browser."""
from __future__ import annotations

import json

import pytest

from deckrun.render.marp import MarpWorker, RenderJob, engine_config, render
from helpers.browser import Browser
from helpers.course import make_course, only_deck
from helpers.serving import Watching

pytestmark = pytest.mark.slow  # a watcher, Marp and two Chromiums

PICTURE = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
           '<rect width="40" height="40" fill="#3a7"/></svg>')
SLIDES = [f"## Slide {n}\n\nProse of slide {n}." for n in range(1, 25)]
SLIDES[0] = "<!-- _class: lead -->\n\n# A long deck\n\nThe title slide."
SLIDES[3] += "\n\n<!-- A note for slide 4. -->"
SLIDES[5] += "\n\n![bg right:30%](pic.svg)"
SLIDES[7] += "\n\n<style scoped>\nh2 { color: teal; }\n</style>"
SLIDES[10] += "\n\n* one\n* two\n* three"
SLIDES[11] += "\n\n```python\nprint('code, not run')\n```"
SLIDES[13] = "<!-- _paginate: skip -->\n\n" + SLIDES[13]
SLIDES[15] += "\n\nSome math: $e^{i\\pi} + 1 = 0$."
DECK = ("---\nmarp: true\ntheme: nmt-theme\npaginate: true\nheader: Unit header\nfooter: The footer\n---\n\n"
        + "\n\n---\n\n".join(SLIDES) + "\n")

# The page as a reader sees it, without what the navigation changes as it moves (the
# active slide's classes, fragments shown so far): each slide, its notes, the styles.
SNAPSHOT = """(() => {
  const navigation = /^(data-bespoke|aria-hidden$|inert$)/
  const slides = [...document.getElementById(':$p').children].filter(el => el.matches('svg[data-marpit-svg]'))
    .map(svg => {
      const copy = svg.cloneNode(true)
      copy.removeAttribute('class')
      for (const el of [copy, ...copy.querySelectorAll('*')]) {
        for (const { name } of [...el.attributes]) if (navigation.test(name)) el.removeAttribute(name)
      }
      return copy.outerHTML
    })
  const notes = [...document.querySelectorAll('.bespoke-marp-note')]
    .map(note => `${note.dataset.index}: ${note.innerHTML}`)
  const styles = [...document.querySelectorAll('head style')].filter(s => !s.id).map(s => s.textContent)
  return JSON.stringify({ slides, notes, styles })
})()"""


@pytest.fixture(scope="module")
def previewed(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("patching") / "course")
    only_deck(root, "long.md", DECK)
    (root / "slides" / "pic.svg").write_text(PICTURE)
    watcher = Watching(root)
    with Browser() as editing, Browser() as fresh:
        editing.open(watcher.url + "long.html#3")
        editing.wait("window.deckrunPreview && location.hash === '#3' && !!document.getElementById(':$p')")
        yield watcher, editing, fresh
    if watcher.proc.poll() is None:
        watcher.proc.kill()


def save(watcher: Watching, editing: Browser, old: str, new: str) -> dict:
    """Save an edit of the deck; once the page shows it, how it came: via 'slides' (sent)
    or 'page' (fetched), the slides it edited; or via 'reload'."""
    editing.eval("window.keptValue = 7; window.deckrunPreview.lastPatch = null")
    watcher.edit("slides/long.md", old, new)
    editing.wait("!window.keptValue || !!window.deckrunPreview.lastPatch", timeout=60)
    watcher.settle()
    editing.wait("!!window.deckrunPreview && !!document.getElementById(':$p')")
    came: dict = editing.eval("window.keptValue ? window.deckrunPreview.lastPatch : { via: 'reload' }")
    return came


def assert_as_rendered(watcher: Watching, editing: Browser, fresh: Browser) -> None:
    fresh.open("about:blank")
    fresh.open(watcher.url + "long.html")
    fresh.wait("!!document.getElementById(':$p')")
    editing.wait("!!document.getElementById(':$p')")
    patched, rendered = json.loads(editing.eval(SNAPSHOT)), json.loads(fresh.eval(SNAPSHOT))
    assert patched["styles"] == rendered["styles"]
    assert patched["notes"] == rendered["notes"]
    assert len(patched["slides"]) == len(rendered["slides"])
    for number, (mine, theirs) in enumerate(zip(patched["slides"], rendered["slides"]), 1):
        assert mine == theirs, f"slide {number} differs from a full render"


def test_a_series_of_saves_leaves_the_page_a_full_render_gives(previewed):
    watcher, editing, fresh = previewed
    came = save(watcher, editing, "Prose of slide 10.", "Prose of slide 10, edited.")
    assert came["via"] == "slides" and came["edited"] == [9]  # sent, not fetched
    assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "<!-- A note for slide 4. -->", "<!-- The note, rewritten. -->")
    assert came["via"] == "slides" and came["edited"] == [3]
    assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "Prose of slide 12.", "Prose of slide 12, above its code.")  # (Marp's <pre>)
    assert came["via"] == "slides" and came["edited"] == [11]
    assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "Prose of slide 20.", "Prose of slide 20.\n\n<!-- _class: lead -->")
    assert came["via"] == "slides" and came["edited"] == [19]
    assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "footer: The footer", "footer: Another footer")  # the front matter
    assert came["via"] == "reload"  # every slide has the footer, the one with fragments too
    assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "Prose of slide 17.", "Prose of slide 17.\n\n<!-- backgroundColor: #eef -->")
    assert came["via"] == "slides" and came["edited"] == list(range(16, len(SLIDES)))  # it carries on
    assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "Some math: $e^{i\\pi} + 1 = 0$.", "Some math: $a^2 + b^2 = c^2$.")
    assert came["via"] == "slides" and came["edited"] == [15]
    assert_as_rendered(watcher, editing, fresh)

    for old, new in (("## Slide 5\n", "## Inserted\n\nA new slide.\n\n---\n\n## Slide 5\n"),  # a slide more
                     ("## Inserted\n\nA new slide.\n\n---\n\n", ""),                          # and less
                     ("h2 { color: teal; }", "h2 { color: purple; }"),  # the page's styles
                     ("* two\n", "* two, edited\n")):  # fragments: Marp counts them as the page loads
        assert save(watcher, editing, old, new)["via"] == "reload"
        assert_as_rendered(watcher, editing, fresh)

    came = save(watcher, editing, "Prose of slide 2.", "Prose of slide 2, edited again.")
    assert came["via"] == "slides" and came["edited"] == [1]  # after all that, sent again
    assert_as_rendered(watcher, editing, fresh)


def test_the_worker_answers_a_saves_changed_slides_or_that_a_page_is_needed(tmp_path):
    root = make_course(tmp_path / "course")
    markdown = root / "build" / "deck.md"
    markdown.parent.mkdir()
    config = engine_config(root, root / "themes", root / "build" / ".marp")
    worker = MarpWorker(root, keeps=True)
    try:
        def convert(text: str, version: str) -> str:
            markdown.write_text(text)
            render(root, RenderJob(markdown, "html", markdown.with_suffix(".html"), settings="s", version=version),
                   config, worker)
            return markdown.with_suffix(".html").read_text()

        def changed(text: str, since: str, version: str, settings: str = "s"):
            markdown.write_text(text)
            return worker.changed_slides(markdown, since, version, settings)

        first = convert(DECK, "v1")
        assert convert(DECK, "v1") == first  # scoped styles' names drawn the same: the same page
        found = changed(DECK.replace("Prose of slide 9.", "Prose of slide 9, again."), "v1", "v2")
        assert found is not None and found.total == len(SLIDES) and [s.index for s in found.slides] == [8]
        html = found.slides[0].html
        assert "Prose of slide 9, again." in html and 'data-marpit-pagination="9"' in html
        notes = changed(DECK.replace("A note for slide 4.", "Another note."), "v1", "v3")
        assert notes is not None and [(s.index, s.notes) for s in notes.slides] == [(3, ("Another note.",))]
        assert changed(DECK.replace("color: teal", "color: navy"), "v1", "v4") is None  # the page's styles
        assert changed(DECK + "\n---\n\nOne more.\n", "v1", "v5") is None               # a slide added
        assert changed(DECK.replace("Prose of slide 9.", "Other."), "v0", "v6") is None  # not rendered here
        assert changed(DECK.replace("Prose of slide 9.", "Other."), "v1", "v7", settings="t") is None  # a theme edited
    finally:
        worker.close()

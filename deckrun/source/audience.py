"""Who sees what: the students' version of a deck has no lecturer-only slides (class
`lecturer`) and no presenter notes, removed from the Markdown itself (not hidden); the
lecturer's version marks the lecturer-only slides."""
from __future__ import annotations

import json

from .slides import LECTURER_CLASS, Slide, parse_slides


def without_lecturer_content(markdown: str) -> str:
    """The deck for students: lecturer-only slides and presenter notes removed from the
    Markdown itself (not hidden), so their text is nowhere in what students get. The
    directives a removed slide sets for later slides (`paginate`, `footer`...) are kept."""
    deck = parse_slides(markdown)
    lines = deck.lines
    out = list(lines[:deck.body])
    carried: list[str] = []
    first_kept = True
    for slide in deck.slides:
        if slide.lecturer_only:
            carried.extend(_inherited(slide))
            continue
        skip = _note_lines(slide)
        if slide.separator and first_kept and slide.index > 0:
            skip.add(slide.start)  # it becomes the first slide: no rule before it
        kept = [(n, _strip_inline_notes(lines[n], slide, n))
                for n in range(slide.start, slide.end) if n not in skip]
        # Carried directives go inside the slide: after its rule or dividing heading.
        out.extend([text for n, text in kept if n < slide.opening] + carried
                   + [text for n, text in kept if n >= slide.opening])
        carried, first_kept = [], False
    out.extend(carried)
    return "\n".join(out)


def _inherited(slide: Slide) -> list[str]:
    """A removed slide's directives that outlive it, as comments for the next slide."""
    kept = [f"{key}: {json.dumps(value)}" for comment in slide.comments
            for key, value in comment.directives.items() if not key.startswith("_")]
    return [f"<!-- {line} -->" for line in kept]


def _note_lines(slide: Slide) -> set[int]:
    return {line for c in slide.comments if c.is_note and not c.inline for line in range(c.line, c.end)}


def _strip_inline_notes(text: str, slide: Slide, line: int) -> str:
    for comment in slide.comments:
        if comment.inline and comment.is_note and comment.line <= line < comment.end:
            text = text.replace(comment.markup, "", 1)
    return text


LECTURER_BADGE_STYLE = """<style>
section.lecturer::before {
  content: "Lecturer only"; position: absolute; top: 18px; right: 24px; z-index: 10;
  padding: 4px 14px; border-radius: 999px; font-size: 18px; font-weight: 700;
  letter-spacing: 0.03em; background: #b3261e; color: #fff;
}
</style>"""


def with_lecturer_badge(markdown: str, theme_css: str) -> str:
    """The lecturer's deck: lecturer-only slides visibly marked, by the theme's own
    `section.lecturer` style if it has one, else by a plain badge."""
    if LECTURER_CLASS not in markdown or "section.lecturer" in theme_css:
        return markdown
    deck = parse_slides(markdown)
    if "section.lecturer" in theme_css or not any(slide.lecturer_only for slide in deck.slides):
        return markdown
    lines = list(deck.lines)
    return "\n".join(lines[:deck.body] + [LECTURER_BADGE_STYLE, ""] + lines[deck.body:])

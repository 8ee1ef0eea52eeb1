"""Code that steps through its lines on the slide: a fence whose info string ends with
Slidev's steps (```` ```python {1|2-3|all} ````; a cell's `#| highlight:` comes out so too,
see markdown.py). In the HTML deck each step after the first is one press of the
presenter's next key: Marp's own fragments (empty marks that Marp's navigation counts, in
every view alike), and one rule per step that lights its lines and dims the others while
its mark is active. On paper there is no next key: the last step shows.

The lines are lit by gradients in line-height units (`lh`) over the code element itself,
so they follow it when Marp shrinks a block that is too wide for its slide."""
from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import Location
from ..source.slides import parse_slides
from ..source.steps import STEPPED_INFO, Step, parse_steps

_FENCE_LEAD = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})")  # (a fence's first line starts so)
_MAYBE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*\{", re.MULTILINE)  # (no parse when no fence has steps)
LIT, DIM = "var(--deckrun-step-light, rgb(250 204 21 / 0.28))", "rgb(0 0 0 / 0.35)"


def step_through(markdown: str, paper: bool, pages: bool = False) -> str:
    """The deck's Markdown with each stepped code block ready to step (`paper`: at its last
    step; with `pages`, its slide once a step, each at its own)."""
    if not _MAYBE.search(markdown):
        return markdown
    if paper and pages:
        markdown = _a_page_a_step(markdown, _stepped_blocks(markdown))
    lines = markdown.split("\n")
    for number, (start, end, found) in reversed(list(enumerate(_stepped_blocks(markdown), 1))):
        fence_lines, lead = lines[start:end], _lead(lines[start])
        code = fence_lines[1:-1]
        steps = parse_steps(found.group("steps"), Location(Path("(deck)")))
        fence = [f"{lead.group(0)}{found.group('language')}", *code, fence_lines[-1]]
        lines[start:end] = _stepped(number, fence, lead.group("indent"), steps, len(code), paper)
    return "\n".join(lines)


def _a_page_a_step(markdown: str, blocks: list[tuple[int, int, re.Match[str]]]) -> str:
    """Paper with every step on a page of its own: each slide whose code steps comes once
    a step (Marp's order: the blocks one after the other), each copy's blocks at the step
    of that page (a single step, which the paper pass then draws)."""
    lines = markdown.split("\n")
    for slide in reversed(parse_slides(markdown).slides):
        mine = [(start, found) for start, end, found in blocks if slide.start <= start < slide.end]
        parts = [[p.strip() or "all" for p in found.group("steps").split("|")] for _, found in mine]
        if all(len(p) <= 1 for p in parts):
            continue
        pages = [[0] * len(parts)]
        for block, steps in enumerate(parts):
            for step in range(1, len(steps)):
                pages.append([len(parts[b]) - 1 if b < block else step if b == block else 0
                              for b in range(len(parts))])
        body = lines[slide.opening:slide.end]
        copies = []
        for page in pages:
            copy = list(body)
            for (start, found), steps, shown in zip(mine, parts, page):
                at = start - slide.opening
                copy[at] = f"{_lead(copy[at]).group(0)}{found.group('language')} {{{steps[shown]}}}"
            copies.append(copy)
        lines[slide.opening:slide.end] = [*copies[0], *(line for copy in copies[1:] for line in ("", "---", "", *copy))]
    return "\n".join(lines)


def _lead(line: str) -> re.Match[str]:
    found = _FENCE_LEAD.match(line)
    assert found, line  # (markdown-it said a fence starts on this line)
    return found


def _stepped_blocks(markdown: str) -> list[tuple[int, int, re.Match[str]]]:
    """The fences with steps: their first line, the line after them, their info string read."""
    from markdown_it import MarkdownIt

    return [(token.map[0], token.map[1], found) for token in MarkdownIt("commonmark").parse(markdown)
            if token.type == "fence" and token.map and (found := STEPPED_INFO.match(token.info.strip()))]


def _stepped(number: int, fence: list[str], indent: str, steps: tuple[Step, ...], count: int,
             paper: bool) -> list[str]:
    """The block in a frame of its own, its marks (screen) and the rules that light its lines."""
    name = f"deckrun-steps-{number}"
    marks = "" if paper else "".join(f'<i data-marpit-fragment data-deckrun-step="{k}"></i>'
                                     for k in range(1, len(steps)))
    code = ":is(pre, marp-pre) > code"
    rules = [f"#{name} {code} {{ display: block; {_look(steps[-1] if paper else steps[0], count)} }}"]
    if not paper:
        rules += [f'#{name}:has(> [data-deckrun-step="{k}"][data-bespoke-marp-fragment="active"]) {code} '
                  f"{{ {_look(step, count)} }}" for k, step in enumerate(steps[1:], 1)]
    return [f'{indent}<div class="deckrun-steps" id="{name}">{marks}', "", *fence, "",
            f"{indent}</div>", "", f"{indent}<style>{' '.join(rules)}</style>"]  # (Marp takes a style block alone)


def _look(step: Step, count: int) -> str:
    """CSS that lights a step's lines (a band behind them) and dims the others."""
    if step is None:
        return "background-image: none; mask-image: none;"
    light = _bands(step, count, LIT, "transparent")
    mask = _bands(step, count, "#000", DIM)
    return f"background-image: {light}; mask-image: {mask};"


def _bands(step: frozenset[int], count: int, lit: str, other: str) -> str:
    """A top-to-bottom gradient with `lit` on the step's lines, `other` elsewhere."""
    stops, line = [], 1
    while line <= count:
        on = line in step
        last = line
        while last + 1 <= count and (last + 1 in step) == on:
            last += 1
        colour = lit if on else other
        stops += [f"{colour} calc({line - 1} * 1lh)", f"{colour} calc({last} * 1lh)"]
        line = last + 1
    return f"linear-gradient(to bottom, {', '.join(stops)})"

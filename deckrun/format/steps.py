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
from ..source.steps import Step, parse_steps

# ```python {1|2-3|all}: the language (maybe none) and the steps.
STEPPED_INFO = re.compile(r"^(?P<language>[^\s{]*)\s*\{(?P<steps>(?:all|[\d\s,|*-])*)\}\s*$")
_MAYBE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*\{", re.MULTILINE)  # (no parse when no fence has steps)
LIT, DIM = "var(--deckrun-step-light, rgb(250 204 21 / 0.28))", "rgb(0 0 0 / 0.35)"


def step_through(markdown: str, paper: bool) -> str:
    """The deck's Markdown with each stepped code block ready to step (`paper`: at its last step)."""
    if not _MAYBE.search(markdown):
        return markdown
    from markdown_it import MarkdownIt

    lines = markdown.split("\n")
    blocks = [(token.map, found) for token in MarkdownIt("commonmark").parse(markdown)
              if token.type == "fence" and token.map and (found := STEPPED_INFO.match(token.info.strip()))]
    for number, ((start, end), found) in reversed(list(enumerate(blocks, 1))):
        fence_lines = lines[start:end]
        indent = re.match(r"[ \t]*", fence_lines[0]).group(0)  # type: ignore[union-attr]
        code = fence_lines[1:-1]
        steps = parse_steps(found.group("steps"), Location(Path("(deck)")))
        opening = re.match(r"[ \t]*(`{3,}|~{3,})", fence_lines[0]).group(1)  # type: ignore[union-attr]
        fence = [f"{indent}{opening}{found.group('language')}", *code, fence_lines[-1]]
        lines[start:end] = _stepped(number, fence, indent, steps, len(code), paper)
    return "\n".join(lines)


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

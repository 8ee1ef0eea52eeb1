"""Code that steps through its lines: which lines each step highlights, read from Quarto's
`#| highlight: "1-2|3|all"` cell option or Slidev's ```` ```python {1|2-3|all} ```` fence,
and checked against the code it is for."""
from __future__ import annotations

import re

from ..core.errors import DeckError, Location

# A fence shown with steps: ```python {1|2-3|all} (the language may be left out)
STEPPED_INFO = re.compile(r"^\s*(?P<language>[^\s{]*)\s*\{(?P<steps>(?:all|[\d\s,|*-])*)\}\s*$")
# A step: `all` (or `*`, or nothing, as Quarto's leading `|` means), or lines: 1-2,4
_LINES = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
Step = frozenset[int] | None  # the lines a step highlights; None: every line


def parse_steps(text: str, where: Location, lines: int | None = None) -> tuple[Step, ...]:
    """The steps of `text`; with `lines` (the code's count), each line named must be one of them."""
    steps: list[Step] = []
    for part in str(text).split("|"):
        part = part.strip()
        if part in ("", "all", "*"):
            steps.append(None)
            continue
        named: set[int] = set()
        for piece in part.split(","):
            found = _LINES.fullmatch(piece)
            if not found:
                raise DeckError(f"highlight step '{part}' is not lines such as 1-2,4 (or all)", where)
            first, last = int(found.group(1)), int(found.group(2) or found.group(1))
            if first < 1 or last < first:
                raise DeckError(f"highlight step '{part}': {first}-{last} is no range of lines", where)
            if lines is not None and last > lines:
                raise DeckError(f"highlight step '{part}' names line {last}, and the code has "
                                f"{lines} line{'s' if lines != 1 else ''}", where)
            named.update(range(first, last + 1))
        steps.append(frozenset(named))
    return tuple(steps)

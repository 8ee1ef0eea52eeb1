"""The Markdown Marp converts: what rendition.py tells about it without a full parse."""
from __future__ import annotations

import pytest

from deckrun.format.rendition import slides_at_most
from deckrun.source.slides import parse_slides

DECKS = [
    "# One\n\ntext\n\n---\n\n# Two\n\n---\n\n# Three\n",
    "---\nmarp: true\n---\n\n# One\n\n```yaml\n---\nkey: value\n```\n\n***\n\n# Two\n",
    "---\nmarp: true\nheadingDivider: 2\n---\n\n# One\n\n## Two\n\n## Three\n\ntext\n",
    "<!-- headingDivider: 1 -->\n# One\n\n# Two\n",
]


@pytest.mark.parametrize("markdown", DECKS)
def test_the_slide_bound_is_never_below_the_slides_marp_makes(tmp_path, markdown):
    path = tmp_path / "deck.md"
    path.write_text(markdown)
    exact = len(parse_slides(markdown).slides)
    assert exact <= slides_at_most(path) <= exact + 4

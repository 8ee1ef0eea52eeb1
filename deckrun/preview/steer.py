"""`deckrun goto FILE:LINE`: a running preview (or presentation) of the course is asked to
show the slide that holds a line, in every open page (an editor's task calls it with the
cursor's line). It finds the preview through build/.preview.json, which holds its address
and the token its pages carry."""
from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import DeckError
from ..core.progress import Progress

PREVIEW_FILE = ".preview.json"  # in build/: where a running preview is, and its token (private)


def goto(root: Path, where: str, progress: Progress) -> int:
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from .server import GOTO, TOKEN_HEADER

    file, _, line = where.rpartition(":")
    if not file or not line.isdigit():
        raise DeckError("goto takes FILE:LINE, e.g. slides/session-12.md:120")
    try:
        preview = json.loads((root / "build" / PREVIEW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DeckError("no preview is running for this course: start one with `deckrun watch`") from None
    path = Path(file).resolve()
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(file)
    query = urlencode({"file": relative.as_posix(), "line": line})
    request = urllib.request.Request(f"{preview['url'].rstrip('/')}{GOTO}?{query}", method="POST",
                                     headers={TOKEN_HEADER: preview["token"]})
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as exc:
        progress.error(exc.read().decode(errors="replace") or str(exc))
        return 1
    except OSError:
        progress.error(f"the preview at {preview['url']} does not answer (was it stopped?)")
        return 1
    return 0

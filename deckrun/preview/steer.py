"""A running preview (or presentation) of the course, asked from another command: `deckrun
goto FILE:LINE` has it show the slide that holds a line, in every open page (an editor's
task calls it with the cursor's line); `deckrun build`, while `watch` runs, has it build the
decks, with its kernels and its Marp CLI already warm. It is found through
build/.preview.json, which holds its address and the token its pages carry."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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


def build_in_preview(root: Path, request: dict[str, Any], progress: Progress) -> tuple[int, int] | None:
    """The decks of a build command built by the course's running preview (`request`: see
    Watch.build), what it said printed here; its exit code and how many warnings it gave.
    None when no preview runs, or it does not build for others (then the command builds)."""
    import http.client

    from .server import BUILD, TOKEN_HEADER

    try:
        preview = json.loads((root / "build" / PREVIEW_FILE).read_text(encoding="utf-8"))
        host, port = preview["url"].split("//", 1)[1].rstrip("/").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=24 * 3600)  # (cells may run long)
        connection.request("POST", BUILD, body=json.dumps(request), headers={
            TOKEN_HEADER: preview["token"], "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return None  # (none running, or one stopped without removing its file)
    if not isinstance(answer, dict):
        return None
    progress.note(f"built by the running preview ({preview['url']}):")
    sys.stdout.write(answer["out"])
    sys.stderr.write(answer["err"])
    return int(answer["code"]), int(answer["warnings"])

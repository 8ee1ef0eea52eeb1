"""What `watch` and `present` share, wired in one place (as marp-cli wires its server and
watcher): the server on 127.0.0.1 (a clear error when the port is taken), the preview's
file for editors (build/.preview.json: its address and its pages' token, private), the
browser opened, waiting until Ctrl-C or kill, and the teardown: the server stopped, what
the command started closed, every process it started ended.

A command brings a `Preview`: what it serves and does; the harness runs it.
"""
from __future__ import annotations

import json
import webbrowser
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import DeckError
from ..core.files import write_private
from ..core.processes import kill_children
from ..core.progress import Progress
from ..core.project import Project
from .server import Broadcast, Extras, PreviewServer
from .steer import PREVIEW_FILE


class Preview(Protocol):
    """A command's side of a served preview."""
    events: Broadcast

    def prepare(self) -> None:
        """What comes before serving (the first build); raise DeckError if nothing can be served."""

    def extras(self) -> Extras | None:
        """More to serve: a folder before build/, POST actions, a page script."""

    def make_pdf(self, deck: str) -> Path | None: ...

    def goto(self, file: str, line: int) -> bool: ...

    def build(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """A build command's decks built here (steer.build_in_preview): what it said and
        its exit code; None if this preview does not build for others."""

    def announce(self, url: str) -> str:
        """What the terminal is told once it serves at `url`."""

    def first_page(self, url: str) -> str:
        """The page a browser opens (--open)."""

    def run(self) -> None:
        """What it does while served, until KeyboardInterrupt (Ctrl-C, kill)."""

    def close(self) -> None: ...


def serve(project: Project, preview: Preview, port: int, open_browser: bool, progress: Progress) -> int:
    """Serve `preview` until Ctrl-C or kill; 0, or 1 if it could not start."""
    where = project.build_dir / PREVIEW_FILE
    try:
        try:
            server = PreviewServer(project.build_dir, port, preview.events, preview.make_pdf, preview.goto,
                                   preview.extras(), preview.build)
        except OSError as exc:
            raise DeckError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror} (choose another with --port)") from None
        try:
            preview.prepare()
            server.start()
            write_private(where, json.dumps({"url": server.url, "token": server.token}))
            progress.note(preview.announce(server.url))
            if open_browser:
                webbrowser.open(preview.first_page(server.url))
            preview.run()
        except KeyboardInterrupt:
            pass
        finally:
            where.unlink(missing_ok=True)
            server.stop()
    finally:
        preview.close()
        kill_children()
        progress.note("stopped")
    return 0

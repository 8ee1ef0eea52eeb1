"""Serve build/ on 127.0.0.1 with live updates: pages get a script (client.js) that
listens to server-sent events, replaces the slides a rebuild changed in place (and
shows the first of them), streams a running cell's output onto its slide, goes to the
slide an editor asks for, and shows build errors (and overflow warnings) over the last
good deck.

Only this machine's browser may use it: it listens on loopback, answers only requests
whose Host is localhost, 127.0.0.1 or [::1] with its port (a DNS-rebinding page cannot
read the decks), serves only files inside build/ (no `..`, no symlink leading out), and
acts (a PDF build, going to a slide) only on a POST carrying the token its own pages
hold (and the preview's file build/.preview.json, for editors).
"""
from __future__ import annotations

import html
import json
import os
import queue
import re
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

EVENTS = "/_deckrun/events"
PDF = "/_deckrun/pdf/"
TOKEN_HEADER = "X-Deckrun-Token"

GOTO = "/_deckrun/goto"
BUILD = "/_deckrun/build"
MAX_BODY = 2 * 2**20  # bytes of a POST's JSON (a cell's code)
CLIENT = Path(__file__).with_name("client.js")  # the page's script: live updates, errors, goto


@lru_cache(maxsize=1)
def _client() -> str:
    return CLIENT.read_text(encoding="utf-8").replace("</script", "<\\/script")


def page_script(deck: str, token: str, presenting: bool = False, version: str = "") -> str:
    """The script a served page gets (its settings in a data attribute: `version`, of the
    deck's page it is served with); presenting, the live cells' own script shows running
    cells."""
    settings = {"deck": deck, "token": token, "events": EVENTS, "pdf": PDF, "header": TOKEN_HEADER,
                "presenting": presenting, "version": version}
    return f'<script data-deckrun="{html.escape(json.dumps(settings))}">{_client()}</script>'


_MARK = re.compile(r'<div hidden data-deckrun-cell="([^"]*)" data-deckrun-part="(code|outputs|end)"></div>')
_CODE_AFTER = re.compile(r'(<!--deckrun:code (?P<cell>[^>]*?)-->\s*<pre\b)')  # (the name, unescaped)


def is_deck_page(file: Path) -> bool:
    """A deck's page (DECK.html beside the DECK.md it was rendered from), not an
    interactive output's frame, a still picture's page or a site's page."""
    return file.suffix == ".html" and not file.name.startswith(".") and file.with_suffix(".md").is_file()


def live_marks(page: str) -> str:
    """A page whose cells are marked for the live page (the format stage's hidden marks)
    with the marks made comments, which no style or layout sees (a hidden element still
    counts for `:first-child`), and the code's block named by its cell."""
    def comment(mark: re.Match[str]) -> str:
        name = html.unescape(mark.group(1)).replace("--", "-\u2010").replace(">", "\u203a")
        return f"<!--deckrun:{mark.group(2)} {name}-->"

    page = _MARK.sub(comment, page)
    return _CODE_AFTER.sub(lambda m: f'{m.group(1)} data-deckrun-cell="{html.escape(m.group("cell"))}"', page)


@dataclass(frozen=True)
class Extras:
    """More for a server that presents: a folder served before build/ (the decks as they
    are presented), POST actions (/_deckrun/NAME with a JSON body: None when done, else why
    not), and a script of their own for deck pages (given the deck's name and the token)."""
    folder: Path
    actions: dict[str, Callable[[dict[str, Any]], str | None]]
    script: Callable[[str, str], str]


class Broadcast:
    """What every open page is told: `slides` (a deck's changed slides, from one version of
    its page to the next), `reload` (these decks' pages were written), `errors` (deck
    name, "" for all -> message), each deck's slide warnings, `goto` (show a slide), cells
    as they run (`running`, `stream`, `ran`) and, presenting, live runs' results, resets,
    edits and each deck's kernel; the last errors, warnings, kernel states and live cells
    are kept for pages that open later."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, str]] = {"errors": {}, "warnings": {}}
        self._kernels: dict[str, dict[str, Any]] = {}  # deck -> its kernel's last state (presenting)
        self._cells: dict[tuple[str, str], dict[str, Any]] = {}  # (deck, cell) -> what its pages show now (presenting)
        self._clients: list[queue.Queue[Any]] = []
        self._versions: dict[str, str] = {}  # deck -> the version of its page file
        self._lock = threading.Lock()

    def version(self, deck: str) -> str:
        """The version of the deck's page file ("": not known)."""
        with self._lock:
            return self._versions.get(deck, "")

    def slides(self, deck: str, since: str, version: str, changed: list[dict[str, Any]]) -> None:
        """The slides that changed from the deck's page at `since` to the one at `version`
        ({index, html, notes} each): pages at `since` put them in place."""
        self._publish("slides", {"deck": deck, "since": since, "version": version, "slides": changed})

    def reload(self, decks: dict[str, str]) -> None:
        """These decks' pages were written (deck -> its version)."""
        with self._lock:  # a rebuilt deck shows its cells as built
            self._cells = {key: state for key, state in self._cells.items() if key[0] not in decks}
            self._versions.update(decks)
        self._publish("reload", {"decks": list(decks), "versions": decks})

    def errors(self, errors: dict[str, str]) -> None:
        with self._lock:
            self.messages["errors"] = dict(errors)
        self._publish("errors", self.messages["errors"])

    def goto(self, deck: str, slide: int) -> None:
        self._publish("goto", {"deck": deck, "slide": slide})

    def running(self, deck: str, cell: str, ticket: int = 0) -> None:
        self._cell("running", deck, cell, ticket=ticket)

    def stream(self, deck: str, cell: str, text: str, ticket: int = 0) -> None:
        self._publish("stream", {"deck": deck, "cell": cell, "text": text, "ticket": ticket})

    def ran(self, deck: str, cell: str) -> None:
        self._publish("ran", {"deck": deck, "cell": cell})

    def kernel(self, deck: str, state: str, done: int, total: int) -> None:
        """Presenting: the deck's kernel is `warming` (done of total cells), `ready`, or why
        not (the last state of each deck is kept for pages that open later)."""
        data = {"deck": deck, "state": state, "done": done, "total": total}
        with self._lock:
            self._kernels[deck] = data
        self._publish("kernel", data)

    def result(self, deck: str, cell: str, ticket: int, html: str, failed: str, seconds: float) -> None:
        """Presenting: a live run's output, as the slide shows outputs (`failed`: why it
        failed in a way the cell did not expect, else ""), and how long its code ran."""
        self._cell("result", deck, cell, ticket=ticket, html=html, failed=failed, seconds=round(seconds, 4))

    def reset(self, deck: str, cell: str, ticket: int) -> None:
        """Presenting: the cell's built code and output are back."""
        self._cell("reset", deck, cell, ticket=ticket)

    def cancelled(self, deck: str, cell: str, ticket: int) -> None:
        """Presenting: a run that had not started will not: the cell shows what it did."""
        self._cell("cancelled", deck, cell, ticket=ticket)

    def edit(self, deck: str, cell: str, code: str, view: str) -> None:
        """Presenting: code typed in one page (`view`), for the others."""
        self._cell("edit", deck, cell, code=code, view=view)

    def _cell(self, event: str, deck: str, cell: str, **data: Any) -> None:
        """A live cell's news, kept (merged) as what its pages show now."""
        message = {"deck": deck, "cell": cell, **data}
        with self._lock:
            state = self._cells.get((deck, cell), {})
            if event == "reset":
                state = {}
            elif event == "edit":
                state = {**state, "code": data["code"]}
            elif event == "result":
                state = {**state, "html": data["html"], "failed": data["failed"], "ticket": data["ticket"]}
            self._cells[(deck, cell)] = state
        self._publish(event, message)

    def deck_warnings(self, deck: str, lines: list[str]) -> None:
        """A deck's slides were looked at (in the background): its warnings, or none."""
        with self._lock:
            warnings = {name: text for name, text in self.messages["warnings"].items() if name != deck}
            if lines:
                warnings[deck] = "\n".join(lines)
            self.messages["warnings"] = warnings
        self._publish("warnings", warnings)

    def subscribe(self) -> queue.Queue[Any]:
        """A page's stream: the kept messages first, then what comes."""
        client: queue.Queue[Any] = queue.Queue()
        with self._lock:
            for event, messages in self.messages.items():
                client.put(_event(event, messages))
            for state in self._kernels.values():
                client.put(_event("kernel", state))
            for (deck, cell), state in self._cells.items():
                if state:
                    client.put(_event("cell", {"deck": deck, "cell": cell, **state}))
            self._clients.append(client)
        return client

    def unsubscribe(self, client: queue.Queue[Any]) -> None:
        with self._lock:
            self._clients.remove(client)

    def _publish(self, event: str, data: object) -> None:
        message = _event(event, data)
        with self._lock:
            for client in self._clients:
                client.put(message)


def _event(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class PreviewServer:
    """Serves build/ to this machine's browser, with `events` streamed to every page, a
    deck's PDF made by `make_pdf` when a page asks for it, `goto(file, line)` when an
    editor asks for the slide that shows a line (it says whether an open deck does), and
    `build(request)` when a build command asks the preview to build for it (its answer,
    or None when this preview does not)."""

    def __init__(self, folder: Path, port: int, events: Broadcast, make_pdf: Callable[[str], Path | None],
                 goto: Callable[[str, int], bool], extras: Extras | None = None,
                 build: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda request: None) -> None:
        self.folder = folder
        self.events = events
        self.make_pdf = make_pdf
        self.goto = goto
        self.build = build
        self.extras = extras
        self.token = secrets.token_urlsafe(24)
        self._stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()

    def allowed_host(self, host: str | None) -> bool:
        return host in {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}

    @property
    def folders(self) -> list[Path]:
        return [self.extras.folder, self.folder] if self.extras else [self.folder]

    def file(self, path: str) -> tuple[Path, Path] | None:
        """The file a URL path names and the served folder it is in, or None: nothing
        outside those folders, however spelled (`..`, encoded or not) or reached (a symlink
        leading out)."""
        parts = [p for p in unquote(path).split("/") if p]
        if any(p in (".", "..") or "\\" in p or "\0" in p for p in parts):
            return None
        for folder in self.folders:
            root = folder.resolve()
            candidate = (root.joinpath(*parts)).resolve()
            if (candidate == root or candidate.is_relative_to(root)) and candidate.is_file():
                return candidate, root
        return None

    def _handler_class(self) -> type[SimpleHTTPRequestHandler]:
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(server.folder), **kwargs)

            def log_message(self, format: str, *args: Any) -> None:  # the terminal is for build progress
                pass

            def refuse(self, status: HTTPStatus, why: str) -> None:
                body = why.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not server.allowed_host(self.headers.get("Host")):
                    return self.refuse(HTTPStatus.FORBIDDEN, "this preview answers only http://127.0.0.1 and localhost")
                path = urlsplit(self.path).path
                if path == EVENTS:
                    return self.events()
                if path == "/":
                    return self.index()
                found = server.file(path)
                if found is None:
                    return self.refuse(HTTPStatus.NOT_FOUND, "not found")
                file, folder = found
                if is_deck_page(file):
                    return self.page(file, file.relative_to(folder).with_suffix("").as_posix())
                self.directory = str(folder)
                self.path = "/" + "/".join(file.relative_to(folder).parts)
                return super().do_HEAD() if self.command == "HEAD" else super().do_GET()

            do_HEAD = do_GET

            def do_POST(self) -> None:
                if not server.allowed_host(self.headers.get("Host")):
                    return self.refuse(HTTPStatus.FORBIDDEN, "this preview answers only http://127.0.0.1 and localhost")
                if self.headers.get(TOKEN_HEADER) != server.token:
                    return self.refuse(HTTPStatus.FORBIDDEN, "only the preview's own pages can ask for a build")
                url = urlsplit(self.path)
                path = url.path
                if path == GOTO:
                    return self.goto(parse_qs(url.query))
                if path == BUILD:
                    return self.build()
                action = server.extras.actions.get(path.removeprefix("/_deckrun/")) if server.extras else None
                if action is not None:
                    return self.act(action)
                if not path.startswith(PDF):
                    return self.refuse(HTTPStatus.NOT_FOUND, "not found")
                made = server.make_pdf(unquote(path[len(PDF):]))
                if made is None:
                    return self.refuse(HTTPStatus.NOT_FOUND, "no PDF for that deck: see the terminal")
                self.send_response(HTTPStatus.SEE_OTHER)
                self.send_header("Location", f"/{made.name}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def goto(self, query: dict[str, list[str]]) -> None:
                file, line = query.get("file", [""])[0], query.get("line", [""])[0]
                if not file or not line.isdigit():
                    return self.refuse(HTTPStatus.BAD_REQUEST, "give file=PATH&line=N (PATH from the course folder)")
                if not server.goto(file, int(line)):
                    return self.refuse(HTTPStatus.NOT_FOUND, f"no deck being previewed shows {file}:{line}")
                self.send_response(HTTPStatus.NO_CONTENT)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def body(self) -> dict[str, Any] | None:
                """The request's JSON object (None: refused, and said why)."""
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY} bytes")
                    return None
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    self.refuse(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
                    return None
                return body

            def build(self) -> None:
                body = self.body()
                if body is None:
                    return
                answer = server.build(body)
                if answer is None:
                    return self.refuse(HTTPStatus.NOT_FOUND, "this preview does not build for others")
                self.send_body(json.dumps(answer).encode(), "application/json")

            def act(self, action: Callable[[dict[str, Any]], str | None]) -> None:
                body = self.body()
                if body is None:
                    return
                refused = action(body)
                if refused is not None:
                    return self.refuse(HTTPStatus.UNPROCESSABLE_ENTITY, refused)
                self.send_response(HTTPStatus.ACCEPTED)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def list_directory(self, path: str | os.PathLike[str]) -> None:  # no listings: the index finds decks
                self.refuse(HTTPStatus.NOT_FOUND, "not found")
                return None

            def send_body(self, body: bytes, content_type: str) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def page(self, file: Path, deck: str) -> None:
                version = server.events.version(deck)  # (before the file: a page never claims to be newer)
                script = page_script(deck, server.token, presenting=server.extras is not None, version=version)
                if server.extras:
                    script += server.extras.script(deck, server.token)
                text = live_marks(file.read_text(encoding="utf-8"))
                at = text.rfind("</body>")
                text = text[:at] + script + text[at:] if at >= 0 else text + script
                self.send_body(text.encode(), "text/html; charset=utf-8")

            def index(self) -> None:
                decks = sorted(p.relative_to(server.folder).with_suffix("").as_posix()
                               for p in server.folder.rglob("*.html") if is_deck_page(p))
                items = "".join(f'<li><a href="{html.escape(d)}.html">{html.escape(d)}</a> '
                                f'(<a href="#" onclick="deckrunPdf({html.escape(json.dumps(d))});return false">'
                                f'PDF</a>)</li>' for d in decks)
                script = page_script("", server.token)
                body = (f"<!doctype html><meta charset=utf-8><title>Decks</title>"
                        f"<h1>Decks</h1><ul>{items}</ul>{script}")
                self.send_body(body.encode(), "text/html; charset=utf-8")

            def events(self) -> None:
                client = server.events.subscribe()
                try:
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    while not server._stopping.is_set():
                        try:
                            message = client.get(timeout=1)
                        except queue.Empty:
                            message = b": ping\n\n"  # notices a closed page
                        self.wfile.write(message)
                        self.wfile.flush()
                except OSError:
                    pass
                finally:
                    server.events.unsubscribe(client)

        return Handler

"""Serve build/ on 127.0.0.1 with live reload: pages get a small script that listens to
server-sent events, reloads when its deck was rebuilt (Marp keeps the slide number in
the URL, so the page stays on its slide) and shows build errors (and overflow warnings)
over the last good deck.

Only this machine's browser may use it: it listens on loopback, answers only requests
whose Host is localhost, 127.0.0.1 or [::1] with its port (a DNS-rebinding page cannot
read the decks), serves only files inside build/ (no `..`, no symlink leading out), and
starts work (a PDF build) only on a POST carrying the token its own pages hold.
"""
from __future__ import annotations

import html
import json
import queue
import secrets
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

EVENTS = "/_deckrun/events"
PDF = "/_deckrun/pdf/"
TOKEN_HEADER = "X-Deckrun-Token"

_CLIENT_SCRIPT = """
<script>
(() => {
  const deck = %(deck)s, token = %(token)s;
  const box = (colour) => {
    const el = document.createElement("pre");
    el.style.cssText = "position:fixed;z-index:99999;left:0;right:0;margin:0;padding:14px 18px;"
      + "background:" + colour + ";color:#fff;font:15px/1.4 monospace;white-space:pre-wrap;display:none;"
      + "max-height:45vh;overflow:auto;box-shadow:0 4px 16px rgba(0,0,0,.4)";
    document.addEventListener("DOMContentLoaded", () => document.body.appendChild(el));
    return el;
  };
  const errors = box("#b3261e"), warnings = box("#8a5300");
  errors.style.top = "0"; warnings.style.bottom = "0";
  const show = (el, messages) => {
    const mine = Object.entries(messages).filter(([name]) => name === deck || name === "");
    el.textContent = mine.map(([, text]) => text).join("\\n\\n");
    el.style.display = mine.length ? "block" : "none";
  };
  const source = new EventSource("%(events)s");
  source.addEventListener("reload", (event) => {
    if (JSON.parse(event.data).decks.includes(deck)) location.reload();
  });
  source.addEventListener("errors", (event) => show(errors, JSON.parse(event.data)));
  source.addEventListener("warnings", (event) => show(warnings, JSON.parse(event.data)));
  window.deckrunPdf = async (name) => {
    const answer = await fetch("%(pdf)s" + encodeURIComponent(name), {method: "POST", headers: {"%(header)s": token}});
    if (answer.ok) location.href = answer.url; else alert("No PDF: " + await answer.text());
  };
})();
</script>
"""


class Broadcast:
    """What every open page is told: `reload` (these decks were rebuilt), `errors` (deck
    name, "" for all -> message) and each deck's slide warnings; the last errors and
    warnings are kept for pages that open later."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, str]] = {"errors": {}, "warnings": {}}
        self._clients: list[queue.Queue] = []
        self._lock = threading.Lock()

    def reload(self, decks: list[str]) -> None:
        self._publish("reload", {"decks": decks})

    def errors(self, errors: dict[str, str]) -> None:
        with self._lock:
            self.messages["errors"] = dict(errors)
        self._publish("errors", self.messages["errors"])

    def deck_warnings(self, deck: str, lines: list[str]) -> None:
        """A deck's slides were looked at (in the background): its warnings, or none."""
        with self._lock:
            warnings = {name: text for name, text in self.messages["warnings"].items() if name != deck}
            if lines:
                warnings[deck] = "\n".join(lines)
            self.messages["warnings"] = warnings
        self._publish("warnings", warnings)

    def subscribe(self) -> queue.Queue:
        """A page's stream: the kept messages first, then what comes."""
        client: queue.Queue = queue.Queue()
        with self._lock:
            for event, messages in self.messages.items():
                client.put(_event(event, messages))
            self._clients.append(client)
        return client

    def unsubscribe(self, client: queue.Queue) -> None:
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
    """Serves build/ to this machine's browser, with `events` streamed to every page and
    a deck's PDF made by `make_pdf` when a page asks for it."""

    def __init__(self, folder: Path, port: int, events: Broadcast, make_pdf: Callable[[str], Path | None]) -> None:
        self.folder = folder
        self.events = events
        self.make_pdf = make_pdf
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

    def file(self, path: str) -> Path | None:
        """The file under build/ a URL path names, or None: nothing outside build/, however
        spelled (`..`, encoded or not) or reached (a symlink leading out)."""
        parts = [p for p in unquote(path).split("/") if p]
        if any(p in (".", "..") or "\\" in p or "\0" in p for p in parts):
            return None
        root = self.folder.resolve()
        candidate = (root.joinpath(*parts)).resolve()
        if candidate != root and not candidate.is_relative_to(root):
            return None
        return candidate

    def _handler_class(self):
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.folder), **kwargs)

            def log_message(self, *args) -> None:  # the terminal is for build progress
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
                file = server.file(path)
                if file is None or not file.is_file():
                    return self.refuse(HTTPStatus.NOT_FOUND, "not found")
                if file.suffix == ".html" and file.parent == server.folder.resolve():
                    return self.page(file)  # a deck (not an interactive output's frame)
                self.path = "/" + "/".join(file.relative_to(server.folder.resolve()).parts)
                return super().do_HEAD() if self.command == "HEAD" else super().do_GET()

            do_HEAD = do_GET

            def do_POST(self) -> None:
                if not server.allowed_host(self.headers.get("Host")):
                    return self.refuse(HTTPStatus.FORBIDDEN, "this preview answers only http://127.0.0.1 and localhost")
                if self.headers.get(TOKEN_HEADER) != server.token:
                    return self.refuse(HTTPStatus.FORBIDDEN, "only the preview's own pages can ask for a build")
                path = urlsplit(self.path).path
                if not path.startswith(PDF):
                    return self.refuse(HTTPStatus.NOT_FOUND, "not found")
                made = server.make_pdf(unquote(path[len(PDF):]))
                if made is None:
                    return self.refuse(HTTPStatus.NOT_FOUND, "no PDF for that deck: see the terminal")
                self.send_response(HTTPStatus.SEE_OTHER)
                self.send_header("Location", f"/{made.name}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def list_directory(self, path):  # no listings: decks are found from the index
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

            def page(self, file: Path) -> None:
                script = _CLIENT_SCRIPT % {"deck": json.dumps(file.stem), "events": EVENTS,
                                           "token": json.dumps(server.token), "pdf": PDF,
                                           "header": TOKEN_HEADER}
                text = file.read_text(encoding="utf-8")
                at = text.rfind("</body>")
                text = text[:at] + script + text[at:] if at >= 0 else text + script
                self.send_body(text.encode(), "text/html; charset=utf-8")

            def index(self) -> None:
                decks = sorted(p.stem for p in server.folder.glob("*.html"))
                items = "".join(f'<li><a href="{html.escape(d)}.html">{html.escape(d)}</a> '
                                f'(<a href="#" onclick="deckrunPdf({html.escape(json.dumps(d))});return false">'
                                f'PDF</a>)</li>' for d in decks)
                script = _CLIENT_SCRIPT % {"deck": '""', "events": EVENTS, "token": json.dumps(server.token),
                                           "pdf": PDF, "header": TOKEN_HEADER}
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

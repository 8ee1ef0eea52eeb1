"""Serve build/ on 127.0.0.1 with live reload: pages get a small script that listens to
server-sent events, reloads when its deck was rebuilt (Marp keeps the slide number in
the URL, so the page stays on its slide) and shows build errors over the last good deck.
"""
from __future__ import annotations

import html
import json
import queue
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import unquote

EVENTS = "/_deckrun/events"
PDF = "/_deckrun/pdf/"

_CLIENT_SCRIPT = """
<script>
(() => {
  const deck = %(deck)s;
  const box = document.createElement("pre");
  box.style.cssText = "position:fixed;z-index:99999;top:0;left:0;right:0;margin:0;padding:14px 18px;"
    + "background:#b3261e;color:#fff;font:15px/1.4 monospace;white-space:pre-wrap;display:none;"
    + "max-height:60vh;overflow:auto;box-shadow:0 4px 16px rgba(0,0,0,.4)";
  document.addEventListener("DOMContentLoaded", () => document.body.appendChild(box));
  const source = new EventSource("%(events)s");
  source.addEventListener("reload", (event) => {
    if (JSON.parse(event.data).decks.includes(deck)) location.reload();
  });
  source.addEventListener("errors", (event) => {
    const errors = JSON.parse(event.data);
    const mine = Object.entries(errors).filter(([name]) => name === deck || name === "");
    box.textContent = mine.map(([, text]) => text).join("\\n\\n");
    box.style.display = mine.length ? "block" : "none";
  });
})();
</script>
"""


class PreviewServer:
    """`publish_reload` and `publish_errors` go to every open page."""

    def __init__(self, folder: Path, port: int, make_pdf: Callable[[str], Path | None]) -> None:
        self.folder = folder
        self.make_pdf = make_pdf
        self.errors: dict[str, str] = {}
        self._clients: list[queue.Queue] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def publish_reload(self, decks: list[str]) -> None:
        self._publish("reload", {"decks": decks})

    def publish_errors(self, errors: dict[str, str]) -> None:
        """`errors` maps a deck name ("" for all decks) to its message."""
        self.errors = dict(errors)
        self._publish("errors", self.errors)

    def _publish(self, event: str, data: object) -> None:
        message = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        with self._lock:
            for client in self._clients:
                client.put(message)

    def _handler_class(self):
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.folder), **kwargs)

            def log_message(self, *args) -> None:  # the terminal is for build progress
                pass

            def do_GET(self) -> None:
                path = unquote(self.path.split("?", 1)[0])
                if path == EVENTS:
                    return self.events()
                if path.startswith(PDF):
                    return self.pdf(path[len(PDF):])
                if path == "/":
                    return self.index()
                if path.endswith(".html"):
                    return self.page(path)
                return super().do_GET()

            def send_body(self, body: bytes, content_type: str) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def page(self, path: str) -> None:
                file = server.folder / path.lstrip("/")
                if not file.is_file() or server.folder.resolve() not in file.resolve().parents:
                    return self.send_error(HTTPStatus.NOT_FOUND)
                script = _CLIENT_SCRIPT % {"deck": json.dumps(file.stem), "events": EVENTS}
                text = file.read_text(encoding="utf-8")
                at = text.rfind("</body>")
                text = text[:at] + script + text[at:] if at >= 0 else text + script
                self.send_body(text.encode(), "text/html; charset=utf-8")

            def index(self) -> None:
                decks = sorted(p.stem for p in server.folder.glob("*.html"))
                items = "".join(f'<li><a href="{html.escape(d)}.html">{html.escape(d)}</a> '
                                f'(<a href="{PDF}{html.escape(d)}">PDF</a>)</li>' for d in decks)
                body = (f"<!doctype html><meta charset=utf-8><title>Decks</title>"
                        f"<h1>Decks</h1><ul>{items}</ul>")
                self.send_body(body.encode(), "text/html; charset=utf-8")

            def pdf(self, deck: str) -> None:
                made = server.make_pdf(deck)
                if made is None:
                    return self.send_error(HTTPStatus.NOT_FOUND, f"no PDF for {deck}: see the terminal")
                self.send_response(HTTPStatus.SEE_OTHER)
                self.send_header("Location", f"/{made.name}")
                self.end_headers()

            def events(self) -> None:
                client: queue.Queue = queue.Queue()
                with server._lock:
                    server._clients.append(client)
                try:
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(f"event: errors\ndata: {json.dumps(server.errors)}\n\n".encode())
                    self.wfile.flush()
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
                    with server._lock:
                        server._clients.remove(client)

        return Handler

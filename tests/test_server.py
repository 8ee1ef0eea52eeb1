"""The preview server on 127.0.0.1: only this machine's pages, only files in build/,
work only on a POST from its own pages."""
from __future__ import annotations

import http.client
import socket

import pytest

from deckrun.preview.server import Broadcast, PreviewServer
from helpers.course import page_token


@pytest.fixture
def served(tmp_path):
    build = tmp_path / "build"
    (build / "deck_files").mkdir(parents=True)
    (build / "deck.html").write_text("<html><body>the deck</body></html>")
    (build / "deck.md").write_text("# the deck\n")  # (a deck's page is beside the Markdown it was made from)
    (build / "deck_files" / "fig.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "secret.txt").write_text("private notes")
    (build / "escape").symlink_to(tmp_path)                # a link leading out of build/
    (build / "leak.txt").symlink_to(tmp_path / "secret.txt")
    asked: list[str] = []
    server = PreviewServer(build, 0, Broadcast(), lambda name: asked.append(name) or build / "deck.html",
                           lambda file, line: asked.append(f"{file}:{line}") or file == "slides/deck.md")
    server.start()
    yield server, asked
    server.stop()


def request(server: PreviewServer, method: str, path: str, host: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    """A raw request: the path is sent exactly as given (no client-side normalising)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{server.port}'}",
                 "Connection: close", "Content-Length: 0"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read().decode(errors="replace")


def test_pages_and_files_inside_build_are_served(served):
    server, _ = served
    status, body = request(server, "GET", "/deck.html")
    assert status == 200 and "the deck" in body and "EventSource" in body
    assert request(server, "GET", "/deck_files/fig.png")[0] == 200
    assert request(server, "GET", "/", host=f"localhost:{server.port}")[0] == 200


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/deck_files/..%2F..%2Fsecret.txt",
                                  "/escape/secret.txt", "/leak.txt", "/..%5csecret.txt", "/deck_files/"])
def test_nothing_outside_build_is_served(served, path):
    server, _ = served
    status, body = request(server, "GET", path)
    assert status == 404 and "private notes" not in body


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1",
                                  "localhost.evil.example:{port}"])
def test_requests_for_another_host_are_refused(served, host):
    server, _ = served
    status, body = request(server, "GET", "/deck.html", host=host.format(port=server.port))
    assert status == 403 and "the deck" not in body


def test_a_pdf_build_needs_a_post_with_the_pages_token(served):
    server, asked = served
    assert request(server, "GET", "/_deckrun/pdf/deck")[0] == 404
    assert request(server, "POST", "/_deckrun/pdf/deck")[0] == 403
    assert request(server, "POST", "/_deckrun/pdf/deck", headers={"X-Deckrun-Token": "guess"})[0] == 403
    assert asked == []
    token = page_token(request(server, "GET", "/deck.html")[1])
    status, _ = request(server, "POST", "/_deckrun/pdf/deck", headers={"X-Deckrun-Token": token})
    assert status == 303 and asked == ["deck"]


def test_going_to_a_line_needs_a_post_with_the_pages_token(served):
    server, asked = served
    path = "/_deckrun/goto?file=slides/deck.md&line=12"
    token = {"X-Deckrun-Token": server.token}
    assert request(server, "GET", path)[0] == 404                     # a link cannot do it
    assert request(server, "POST", path)[0] == 403                    # no token
    assert request(server, "POST", path, headers={"X-Deckrun-Token": "guess"})[0] == 403
    assert request(server, "POST", path, host="attacker.example", headers=token)[0] == 403
    assert asked == []
    assert request(server, "POST", path, headers=token)[0] == 204
    assert request(server, "POST", "/_deckrun/goto?file=slides/other.md&line=3", headers=token)[0] == 404
    assert request(server, "POST", "/_deckrun/goto?file=slides/deck.md", headers=token)[0] == 400
    assert asked == ["slides/deck.md:12", "slides/other.md:3"]


def test_a_build_asked_of_a_preview_needs_the_token_and_one_that_builds(served):
    server, _ = served
    assert request(server, "POST", "/_deckrun/build")[0] == 403  # no token: another page's request
    token = page_token(request(server, "GET", "/deck.html")[1])
    assert request(server, "POST", "/_deckrun/build", headers={"X-Deckrun-Token": token})[0] == 404  # not this one

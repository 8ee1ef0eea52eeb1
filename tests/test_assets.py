"""Remote images cached with the course, placeholders for what cannot be had, embeds as
posters on paper: through the real pipeline, against HTTP servers on 127.0.0.1."""
from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pypdf import PdfReader

from helpers.course import only_deck, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000010000000100802000000909168360000001d4944415478"
    "9c63fccf8001f89f81840e8c1a3e6af8a8e1a3860f1b3e00c4a41ff1e4cbb9160000000049454e44ae426082")


class Images(BaseHTTPRequestHandler):
    served: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Images.served.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    for connection in held:
        connection.close()
    listener.close()


def deck(course: Path, body: str, front: str = "") -> None:
    only_deck(course, "web.md", f"---\nmarp: true\ntheme: nmt-theme\n{front}---\n\n{body}")


def test_a_remote_image_is_cached_and_outlives_its_server(course, image_server):
    url = f"{image_server}/pictures/cat.png?token=abc"
    deck(course, f"# Remote\n\n![A cat]({url})\n\n---\n\n![bg right:40%]({url})\n")
    theme = course / "themes" / "nmt-theme.css"
    theme.write_text(theme.read_text() + f'\nsection.paper {{ background-image: url("{image_server}/paper.png"); }}\n')
    first = run_build(course, "slides/web.md")
    assert first.returncode == 0, first.stderr
    assert Images.served.count("/pictures/cat.png?token=abc") == 1  # once, for both slides
    records = [json.loads(r.read_text()) for r in (course / "_assets" / "urls").rglob("*.json")]
    assert sorted(r["url"] for r in records) == sorted([url, f"{image_server}/paper.png"])
    assert all(r["fetched"].startswith("20") for r in records)
    assert image_server not in (course / "build" / ".themes" / "nmt-theme.css").read_text()
    markdown = (course / "build" / "web.md").read_text()
    assert url not in markdown and "_assets/" in markdown
    shutil.rmtree(course / "build")
    Images.served.clear()
    again = run_build(course, "slides/web.md", "--pdf")
    assert again.returncode == 0, again.stderr
    assert Images.served == []                                      # from the cache, no request
    assert len(PdfReader(course / "build" / "web.pdf").pages[0].images) == 1


def test_a_server_that_never_answers_costs_seconds_not_the_pdf(course, silent_server):
    url = f"{silent_server}/slow.png"
    deck(course, f"# One\n\ntext\n\n---\n\n# Two\n\n![Diagram of attention]({url})\n\n"
                 "![typo](images/no-such-picture.png)\n")
    started = time.monotonic()
    proc = run_build(course, "slides/web.md", "--pdf")
    assert time.monotonic() - started < 30
    assert proc.returncode == 0, proc.stderr
    assert f"warning: slides/web.md slide 2: {url} could not be fetched (no answer" in proc.stderr
    assert "warning: slides/web.md slide 2: images/no-such-picture.png does not exist" in proc.stderr
    assert proc.stderr.count("warning:") == 2
    text = PdfReader(course / "build" / "web.pdf").pages[1].extract_text()
    assert "Image not available" in text and "Diagram of attention" in text  # the placeholder
    strict = run_build(course, "slides/web.md", "--html", "--strict")
    assert strict.returncode == 1 and "warnings are errors with --strict" in strict.stderr


def test_a_hand_written_deck_with_dead_links_builds_with_one_warning_each(course):
    """Like the lecturer's own Session 12 deck: a logo in the footer, backgrounds, a
    video; every host unreachable (.invalid never resolves)."""
    logo, background = "https://logo.invalid/tafe-logo.jpg", "https://cdn.invalid/bg.jpg?token=x.y.z"
    deck(course, "<!-- _class: lead -->\n\n# Welcome\n\n"
                 f"![bg blur:1px]({background})\n\n---\n\n## Overview\n\n![bg right:40% fit](https://img.invalid/arch.png)\n\n"
                 '---\n\n<iframe width="100%" height="580" src="https://www.youtube.com/embed/wjZofJX0v4M" '
                 'title="A visual intro to transformers"></iframe>\n\n---\n\n'
                 f"# The end\n\n![bg]({background})\n\n```markdown\n![not fetched](https://code.invalid/x.png)\n```\n",
         front=f'footer: "![height:50px]({logo})"\n')
    proc = run_build(course, "slides/web.md")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4, proc.stderr
    assert any(f"slide 1 (and 3 more): {logo}" in w for w in warnings)
    assert any(f"slide 1 (and 1 more): {background}" in w for w in warnings)
    assert any("slide 3: the thumbnail of https://www.youtube.com/embed/wjZofJX0v4M" in w for w in warnings)
    assert "code.invalid" not in proc.stderr                    # code is not an image
    html = (course / "build" / "web.html").read_text()
    assert '<iframe width="100%" height="580" src="https://www.youtube.com/embed/wjZofJX0v4M"' in html
    pdf = PdfReader(course / "build" / "web.pdf")
    assert "A visual intro to transformers" in pdf.pages[2].extract_text()
    links = [a.get_object()["/A"]["/URI"] for a in pdf.pages[2].get("/Annots", [])]
    assert "https://www.youtube.com/watch?v=wjZofJX0v4M" in links    # the poster is clickable
    web = (course / "build" / "web.md").read_text()
    placeholder = re.search(r"!\[bg blur:1px\]\((_assets/missing-\w+\.svg)\)", web)
    assert "Background image not available: cdn.invalid" in (course / "build" / placeholder.group(1)).read_text()
    assert "Image not available" in pdf.pages[1].extract_text()        # the logo's, in the footer


def test_fig_alt_reaches_the_image_and_fig_cap_shows(course):
    deck(course, "# Chart\n\n```python run\n#| echo: false\n#| fig-alt: Three bars, b the shortest\n"
                 "#| fig-cap: Counts per letter\nimport matplotlib.pyplot as plt\n"
                 "plt.bar(['a', 'b', 'c'], [3, 1, 2]);\n```\n")
    proc = run_build(course, "slides/web.md", "--html")
    assert proc.returncode == 0, proc.stderr
    html = (course / "build" / "web.html").read_text()
    assert 'alt="Three bars, b the shortest"' in html
    assert "<figcaption>Counts per letter</figcaption>" in html

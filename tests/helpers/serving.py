"""A running `deckrun watch` (or `present`) in a subprocess, and a client of its event
stream and its actions."""
from __future__ import annotations

import http.client
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .course import REPO


class Watching:
    """`python build.py watch --port 0` (or another serving command) and a client of its
    event stream."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None, command: str = "watch") -> None:
        self.root = root
        self.proc = subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(root),
                                      command, "--port", "0", *args], cwd=root, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output: list[str] = []
        self.url = ""
        self.originals: dict[Path, str] = {}  # files edited by the test running now
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        assert ready.wait(180), "\n".join(self.output)
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._listen, daemon=True).start()
        self.expect("errors")  # the stream says hello with the current errors

    def _read(self, ready: threading.Event) -> None:
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                self.url = found.group(1)
                ready.set()

    def _listen(self) -> None:
        event = None
        with urllib.request.urlopen(self.url + "_deckrun/events") as stream:
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    self.events.put((event, json.loads(line[6:])))

    def expect(self, kind: str, timeout: float = 120, until=lambda data: True) -> dict:
        """The next event of `kind` (for which `until` holds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event, data = self.events.get(timeout=1)
            except queue.Empty:
                continue
            if event == kind and until(data):
                return data
        raise AssertionError(f"no '{kind}' event; watcher said:\n" + "\n".join(self.output[-30:]))

    def _heard(self, kinds: tuple[str, ...], timeout: float) -> bool:
        """Has one of these events come within `timeout` seconds?"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.events.get(timeout=1)[0] in kinds:
                    return True
            except queue.Empty:
                continue
        return False

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path) as response:
            return response.read().decode()

    def settle(self, quiet: float = 0.5, timeout: float = 120) -> None:
        """Wait until the watcher has said nothing for `quiet` seconds (a rebuild may still
        be finishing: a rerun publishes a deck twice, as soon as the edited cell is done,
        then when the rest is); then forget the events so far."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline and seen != len(self.output):
            seen = len(self.output)
            time.sleep(quiet)
        while not self.events.empty():
            self.events.get_nowait()

    def edit(self, relative: str, old: str, new: str) -> None:
        """Save an edit, once the watcher is done with the one before (whose late events,
        such as a second reload of a deck published early, are not this edit's)."""
        self.settle()
        while not self.events.empty():
            self.events.get_nowait()
        path = self.root / relative
        text = path.read_text()
        self.originals.setdefault(path, text)
        assert old in text, old
        path.write_text(text.replace(old, new))

    def restore(self) -> None:
        """Put back what the test edited (and let the watcher rebuild it): the next test
        starts from the course as it was, whatever ran before it."""
        if self.originals:
            self.settle()
            while not self.events.empty():
                self.events.get_nowait()
            changed = {path: text for path, text in self.originals.items() if path.read_text() != text}
            for path, text in changed.items():
                path.write_text(text)
            self.originals.clear()
            if changed:  # its rebuild is done when it says so (silence alone can be a busy machine)
                self._heard(("reload", "errors"), timeout=60)
            self.settle(quiet=1.0)
        self.runs()

    def stop(self) -> int:
        """Ctrl-C, as a lecturer stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def __enter__(self) -> "Watching":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def runs(self) -> list[str]:
        log = self.root / "runs.log"
        lines = log.read_text().split() if log.exists() else []
        log.write_text("")
        return lines


def post(url: str, path: str, body: dict | None = None, token: str | None = None,
         host: str | None = None) -> tuple[int, str]:
    """A POST to a running preview: its status and body (`host`: another Host header)."""
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")), timeout=30)
    headers = {"Content-Type": "application/json", **({"X-Deckrun-Token": token} if token else {})}
    if host:
        headers["Host"] = host
    connection.request("POST", path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")

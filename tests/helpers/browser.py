"""A page in headless Chromium for tests and benchmarks (browser.cjs over a pipe)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


class BrowserError(AssertionError):
    pass


class Browser:
    """`open` a URL, `eval` or `wait` for an expression in it, `click` an element."""

    def __init__(self) -> None:
        from deckrun.core.tools import node, node_packages
        from deckrun.render.marp import find_browser

        self.proc = subprocess.Popen([str(node()), str(HERE / "browser.cjs"), str(node_packages(REPO)),
                                      str(find_browser())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def _ask(self, **request: Any) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser helper stopped ({request})")
        answer = json.loads(line)
        if "error" in answer:
            raise BrowserError(f"{answer['error']} ({request})")
        return answer

    def open(self, url: str, width: int = 1280, height: int = 720) -> None:
        self._ask(open=url, width=width, height=height)

    def eval(self, expression: str) -> Any:
        return self._ask(eval=expression)["value"]

    def wait(self, expression: str, timeout: float = 30) -> tuple[Any, float]:
        """The expression's first truthy value, and when (epoch seconds) the frame showing
        it was painted."""
        answer = self._ask(wait=expression, timeout=int(timeout * 1000))
        return answer["value"], answer["at"] / 1000

    def click(self, selector: str) -> None:
        self._ask(click=selector)

    def hover(self, selector: str) -> None:
        self._ask(hover=selector)

    def press(self, key: str) -> None:
        self._ask(key=key)

    def screenshot(self, path: Path) -> Path:
        self._ask(shot=str(path))
        return path

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Marp Markdown -> HTML / PDF / PPTX with the Marp CLI pinned in package.json.

Success is judged by the output file (present, complete, of the right kind), never by
Marp's exit code alone: with arguments in the wrong order Marp prints its help and exits 0.
Output is written to a temporary name and moved into place, so a failed render never
replaces a good file with a broken one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .errors import ToolError

FORMATS = ("html", "pdf", "pptx")
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "microsoft-edge", "microsoft-edge-stable")
BROWSER_TIMEOUT = 120  # seconds per browser operation (large decks with many figures)
ENGINE_CONFIG = Path(__file__).with_name("marp.config.json")


def find_browser() -> Path:
    """The system's Chrome/Chromium/Edge; CHROME_PATH overrides."""
    override = os.environ.get("CHROME_PATH")
    if override:
        if not os.access(override, os.X_OK):
            raise ToolError(f"CHROME_PATH={override} is not an executable browser")
        return Path(override)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ToolError("PDF and PPTX output need Chrome, Chromium or Edge, and none was found.\n"
                    "Install one (Debian/Ubuntu: sudo apt-get install chromium) "
                    "or set CHROME_PATH to its executable.")


def find_marp(root: Path) -> Path:
    """The pinned Marp CLI: the course's own node_modules, else deckrun's checkout's."""
    for folder in (root, Path(__file__).resolve().parent.parent):
        marp = folder / "node_modules" / ".bin" / "marp"
        if marp.exists():
            return marp
    raise ToolError(f"the Marp CLI is not installed in {root / 'node_modules'}: "
                    "run `npm ci` (or `./run setup`) in the project folder")


def marp_command(root: Path, markdown: Path, fmt: str, output: Path, themes: Path,
                 extra: tuple[str, ...] = ()) -> list[str]:
    # Input files must come before --theme-set, which takes several values.
    command = [str(find_marp(root)), str(markdown), "--html",
               "--config-file", str(ENGINE_CONFIG), "-o", str(output), *extra]
    if fmt != "html":
        command += [f"--{fmt}", "--allow-local-files",
                    "--browser-path", str(find_browser()),
                    "--browser-timeout", str(BROWSER_TIMEOUT)]
    if fmt == "pdf":
        command.append("--pdf-outlines")
    if themes.is_dir() and any(themes.glob("*.css")):
        command += ["--theme-set", str(themes)]
    return command


def render(root: Path, markdown: Path, fmt: str, output: Path, themes: Path,
           worker: "MarpWorker | None" = None, extra: tuple[str, ...] = ()) -> Path:
    """Render `markdown` to `output` in `fmt`; raise ToolError with Marp's words on failure.
    With a `worker` (watch mode), the conversion runs in a Marp CLI kept loaded. `extra`
    are more Marp options (metadata: --author, --description)."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.{fmt}")
    partial.unlink(missing_ok=True)
    command = marp_command(root, markdown, fmt, partial, themes, extra)
    returncode, said = worker.run(command[1:]) if worker else _run_marp(command, root)
    problem = _check_output(partial, fmt)
    if returncode != 0 or problem:
        partial.unlink(missing_ok=True)
        said = _marp_messages(said)
        raise ToolError(f"Marp could not write {output.name}: {problem or f'exit code {returncode}'}"
                        + (f"\n{said}" if said else ""))
    partial.replace(output)
    return output


def _run_marp(command: list[str], cwd: Path) -> tuple[int, str]:
    """Run Marp; if the build is interrupted (Ctrl-C, the watcher stopping), take Marp's
    browser down with it (it runs in a process group of its own, so look by parentage)."""
    proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate()
    except BaseException:
        kill_tree(proc.pid)
        proc.wait()
        raise
    return proc.returncode, "\n".join(line for line in out.splitlines() if line.strip())


def _marp_messages(said: str) -> str:
    """Marp's warnings and errors, without the usage text it prints after some of them."""
    lines = said.splitlines()
    logged = [line for line in lines if line.lstrip().startswith("[")]
    return "\n".join(logged or lines[:10])


class MarpWorker:
    """A Node process with the Marp CLI loaded and, once a check is asked for, a browser
    open (deckrun/marp_worker.mjs, checker.mjs)."""

    DONE = "@@deckrun-done "

    def __init__(self, root: Path) -> None:
        package = find_marp(root).resolve().parent  # .bin/marp -> @marp-team/marp-cli/marp-cli.js
        self.proc = subprocess.Popen(
            ["node", str(Path(__file__).with_name("marp_worker.mjs")), str(package / "lib" / "index.js")],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)

    def _ask(self, request: dict) -> tuple[dict, str]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        said = []
        for line in self.proc.stdout:
            if line.startswith(self.DONE):
                return json.loads(line[len(self.DONE):]), "\n".join(said)
            if line.strip():
                said.append(line.rstrip())
        raise ToolError("the Marp worker stopped: " + "\n".join(said))

    def run(self, arguments: list[str]) -> tuple[int, str]:
        answer, said = self._ask({"marp": arguments})
        return int(answer.get("code", 1)), said

    def check(self, html: Path, accessibility: bool) -> list[dict]:
        """What checker.mjs finds in a rendered deck: overflow, alt text, contrast."""
        answer, said = self._ask({"check": str(html), "browser": str(find_browser()),
                                  "accessibility": accessibility})
        if "reports" not in answer:
            raise ToolError(f"could not check {html.name} in the browser: {answer.get('error') or said}")
        return answer["reports"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)


def kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _check_output(path: Path, fmt: str) -> str:
    """Why `path` is not a complete file of kind `fmt` ('' when it is)."""
    if not path.exists() or path.stat().st_size == 0:
        return "no output file was written"
    with path.open("rb") as handle:
        head = handle.read(1024)
        handle.seek(max(path.stat().st_size - 1024, 0))
        tail = handle.read()
    if fmt == "pdf" and not (head.startswith(b"%PDF-") and b"%%EOF" in tail):
        return "the PDF is incomplete"
    if fmt == "pptx" and not head.startswith(b"PK"):
        return "the PPTX is not a valid file"
    if fmt == "html" and b"</html>" not in tail.lower():
        return "the HTML is incomplete"
    return ""

"""Marp Markdown -> HTML / PDF / PPTX with the Marp CLI pinned in package.json.

Success is judged by the output file (present, complete, of the right kind), never by
Marp's exit code alone: with arguments in the wrong order Marp prints its help and exits 0.
Output is written to a temporary name and moved into place, so a failed render never
replaces a good file with a broken one.
"""
from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from ..core.errors import ToolError
from ..core.files import DiskFull
from ..core.options import FORMATS
from ..core.processes import kill_group
from ..core.tools import marp_cli, node, node_environment

MARP_KINDS = sorted({f.marp for f in FORMATS.values()})  # what Marp CLI writes: html, pdf, pptx
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "microsoft-edge", "microsoft-edge-stable")
# Seconds per browser operation (Marp's own limit); a slow machine may need more.
BROWSER_TIMEOUT = float(os.environ.get("DECKRUN_BROWSER_TIMEOUT", 30))
# Seconds a conversion may take, in all: Marp can wait minutes for a browser that hangs.
RENDER_BASE, RENDER_PER_SLIDE = 40.0, 1.0
CHECK_LIMIT = 60.0
_STACK_FRAME = re.compile(r"^\s*at\s|\(\S+\.m?js:\d+:\d+\)\s*$")  # (a JavaScript stack trace's lines)
_DISK_FULL = re.compile(r"ENOSPC|EFBIG|EDQUOT|no space left|file too large", re.IGNORECASE)
ENGINE_CONFIG = Path(__file__).with_name("marp.config.json")
WORKER = Path(__file__).with_name("worker.mjs")  # (it imports browser.mjs beside it)


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


def find_marp(root: Path) -> list[str]:
    """The pinned Marp CLI as a command: deckrun's Node.js and the CLI's script (the Node
    packages are installed on first use: see core/tools.py)."""
    return [str(node()), str(marp_cli(root))]


def marp_options(fmt: str, config: Path) -> list[str]:
    """Marp CLI options for the format named `fmt` (input files come before them), with
    the configuration `engine_config` made."""
    kind = FORMATS[fmt].marp
    options = ["--html", "--config-file", str(config)]
    if kind != "html":
        options += [f"--{kind}", "--allow-local-files", "--browser-path", str(find_browser()),
                    "--browser-timeout", f"{BROWSER_TIMEOUT:g}"]
    if kind == "pdf":
        options.append("--pdf-outlines")
    return options


# Marp CLI's configuration for deckrun's renders: the course's own Marp configuration,
# loaded as Marp CLI loads it (cosmiconfig, "marp"), with deckrun's themes added to its theme
# set and deckrun's engine defaults under its options; what would change the files Marp
# writes (their format, where, watching) is deckrun's to say.
_ENGINE_MODULE = """// Made by deckrun (render/marp.py) for Marp CLI: do not edit.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
const course = %(course)s
const themes = %(themes)s
const defaults = %(defaults)s
let config = {}
if (course) {
  const loader = await import(pathToFileURL(%(loader)s).href)
  const { cosmiconfig } = loader.cosmiconfig ? loader : loader.default
  config = (await cosmiconfig('marp').load(course))?.config ?? {}
}
const base = course ? path.dirname(course) : process.cwd()
const list = value => value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]
const local = value => typeof value === 'string' && !path.isAbsolute(value) ? path.resolve(base, value) : value
const isTable = value => value && typeof value === 'object' && !Array.isArray(value)
const merged = (under, over) => Object.fromEntries(
  [...new Set([...Object.keys(under), ...Object.keys(over)])].map(key =>
    [key, isTable(under[key]) && isTable(over[key]) ? merged(under[key], over[key]) : over[key] ?? under[key]]))
const own = { ...config }
for (const key of %(dropped)s) delete own[key]
export default {
  ...own,
  themeSet: [...list(config.themeSet).map(local), ...themes],
  // (a theme is a file, or a name)
  ...(config.theme ? { theme: existsSync(local(config.theme)) ? local(config.theme) : config.theme } : {}),
  ...(typeof config.engine === 'string' && config.engine.startsWith('.') ? { engine: local(config.engine) } : {}),
  options: merged(defaults.options ?? {}, config.options ?? {}),
}
"""
# Settings of a Marp configuration that decide which files Marp writes: deckrun decides.
_DROPPED = ("inputDir", "output", "watch", "server", "preview", "pdf", "pptx", "pptxEditable", "image", "images",
            "notes", "configFile", "themeSet", "theme", "options")


def engine_config(root: Path, themes: Path, folder: Path) -> Path:
    """Write (if it changed) the configuration Marp CLI renders the course's decks with
    (`folder`/marp.config.mjs: see _ENGINE_MODULE); `themes` is deckrun's theme folder."""
    from ..core.files import write_if_changed
    from ..core.tools import node_packages
    from ..source.marpconfig import find_marp_config

    course = find_marp_config(root)
    text = _ENGINE_MODULE % {
        "course": json.dumps(str(course) if course else None),
        "themes": json.dumps([str(themes)] if themes.is_dir() and any(themes.glob("*.css")) else []),
        "defaults": ENGINE_CONFIG.read_text(encoding="utf-8").strip(),
        "loader": json.dumps(str(node_packages(root) / "cosmiconfig" / "dist" / "index.js")) if course else "null",
        "dropped": json.dumps(list(_DROPPED))}
    target = folder / "marp.config.mjs"
    write_if_changed(target, text)
    return target


@dataclass(frozen=True)
class RenderJob:
    """One output to make: `markdown` converted to the format named `fmt` (core/options.py's
    FORMATS), moved into place at `target`. A worker converting HTML keeps the engine under
    `settings` (the digest of what the render depends on but the Markdown) and the slides
    under `version` (that and the Markdown): the preview renders a save's slides with them."""
    markdown: Path
    fmt: str
    target: Path
    slides: int = 1
    settings: str = ""
    version: str = ""


def _kept(jobs: dict["RenderJob", Path]) -> dict[str, Any] | None:
    """What a worker converting `jobs` (each from its input file) keeps for the preview."""
    settings = {job.settings for job in jobs}
    if len(settings) != 1 or "" in settings or any(FORMATS[job.fmt].marp != "html" for job in jobs):
        return None
    return {"settings": settings.pop(), "versions": {str(file): job.version for job, file in jobs.items()}}


def render_all(root: Path, jobs: list[RenderJob], config: Path,
               worker: "MarpWorker | None" = None) -> dict[RenderJob, Exception | None]:
    """Make every job's output (none editable: see render/powerpoint.py) with as few Marp
    runs as there are formats: Marp converts
    many files in one process, with one browser and its own parallelism. Each Markdown
    is converted from a temporary copy beside it (its relative paths still hold; Marp
    writes the output beside the input), then checked and moved to its target, so no
    target is ever half-written. A job whose output did not come out is converted again
    on its own, for its own error message. Returns each job's error, or None."""
    outcomes: dict[RenderJob, Exception | None] = {}
    for fmt in FORMATS:
        batch = [job for job in jobs if job.fmt == fmt]
        if len(batch) > 1:
            outcomes.update(_render_batch(root, batch, config, worker))
        for job in batch:
            if outcomes.get(job, "missing") is not None:
                try:
                    render(root, job, config, worker)
                    outcomes[job] = None
                except (ToolError, OSError) as exc:
                    outcomes[job] = exc
    return outcomes


def _render_batch(root: Path, batch: list[RenderJob], config: Path,
                  worker: "MarpWorker | None") -> dict[RenderJob, Exception | None]:
    token = f"{os.getpid()}-{threading.get_ident() % 10000}"
    inputs = {job: job.markdown.with_name(f".{job.markdown.stem}.batch{token}.md") for job in batch}
    outcomes: dict[RenderJob, Exception | None] = {}
    try:
        for job, copy in inputs.items():
            shutil.copyfile(job.markdown, copy)
        arguments = [*map(str, inputs.values()), *marp_options(batch[0].fmt, config)]
        limit = RENDER_BASE + RENDER_PER_SLIDE * sum(job.slides for job in batch)
        try:
            worker.run(arguments, limit, _kept(inputs)) if worker else \
                _run_marp([*find_marp(root), *arguments], root, limit)
        except _Hung:
            return {}  # each job is then tried on its own, and reports its own failure
        for job, copy in inputs.items():
            kind = FORMATS[job.fmt].marp
            output = copy.with_suffix(f".{kind}")
            if not check_output(output, kind):
                job.target.parent.mkdir(parents=True, exist_ok=True)
                output.replace(job.target)
                outcomes[job] = None
    finally:
        for copy in inputs.values():
            copy.unlink(missing_ok=True)
            for kind in MARP_KINDS:
                copy.with_suffix(f".{kind}").unlink(missing_ok=True)
    return outcomes


def render(root: Path, job: RenderJob, config: Path, worker: "MarpWorker | None" = None) -> Path:
    """Make one job's output; raise ToolError with Marp's words on failure. With a
    `worker` (watch mode), the conversion runs in a Marp CLI kept loaded."""
    fmt, kind, output = job.fmt, FORMATS[job.fmt].marp, job.target
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial.{kind}")
    partial.unlink(missing_ok=True)
    arguments = [str(job.markdown), *marp_options(fmt, config), "-o", str(partial)]
    browser = f" (browser: {find_browser()})" if kind != "html" else ""
    limit = RENDER_BASE + RENDER_PER_SLIDE * job.slides
    try:
        returncode, said = worker.run(arguments, limit, _kept({job: job.markdown})) if worker else \
            _run_marp([*find_marp(root), *arguments], root, limit)
    except _Hung as hung:
        partial.unlink(missing_ok=True)
        what = "the browser did not answer" if kind != "html" else "Marp did not answer"
        raise ToolError(f"Marp could not write {output.name}{browser}: {what} within {limit:.0f} s; "
                        "it was stopped" + (f"\n{_marp_messages(str(hung))}" if str(hung) else "")) from None
    problem = check_output(partial, kind)
    if returncode != 0 or problem:
        partial.unlink(missing_ok=True)
        said = _marp_messages(said)
        if _DISK_FULL.search(said):
            raise DiskFull(output, said.splitlines()[-1])
        raise ToolError(f"Marp could not write {output.name}{browser}: {problem or f'exit code {returncode}'}"
                        + (f"\n{said}" if said else ""))
    partial.replace(output)
    return output


def _run_marp(command: list[str], cwd: Path, limit: float) -> tuple[int, str]:
    """Run Marp in a process group of its own, so that it and its browser go together:
    when the build is interrupted, or when Marp has given up on a browser that hangs
    (it would otherwise wait for that browser to go away)."""
    proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, env=node_environment())
    try:
        assert proc.stdout  # (piped)
        said = _read_answer(_Lines(proc.stdout), lambda line: False, limit)
        return proc.wait(), "\n".join(said)
    finally:
        kill_group(proc)


class _Lines:
    """What a child process prints, line by line, read in a thread so waiting can end."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line; None at the end; queue.Empty if none came in time."""
        return self.queue.get(timeout=timeout)


def _read_answer(lines: _Lines, done: Callable[[str], bool], limit: float) -> list[str]:
    """Marp's lines until `done` says one is the last, or the output ends, within `limit`
    seconds (raise _Hung past it); after Marp reports an error, within a few seconds."""
    said: list[str] = []
    deadline = time.monotonic() + limit
    while True:
        try:
            line = lines.next(max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise _Hung("\n".join(said)) from None
        if line is None:
            return said
        if line.strip():
            said.append(line.rstrip())
        if done(line):
            return said
        if "ERROR ]" in line or line.startswith("Failed "):
            deadline = min(deadline, time.monotonic() + 5)


class _Hung(Exception):
    """Marp did not finish in time (a browser that hangs); carries what it said."""


def _marp_messages(said: str) -> str:
    """Marp's warnings and errors, without the usage text it prints after some of them
    (run in the worker, its errors come without the "[ ERROR ]" prefix)."""
    kept: list[str] = []
    for line in said.splitlines():
        if re.match(r"\s*(Usage:|Options:|Basic Options:)", line):
            break
        kept.append(line)
    return "\n".join(kept[:20])


@dataclass(frozen=True)
class Slide:
    """One slide as Marp renders it in a page: its <svg> and its notes."""
    index: int
    html: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ChangedSlides:
    """The slides a save changed, of the deck's `total`."""
    total: int
    slides: tuple[Slide, ...]


class MarpWorker:
    """A Node process with the Marp CLI loaded and, once a check is asked for, a browser
    open (worker.mjs, browser.mjs beside this file). One that hangs is killed, and the next
    request starts a new one. The preview's (`keeps`) keeps the engine and the slides of
    its HTML conversions, to render a save's changed slides with them (slides.mjs)."""

    DONE = "@@deckrun-done "

    def __init__(self, root: Path, start: bool = True, background: bool = False, keeps: bool = False) -> None:
        self.root = root
        self.background = background  # at a low priority, for work nobody waits for
        self.keeps = keeps  # (the preview's) what a conversion asks to keep, it keeps
        self.proc: subprocess.Popen[str] | None = None
        self._lines: _Lines | None = None
        self._browser = False  # may it have opened a browser (a check, a PDF)?
        self._lock = threading.Lock()  # one request at a time (decks build in threads)
        find_marp(root)  # no Node or no Marp CLI: said now
        if start:
            self.warm_up()

    def warm_up(self) -> None:
        """Start loading the Marp CLI, so that it is ready when the first request comes."""
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()

    def _start(self) -> None:
        node, cli = find_marp(self.root)
        package = Path(cli).parent  # @marp-team/marp-cli/
        self.proc = subprocess.Popen(
            (["nice", "-n", "10"] if self.background and shutil.which("nice") else [])
            + [node, str(WORKER), str(package / "lib" / "index.js")],
            cwd=self.root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, start_new_session=True, env=node_environment())
        assert self.proc.stdout  # (piped)
        self._lines = _Lines(self.proc.stdout)

    def _ask(self, request: dict[str, Any], limit: float) -> tuple[dict[str, Any], str]:
        with self._lock:
            self._browser = self._browser or "marp" not in request or any(  # (Marp makes HTML without one)
                arg in request["marp"] for arg in ("--pdf", "--pptx", "--image", "--images"))
            return self._ask_now(request, limit)

    def _ask_now(self, request: dict[str, Any], limit: float) -> tuple[dict[str, Any], str]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc and self.proc.stdin and self._lines
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        try:
            said = _read_answer(self._lines, lambda line: line.startswith(self.DONE), limit)
        except BaseException:
            self._stop()  # a hung or interrupted worker is not reused
            raise
        if not said or not said[-1].startswith(self.DONE):
            self._stop()
            raise ToolError("the Marp worker stopped: " + "\n".join(said))
        answer: dict[str, Any] = json.loads(said[-1][len(self.DONE):])
        return answer, "\n".join(said[:-1])

    def run(self, arguments: list[str], limit: float, keep: dict[str, Any] | None = None) -> tuple[int, str]:
        answer, said = self._ask({"marp": arguments, "keep": keep if self.keeps else None}, limit)
        return int(answer.get("code", 1)), said

    def changed_slides(self, markdown: Path, since: str, version: str, settings: str) -> "ChangedSlides | None":
        """The slides of `markdown` (the deck at `version`) that differ from the deck at
        `since`, rendered by the engine of the last HTML conversion with `settings`; None
        when only a whole page will do (slides.mjs says why)."""
        answer, _ = self._ask({"slides": str(markdown), "since": since, "version": version, "settings": settings},
                              RENDER_BASE)
        if "changed" not in answer:
            return None
        return ChangedSlides(int(answer["total"]), tuple(Slide(int(s["index"]), str(s["html"]), tuple(s["notes"]))
                                                         for s in answer["changed"]))

    def check(self, html: Path, accessibility: bool) -> list[dict[str, Any]]:
        """What browser.mjs finds in a rendered deck: overflow, alt text, contrast."""
        try:
            answer, said = self._ask({"check": str(html), "browser": str(find_browser()),
                                      "accessibility": accessibility}, CHECK_LIMIT)
        except _Hung:
            raise ToolError(f"could not check {html.name}: the browser ({find_browser()}) did not answer") from None
        if "reports" not in answer:
            raise ToolError(f"could not check {html.name} in the browser: {answer.get('error') or said}")
        reports: list[dict[str, Any]] = answer["reports"]
        return reports

    def still(self, page: Path, png: Path) -> Path:
        """A picture of a page's content (an interactive output), taken in the browser."""
        try:
            answer, said = self._ask({"still": str(page), "png": str(png), "browser": str(find_browser())},
                                     CHECK_LIMIT)
        except _Hung:
            raise ToolError(f"no still picture of {page.name}: the browser ({find_browser()}) did not answer") from None
        if "png" not in answer or not png.exists():
            raise ToolError(f"no still picture of {page.name}: {answer.get('error') or said}")
        return png

    def mermaid(self, source: str, look: dict[str, Any], name: str) -> str:
        """A Mermaid diagram drawn as SVG by Mermaid in the browser; DiagramFailed with
        Mermaid's words when it cannot read it."""
        from ..execute.diagrams import DiagramFailed

        try:
            answer, said = self._ask({"mermaid": source, "look": look, "id": name, "browser": str(find_browser())},
                                     CHECK_LIMIT)
        except _Hung:
            raise ToolError(f"Mermaid did not answer in the browser ({find_browser()})") from None
        if "svg" not in answer:
            words = str(answer.get("error") or said).removeprefix("Error: ").splitlines()
            raise DiagramFailed("\n".join(line for line in words if not _STACK_FRAME.search(line)))
        svg: str = answer["svg"]
        return svg

    def layout(self, html: Path, folder: Path, slides: int) -> dict[str, Any]:
        """A rendered deck taken apart in the browser (layout.mjs): its slides' text, tables,
        code, pictures (written to `folder`) and notes, where the slide has them."""
        what = f"could not take {html.name} apart for PowerPoint"
        try:
            answer, said = self._ask({"layout": str(html), "folder": str(folder), "browser": str(find_browser())},
                                     RENDER_BASE + RENDER_PER_SLIDE * slides)
        except _Hung:
            raise ToolError(f"{what}: the browser ({find_browser()}) did not answer") from None
        if "layout" not in answer:
            raise ToolError(f"{what}: {answer.get('error') or said}")
        measured: dict[str, Any] = json.loads(Path(answer["layout"]).read_text(encoding="utf-8"))
        return measured

    def _stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, self._browser)
        self.proc = self._lines = None
        self._browser = False

    def close(self) -> None:
        """Stop it, its browser and whatever they started (nothing it did is pending)."""
        with self._lock:
            self._stop()



def check_output(path: Path, kind: str) -> str:
    """Why `path` is not a complete file of `kind` (html, pdf, pptx; '' when it is)."""
    if not path.exists() or path.stat().st_size == 0:
        return "no output file was written"
    with path.open("rb") as handle:
        head = handle.read(1024)
        handle.seek(max(path.stat().st_size - 1024, 0))
        tail = handle.read()
    if kind == "pdf" and not (head.startswith(b"%PDF-") and b"%%EOF" in tail):
        return "the PDF is incomplete"
    if kind == "pptx" and not head.startswith(b"PK"):
        return "the PPTX is not a valid file"
    if kind == "html" and b"</html>" not in tail.lower():
        return "the HTML is incomplete"
    return ""

"""`build.py present`: the built decks served for presenting, their cells live.

Each deck gets a kernel warmed in the background: its cells run in order (their outputs
change nothing), so that the models and data a slide's code needs are loaded when the
lecturer edits that code in front of the class and runs it again (present.js on the
page). A live run's printed text streams onto the slide; its result is formatted with
the deck's own templates and rendered by Marp like the deck, so it looks the same. A
time-out interrupts it (a kernel that ignores that is restarted and warmed again).

Nothing the course keeps is written: the decks presented are copies in a folder of their
own (build/'s figures and images are served beside them), live outputs go there too.
Only when the lecturer keeps an edit is it written back to its source file and built as
a save would be (the cache takes the new output; the pages are patched).
"""
from __future__ import annotations

import html
import re
import shutil
import tempfile
import threading
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.errors import DeckError, Location, ToolError
from ..core.files import build_lock, write_atomic
from ..core.options import BuildOptions
from ..core.progress import Progress
from ..core.project import Project
from ..core.tools import node_packages
from ..execute.connection import KernelDied
from ..execute.execution import Execution, execute_settings, kernel_settings
from ..execute.outputs import CellResult, Error
from ..execute.warm import KernelPool
from ..format.markdown import CellFormatter, FigureFolder, templates_for
from ..format.rendition import cell_name
from ..pipeline.build import Session, Variant, build_decks, render_pending, render_variant, theme_folder
from ..render.marp import MarpWorker, RenderJob, render
from ..source.cells import Cell
from ..source.deck import Deck
from .server import EVENTS, TOKEN_HEADER, Broadcast, Extras, PreviewServer
from .watch import kill_tree_children

PRESENT_SCRIPT = Path(__file__).with_name("present.js")
MAX_CODE = 1_000_000  # characters of a live cell's code
_SECTION = re.compile(r"<section\b[^>]*>([\s\S]*?)</section>")


@dataclass
class LiveDeck:
    """A deck being presented: as built, its shown cells by name, and the one thread its
    kernel's work (warming, live runs) goes through in turn."""
    deck: Deck
    execution: Execution
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))

    def cells(self, project: Project) -> dict[str, int]:
        return {cell_name(cell, project): index for index, cell in enumerate(self.deck.cells)
                if not cell.setup and cell.options.output != "hide"}


class Presenter:
    """The decks being presented and their live cells; tells the pages through `events`."""

    def __init__(self, project: Project, paths: list[Path], options: BuildOptions, events: Broadcast,
                 progress: Progress) -> None:
        self.project, self.paths, self.events, self.progress = project, paths, events, progress
        self.options = replace(options, formats=("html",))
        self.folder = Path(tempfile.mkdtemp(prefix="deckrun-present-"))
        self.session = Session.open(project, self.options, progress, kernels=KernelPool(keep_warm=True),
                                    marp=MarpWorker(project.root))
        self.decks: dict[str, LiveDeck] = {}
        self._lock = threading.Lock()  # builds (start, a kept edit)

    # -- the decks, built and copied with their cells marked

    def build(self, paths: list[Path]) -> None:
        """Build the decks (from the cache: nothing runs that is cached) and make the
        presented copies; the decks that failed are said, not presented."""
        with self._lock, build_lock(self.project.build_dir, self.progress.note):
            reports = build_decks(paths, self.options, self.session)
            for report in reports:
                if report.built is None:
                    continue
                deck, execution = report.built.deck, report.built.execution
                target = {"html": self.folder / f"{deck.name}.html"}
                log = self.progress.deck(deck.path, len(deck.cells), live=False)  # (its lines are not news)
                _, pending = render_variant(deck, execution.results, Variant(deck.name, target, marked=True,
                                                                             folder=self.folder), self.session, log)
                failure = next(filter(None, render_pending(pending, self.session).values()), None)
                if failure is not None:
                    self.progress.failed(deck.path, failure)
                    continue
                known = self.decks.get(deck.name)
                self.decks[deck.name] = LiveDeck(deck, execution, known.worker if known else ThreadPoolExecutor(1))

    def warm_all(self) -> None:
        for live in self.decks.values():
            live.worker.submit(self._warm, live)

    def _warm(self, live: LiveDeck) -> None:
        """Run the deck's cells in its kernel, in order, for the state they leave."""
        deck, total = live.deck, len(live.deck.cells)
        self.events.kernel(deck.name, "warming", 0, total)
        log = self.progress.deck(deck.path, total, live=True)
        try:
            with self._kernel(deck) as warm:
                for index, cell in enumerate(deck.cells):
                    self.events.kernel(deck.name, "warming", index, total)
                    log.on_cell_start(index, total, cell, replay=True)
                    result = warm.run(cell, index, live.execution.keys[index].key)
                    log.on_cell_executed(result)
                    if result.error and not cell.options.error:
                        raise DeckError(f"cell raised {result.error.ename}: {result.error.evalue}", cell.reference)
        except (DeckError, ToolError) as exc:
            self.events.kernel(deck.name, f"not ready: {exc}".splitlines()[0], total, total)
            self.progress.failed(deck.path, exc)
            return
        self.events.kernel(deck.name, "ready", total, total)
        self.progress.note(f"{Location(deck.path)}: its kernel is ready ({total} cells run)")

    def _kernel(self, deck: Deck):
        settings = execute_settings(self.project, deck, self.options)
        lease = self.session.kernels.lease(deck.path, kernel_settings(self.project, settings))
        return _Sending(lease, self.project, deck)

    # -- live runs, asked by the page

    def find(self, request: dict) -> tuple[LiveDeck, int, str] | str:
        """The deck and cell a request names, or why there is none (only this deck's own
        cells run: no code runs that is not a cell of a presented deck)."""
        live = self.decks.get(str(request.get("deck")))
        name = str(request.get("cell"))
        if live is None:
            return f"no deck {request.get('deck')!r} is being presented"
        index = live.cells(self.project).get(name)
        if index is None:
            return f"{live.deck.name} has no cell {name}"
        code = request.get("code")
        if not isinstance(code, str) or len(code) > MAX_CODE:
            return f"the code must be text of at most {MAX_CODE} characters"
        return live, index, code

    def run(self, request: dict) -> str | None:
        found = self.find(request)
        if isinstance(found, str):
            return found
        live, index, code = found
        live.worker.submit(self._run, live, index, code)
        return None

    def _run(self, live: LiveDeck, index: int, code: str) -> None:
        deck, cell = live.deck, replace(live.deck.cells[index], code=code)
        name = cell_name(cell, self.project)
        self.events.running(deck.name, name)
        try:
            with self._kernel(deck) as warm:
                started = warm.kernel.generation
                result = warm.run(cell, index, "live", on_stream=lambda out, text: self.events.stream(deck.name, name, out, text))
                restarted = warm.kernel.generation != started
        except (KernelDied, DeckError, ToolError) as exc:
            result, restarted = CellResult((Error(type(exc).__name__, str(exc).splitlines()[0], ""),)), True
        self.events.result(deck.name, name, self.outputs_html(deck, cell, result))
        if restarted:  # the state the deck's cells left is gone: again
            self._warm(live)

    def outputs_html(self, deck: Deck, cell: Cell, result: CellResult) -> str:
        """A live result as the slides show outputs: the deck's templates, then Marp."""
        formatter = CellFormatter(templates_for(self.project.templates_dir),
                                  FigureFolder(self.folder / f"{deck.name}_live", f"{deck.name}_live"),
                                  node_packages(self.project.root))
        markdown = "\n\n".join(filter(None, formatter.outputs(result.outputs, cell.options, paper=False)))
        if not markdown:
            return ""
        source = self.folder / f".live-{deck.name}.md"
        theme = deck.front_matter.get("theme")
        write_atomic(source, "---\nmarp: true\n" + (f"theme: {theme}\n" if theme else "") + "---\n\n" + markdown)
        try:
            page = render(self.project.root, RenderJob(source, "html", source.with_suffix(".html")),
                          theme_folder(self.session), self.session.marp)
        except ToolError as exc:
            return f'<pre><code class="language-error">{html.escape(str(exc))}</code></pre>'
        found = _SECTION.search(page.read_text(encoding="utf-8"))
        return found.group(1) if found else ""

    # -- keeping an edit

    def keep(self, request: dict) -> str | None:
        """Write a live edit back to the cell's source file, then build the deck as a save
        would (the cache takes the new output, the pages are patched)."""
        found = self.find(request)
        if isinstance(found, str):
            return found
        live, index, code = found
        try:
            write_back(live.deck.cells[index], code)
        except DeckError as exc:
            return str(exc)
        live.worker.submit(self._rebuild, live)
        return None

    def _rebuild(self, live: LiveDeck) -> None:
        self.build([live.deck.path])
        self.events.reload([live.deck.name])

    def close(self) -> None:
        for live in self.decks.values():
            live.worker.shutdown(wait=False, cancel_futures=True)
        self.session.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Sending:
    """A lease of the deck's kernel that first gives it the course's files."""

    def __init__(self, lease, project: Project, deck: Deck) -> None:
        self.lease, self.project, self.deck = lease, project, deck

    def __enter__(self):
        warm = self.lease.__enter__()
        warm.kernel.send_files(self.project.root, [self.project.snippets_dir, self.project.root / "data"])
        return warm

    def __exit__(self, *exc: object) -> None:
        self.lease.__exit__(*exc)


def write_back(cell: Cell, code: str) -> None:
    """Put `code` where the cell's code is written (the deck's fence, or the snippet
    file's cell), indented as it was; refused if that place changed since it was built."""
    path, first = cell.origin.path, cell.origin.line or 1
    if path.suffix == ".ipynb":
        return _write_back_notebook(cell, code)
    lines = path.read_text(encoding="utf-8").split("\n")
    old = cell.code.split("\n")
    indent = re.match(r"[ \t]*", lines[cell.reference.line - 1] if path == cell.reference.path and cell.reference.line else "").group(0)
    here = [line[len(indent):] if line.startswith(indent) else line for line in lines[first - 1:first - 1 + len(old)]]
    if here != old:
        raise DeckError("this cell's code changed in its file since the deck was built: save, and present again",
                        Location(path, first))
    new = [indent + line if line else "" for line in code.rstrip("\n").split("\n")]
    write_atomic(path, "\n".join(lines[:first - 1] + new + lines[first - 1 + len(old):]))


def _write_back_notebook(cell: Cell, code: str) -> None:
    """The same, into the notebook cell that holds the code (its outputs left as they are)."""
    import nbformat

    notebook = nbformat.read(cell.origin.path, as_version=4)
    holding = [c for c in notebook.cells if c.cell_type == "code" and cell.code in c.source]
    if len(holding) != 1:
        raise DeckError("this cell's code changed in its notebook since the deck was built: save, and present again",
                        cell.origin)
    holding[0].source = holding[0].source.replace(cell.code, code.rstrip("\n"), 1)
    write_atomic(cell.origin.path, nbformat.writes(notebook) + "\n")


def present_script(deck: str, token: str) -> str:
    """The page's live-cell script (present.js), its settings in a data attribute."""
    import json

    settings = {"deck": deck, "token": token, "header": TOKEN_HEADER, "events": EVENTS,
                "run": "/_deckrun/run", "keep": "/_deckrun/keep"}
    code = PRESENT_SCRIPT.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return f'<script data-deckrun-present="{html.escape(json.dumps(settings))}">{code}</script>'


def present(project: Project, paths: list[Path], options: BuildOptions, port: int, open_browser: bool,
            progress: Progress) -> int:
    """Build, serve and warm; then serve live runs until Ctrl-C."""
    import signal

    events = Broadcast()
    presenter = Presenter(project, paths, options, events, progress)
    try:
        presenter.build(paths)
        if not presenter.decks:
            raise DeckError("no deck could be presented (see above)")
        extras = Extras(presenter.folder, {"run": presenter.run, "keep": presenter.keep}, present_script)
        try:
            server = PreviewServer(project.build_dir, port, events, lambda name: None, lambda file, line: False,
                                   extras)
        except OSError as exc:
            raise DeckError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror} (choose another with --port)") from None
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        server.start()
        presenter.warm_all()
        first = next(iter(presenter.decks))
        progress.note(f"Presenting {', '.join(presenter.decks)} at {server.url}{first}.html  (Ctrl-C: stop; "
                      "the decks' kernels warm up in the background)")
        if open_browser:
            webbrowser.open(f"{server.url}{first}.html")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    finally:
        presenter.close()
        kill_tree_children()
        progress.note("stopped")
    return 0

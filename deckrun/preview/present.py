"""`deckrun present`: the built decks served for presenting, their cells live.

Each deck gets a kernel that warms up in the background (live.py: its cells run once, in
order, for the state they leave, their outputs changing nothing), so that the models and
data a slide's code needs are loaded when the lecturer edits that code in front of the
class and runs it again. A live run finds the state of its own slide, as a notebook run
from the top would have it (execute/timeline.py), streams its printed text onto the slide,
and its result is formatted with the deck's own templates and rendered by Marp like the
deck, so it looks the same.

Every page of a deck is in step (the projected window, the presenter view, another
window): code typed in one, runs, their output and resets show in all. The controls float
over the slide and move nothing on it. With --safe, a run that fails leaves the projected
slide as it was and shows the failure in the presenter view only.

Nothing the course keeps is written: the decks presented are copies in a folder of their
own (build/'s figures and images are served beside them), live outputs go there too.
Only when the lecturer keeps an edit is it written back to its source file and built as
a save would be (the cache takes the new output; the pages are patched).
"""
from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
import threading
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from ..core.errors import DeckError, Location, ToolError
from ..core.files import build_lock, write_atomic
from ..core.options import BuildOptions
from ..core.progress import Progress
from ..core.project import Project
from ..core.tools import node_packages
from ..execute.outputs import CellResult
from ..execute.settings import execute_settings, kernel_settings
from ..execute.warm import KernelPool, WarmKernel
from ..format.markdown import CellFormatter, FigureFolder, templates_for
from ..format.rendition import cell_name
from ..pipeline.build import Session, Variant, build_decks, engine, render_pending, render_variant
from ..render.marp import MarpWorker, RenderJob, render
from ..source.cells import Cell
from ..source.deck import Deck
from .live import LiveDeck
from .server import EVENTS, TOKEN_HEADER, Broadcast, Extras

PRESENT_SCRIPT = Path(__file__).with_name("present.js")
MAX_CODE = 1_000_000  # characters of a live cell's code
_SECTION = re.compile(r"<section\b[^>]*>([\s\S]*?)</section>")


class Presenter:
    """The decks being presented and their live cells; tells the pages through `events`."""

    def __init__(self, project: Project, options: BuildOptions, events: Broadcast, progress: Progress,
                 safe: bool = False) -> None:
        self.project, self.events, self.progress, self.safe = project, events, progress, safe
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
            for report in build_decks(paths, self.options, self.session):
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
                if known is not None:
                    known.rebuilt(deck)
                else:
                    self.decks[deck.name] = self._live(deck)

    def _live(self, deck: Deck) -> LiveDeck:
        names = {cell_name(cell, self.project): index for index, cell in enumerate(deck.cells)
                 if not cell.setup and cell.options.output != "hide"}
        live = LiveDeck(deck, names, self.events, lambda: self._kernel(live.deck),
                        lambda cell, result: self.outputs_html(live.deck, cell, result))
        return live

    def start(self) -> None:
        for live in self.decks.values():
            live.start()

    def _kernel(self, deck: Deck) -> _Sending:
        settings = execute_settings(self.project, deck, self.options)
        return _Sending(self.session.kernels.lease(deck.path, kernel_settings(self.project, settings)),
                        self.project)

    # -- what the pages ask (a JSON body: None when done, else why not)

    def find(self, request: dict[str, Any], with_code: bool = True) -> tuple[LiveDeck, int, str] | str:
        """The deck and cell a request names, or why there is none (only this deck's own
        cells run: no code runs that is not a cell of a presented deck)."""
        live = self.decks.get(str(request.get("deck")))
        name = str(request.get("cell"))
        if live is None:
            return f"no deck {request.get('deck')!r} is being presented"
        index = live.names.get(name)
        if index is None:
            return f"{live.deck.name} has no cell {name}"
        code = request.get("code", "") if with_code else ""
        if not isinstance(code, str) or len(code) > MAX_CODE:
            return f"the code must be text of at most {MAX_CODE} characters"
        # As a page has it: the block's last newline, and a browser's spaces (an unchanged
        # cell is its built code exactly, so what the cells after it read stands).
        return live, index, code.replace("\r\n", "\n").replace("\u00a0", " ").rstrip()

    def run_cell(self, request: dict[str, Any]) -> str | None:
        found = self.find(request)
        if isinstance(found, str):
            return found
        live, index, code = found
        live.run(index, code)
        return None

    def reset_cell(self, request: dict[str, Any]) -> str | None:
        found = self.find(request, with_code=False)
        if isinstance(found, str):
            return found
        live, index, _ = found
        self.events.reset(live.deck.name, str(request["cell"]), live.reset(index))
        return None

    def stop_cell(self, request: dict[str, Any]) -> str | None:
        found = self.find(request, with_code=False)
        if isinstance(found, str):
            return found
        live, index, _ = found
        ticket = live.stop(index)
        if ticket is not None:  # it had not started: as it was before
            self.events.cancelled(live.deck.name, str(request["cell"]), ticket)
        return None

    def edit_cell(self, request: dict[str, Any]) -> str | None:
        """Code typed in one page, for the others (nothing runs)."""
        found = self.find(request)
        if isinstance(found, str):
            return found
        live, _, code = found
        self.events.edit(live.deck.name, str(request["cell"]), code, str(request.get("view", "")))
        return None

    def keep_cell(self, request: dict[str, Any]) -> str | None:
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
        threading.Thread(target=self._rebuild, args=(live,), daemon=True).start()
        return None

    def _rebuild(self, live: LiveDeck) -> None:
        self.build([live.deck.path])
        self.events.reload({live.deck.name: ""})  # (its pages fetch it)

    def outputs_html(self, deck: Deck, cell: Cell, result: CellResult) -> str:
        """A live result as the slides show outputs: the deck's templates, then Marp."""
        formatter = CellFormatter(templates_for(self.project.templates_dir),
                                  FigureFolder(self.folder / f"{deck.name}_live",
                                               f"{PurePosixPath(deck.name).name}_live"),
                                  node_packages(self.project.root))
        markdown = "\n\n".join(filter(None, formatter.outputs(result.outputs, cell.options, paper=False)))
        if not markdown:
            return ""
        source = self.folder / f".live-{deck.name}.md"
        theme = deck.front_matter.get("theme")
        write_atomic(source, "---\nmarp: true\n" + (f"theme: {theme}\n" if theme else "") + "---\n\n" + markdown)
        try:
            page = render(self.project.root, RenderJob(source, "html", source.with_suffix(".html")),
                          engine(self.session), self.session.marp)
        except ToolError as exc:
            return f'<pre><code class="language-error">{html.escape(str(exc))}</code></pre>'
        found = _SECTION.search(page.read_text(encoding="utf-8"))
        return found.group(1) if found else ""

    def script(self, deck: str, token: str) -> str:
        """The page's live-cell script (present.js), its settings in a data attribute."""
        settings = {"deck": deck, "token": token, "header": TOKEN_HEADER, "events": EVENTS, "safe": self.safe,
                    "actions": {name: f"/_deckrun/{name}" for name in ("run", "reset", "stop", "edit", "keep")}}
        code = PRESENT_SCRIPT.read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f'<script data-deckrun-present="{html.escape(json.dumps(settings))}">{code}</script>'

    def close(self) -> None:
        for live in self.decks.values():
            live.close()
        self.session.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Sending:
    """A lease of the deck's kernel that first gives it the course's files."""

    def __init__(self, lease: AbstractContextManager[WarmKernel], project: Project) -> None:
        self.lease, self.project = lease, project

    def __enter__(self) -> WarmKernel:
        warm = self.lease.__enter__()
        warm.kernel.send_files(self.project.root, [self.project.snippets_dir, self.project.root / "data"])
        return warm

    def __exit__(self, *exc: Any) -> None:
        self.lease.__exit__(*exc)


def write_back(cell: Cell, code: str) -> None:
    """Put `code` where the cell's code is written (the deck's fence, or the snippet
    file's cell), indented as it was; refused if that place changed since it was built."""
    path, first = cell.origin.path, cell.origin.line or 1
    if path.suffix == ".ipynb":
        return _write_back_notebook(cell, code)
    lines = path.read_text(encoding="utf-8").split("\n")
    old = cell.code.split("\n")
    marked = lines[cell.reference.line - 1] if path == cell.reference.path and cell.reference.line else ""
    indent = marked[:len(marked) - len(marked.lstrip(" \t"))]
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


def present(project: Project, paths: list[Path], options: BuildOptions, port: int, open_browser: bool,
            safe: bool, progress: Progress) -> int:
    """Build, serve and warm; then serve live runs until Ctrl-C."""
    from .serving import serve

    return serve(project, Presenting(Presenter(project, options, Broadcast(), progress, safe), paths), port,
                 open_browser, progress)


class Presenting:
    """The present command's side of the served preview (see serving.Preview)."""

    def __init__(self, presenter: Presenter, paths: list[Path]) -> None:
        self.presenter, self.paths = presenter, paths
        self.events = presenter.events

    def prepare(self) -> None:
        self.presenter.build(self.paths)
        if not self.presenter.decks:
            raise DeckError("no deck could be presented (see above)")
        self.presenter.start()

    def extras(self) -> Extras:
        presenter = self.presenter
        actions: dict[str, Callable[[dict[str, Any]], str | None]] = {
                   "run": presenter.run_cell, "reset": presenter.reset_cell, "stop": presenter.stop_cell,
                   "edit": presenter.edit_cell, "keep": presenter.keep_cell}
        return Extras(presenter.folder, actions, presenter.script)

    def make_pdf(self, deck: str) -> Path | None:
        return None

    def build(self, request: dict[str, Any]) -> dict[str, Any] | None:
        return None  # (its decks are presented copies: a build command builds on its own)

    def goto(self, file: str, line: int) -> bool:
        return False

    def announce(self, url: str) -> str:
        decks = self.presenter.decks
        return (f"Presenting {', '.join(decks)} at {self.first_page(url)}  (Ctrl-C: stop; the decks' kernels warm up "
                "in the background)" + ("; safe: failures show in the presenter view only" if self.presenter.safe
                                        else ""))

    def first_page(self, url: str) -> str:
        return f"{url}{next(iter(self.presenter.decks), '')}.html"

    def run(self) -> None:
        threading.Event().wait()  # (the decks' workers and the server do the work)

    def close(self) -> None:
        self.presenter.close()

"""A deck's kernel: the deck's side of the Jupyter protocol over a connection (here or on
a gateway, see connection.py). It sets the kernel up, runs a cell with the deck's seed and
figure settings and collects its outputs within their limits and time, interrupts one
that runs too long (restarting a kernel that ignores it), and sends the course's files to
a kernel that does not share this disk.

Cells run in slide order in one namespace. The kernel starts in the course's folder (a
remote one: in a folder of its own holding the course's files) with `snippets/` first
on sys.path, so `open("data/x.csv")` and `import helpers` work from inline cells and
snippet files alike. Before each cell the random generators (random, NumPy, torch:
whichever is imported) are seeded again from the deck's seed, so a cell's output does not
depend on how often the cells before it ran.
"""
from __future__ import annotations

import json
import queue
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core.errors import ToolError
from ..source.cells import Cell
from .capture import OutputCollector, secret_values, strip_ansi
from .connection import Connection, KernelDied
from .environment import PROBE_SOURCE
from .outputs import CellResult, Error, Stream
from .remote import Shipment, shipment
from .settings import KernelSettings
from .timeline import Step

# Seeds the random generators already imported; run before every cell. The published
# notebooks run the same function before each of their cells (see notebook.py).
RESEED = '''def {name}({parameters}):
    import random, sys
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
'''

_SETUP = RESEED.format(name="__deckrun_reseed", parameters="seed") + r'''
import warnings as _warnings
# tqdm.auto warns that notebook widgets are missing: a build has no widgets to show.
_warnings.filterwarnings("ignore", message="IProgress not found")
del _warnings

__deckrun_dressed = {}

def __deckrun_dress(look):
    """The course's figure look (rcParams) for this cell ({}: matplotlib's own), where the
    cells have not set their own: a setting a cell changed since the last look was put
    keeps its value."""
    global __deckrun_dressed
    import sys
    get_ipython().config.InlineBackend.update(rc=dict(look))  # (put when pyplot is first imported)
    if "matplotlib" in sys.modules:
        rc = sys.modules["matplotlib"].rcParams
        undone = {key: sys.modules["matplotlib"].rcParamsDefault[key] for key in __deckrun_dressed if key not in look}
        for key, value in {**undone, **look}.items():
            try:
                if key in __deckrun_dressed and rc[key] != rc.validate[key](__deckrun_dressed[key]):
                    continue
                rc[key] = value
            except (KeyError, ValueError):  # (a setting this matplotlib does not have)
                pass
        if "matplotlib_inline.config" in sys.modules:
            from matplotlib_inline.config import InlineBackend
            InlineBackend.instance().rc = dict(look)
    __deckrun_dressed = dict(look)

def __deckrun_before_cell(seed, fmt, dpi, look=None):
    import sys
    __deckrun_reseed(seed)
    if look is not None:
        __deckrun_dress(look)
    formats, kwargs = {fmt}, {"bbox_inches": "tight", "dpi": dpi}
    if "matplotlib_inline.config" not in sys.modules:
        # Read when pyplot is first imported; importing matplotlib here would slow every deck.
        get_ipython().config.InlineBackend.update(figure_formats=formats, print_figure_kwargs=kwargs)
        return
    from matplotlib_inline.config import InlineBackend
    backend = InlineBackend.instance()
    backend.figure_formats, backend.print_figure_kwargs = formats, kwargs
    if "matplotlib.pyplot" in sys.modules:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats(fmt, **kwargs)
'''

# A warm kernel also keeps the versions of the deck's names (versions.py, run there).
_KEEPING = '''
def __deckrun_load_versions(source):
    import types
    module = types.ModuleType("deckrun_versions")
    exec(source, module.__dict__)
    return module.Versions(get_ipython().user_ns)
__deckrun_versions = __deckrun_load_versions({source!r})
del __deckrun_load_versions
print(__deckrun_versions.start())
'''
VERSIONS_SOURCE = Path(__file__).with_name("versions.py").read_text(encoding="utf-8")

_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
OnStream = Callable[[str, str], None]  # (stdout or stderr, text) as a cell prints it
_POLL_SECONDS = 1.0


class Kernel:
    """The kernel of one deck: `start`, `run` cells in order, `shutdown`. `generation`
    counts its starts: a restart (a cell that ignored its interrupt) forgets its state."""

    def __init__(self, settings: KernelSettings, connection: Connection, keeping: bool = False) -> None:
        self.settings = settings
        self.connection = connection
        self.wants_versions = keeping  # keep every version of the deck's names (a warm Python kernel)
        self.generation = 0
        self.initial: frozenset[str] = frozenset()  # the names it had before any cell
        self.language = "python"  # of its code, as the kernel says (python, bash, r...)
        self.language_version = ""
        self._secrets = secret_values(settings.kernel_env(), settings.secrets)
        self._files: tuple[Path, list[Path]] | None = None  # what send_files was last given
        self._sent = ""  # the digest of the files the kernel's folder holds

    @property
    def keeping(self) -> bool:
        """Does it keep every version of the deck's names (a warm Python kernel)?"""
        return self.wants_versions and self.python

    @property
    def python(self) -> bool:
        return self.language == "python"

    def start(self) -> None:
        self.connection.start()
        language = self.connection.info().get("language_info", {})
        self.language = str(language.get("name") or "python").lower()
        self.language_version = str(language.get("version") or "")
        self._set_up()

    def _set_up(self) -> None:
        """Ready for the deck's cells: a Python kernel gets deckrun's helpers (seeds,
        figure settings, snippets/ on its path, kept versions); another language's kernel
        runs the cells as they are."""
        self.generation += 1
        self._sent = ""  # a fresh working folder: the files again
        if not self.python:
            return
        code = "\n".join([self.connection.prelude(), _SETUP,
                          f"__import__('sys').path.insert(0, {self.connection.snippets_path()})"])
        if self.keeping:
            code += _KEEPING.format(source=VERSIONS_SOURCE)
        result = self._execute(code, timeout=self.settings.startup_timeout, store_history=False)
        if result.error:
            raise ToolError(f"the kernel could not be set up: {result.error.traceback}")
        self.initial = frozenset(_printed(result)) if self.keeping else frozenset()
        self._sent = ""  # a fresh working folder: the files again
        if self._files is not None:
            self.send_files(*self._files)

    def alive(self) -> bool:
        return self.connection.alive()

    def shutdown(self) -> None:
        self.connection.shutdown()

    def send_files(self, root: Path, files: list[Path]) -> None:
        """The course's files the cells read, for a kernel that does not share this disk
        (again when they change); a local one runs in the course's folder already."""
        if not self.connection.remote:
            return
        self._files = (root, files)
        parcel: Shipment = shipment(root, files)
        if parcel.digest == self._sent:
            return
        for part in parcel.code:
            result = self._execute(part, timeout=self.settings.startup_timeout, store_history=False)
            if result.error:
                raise ToolError(f"could not send the course's files to the remote kernel: {result.error.evalue}")
        self._sent = parcel.digest

    def run(self, cell: Cell, step: Step | None = None,
            on_stream: OnStream | None = None) -> tuple[CellResult, Changes | None]:
        """Run `cell` with the deck's seed and its figure settings; `on_stream` hears its
        printed text as it comes. With a `step` (a kernel that keeps versions), first put
        back the values of the cell's place and note what it reads, and after it say what
        it changed."""
        opts = cell.options
        if not self.python:  # (no helpers there: its cells run as they are)
            return self._run_code(cell, on_stream), None
        look = json.loads(cell.look) if cell.look else None  # (None: no look to put or take back)
        prelude = f"__deckrun_before_cell({self.settings.seed}, {opts.format!r}, {opts.dpi}, {look!r})"
        if step is not None:
            prelude += (f"\nprint(__deckrun_versions.move({step.assign!r}, {list(step.remove)!r}, "
                        f"{[list(key) for key in step.forget]!r}))"
                        f"\n__deckrun_versions.before({step.reads!r}, {list(step.protect)!r})")
        prepared = self._execute(prelude, timeout=60, store_history=False)
        if prepared.error:
            raise ToolError(f"the kernel could not prepare the cell: {prepared.error.evalue}")
        generation = self.generation
        result = self._run_code(cell, on_stream)
        if step is None or self.generation != generation:  # (restarted: it holds nothing now)
            return result, None
        after = self._execute(f"print(__deckrun_versions.after({step.index + 1}))", timeout=60, store_history=False)
        if after.error:
            raise ToolError(f"the kernel could not note what the cell changed: {after.error.evalue}")
        said = _printed(after)
        return result, Changes(frozenset(said["produced"]), frozenset(said["absent"]), frozenset(said["mutated"]),
                               frozenset((name, place) for name, place in said["lost"]),
                               frozenset(_printed(prepared)))

    def _run_code(self, cell: Cell, on_stream: OnStream | None) -> CellResult:
        try:
            return self._execute(cell.code, timeout=cell.options.timeout, on_stream=on_stream)
        except KernelDied as died:
            raise KernelDied(died.message, cell.reference, also=(cell.origin,) if cell.origin.path !=
                             cell.reference.path else (), detail=died.detail) from None

    def describe(self, modules: list[str]) -> dict[str, Any]:
        """The kernel's own Python and the distributions behind `modules` (environment.py),
        asked of the kernel itself; for another language's kernel, its language and
        version (what its cache keys hold)."""
        if not self.python:
            return {"python": f"{self.language} {self.language_version}".strip(), "modules": {}}
        call = f"print(__import__('json').dumps(describe_environment({modules!r})))"
        result = self._execute(f"def __deckrun_describe():\n{textwrap.indent(PROBE_SOURCE, '    ')}\n"
                               f"    {call}\n__deckrun_describe()\ndel __deckrun_describe",
                               timeout=self.settings.startup_timeout, store_history=False)
        printed = "".join(o.text for o in result.outputs if isinstance(o, Stream) and o.name == "stdout")
        if result.error or not printed.strip():
            raise ToolError("could not ask the kernel which packages it has: "
                            + (result.error.evalue if result.error else "it printed nothing"))
        described: dict[str, Any] = json.loads(printed)
        return described

    def _execute(self, code: str, timeout: float, store_history: bool = True,
                 on_stream: OnStream | None = None) -> CellResult:
        """Run code and collect its outputs until the kernel is idle again; past
        `timeout` the cell is interrupted and its result says it timed out."""
        started = time.monotonic()
        msg_id = self.connection.execute(code, store_history)
        collected = OutputCollector(self.settings.limits, self._secrets)
        deadline = started + timeout
        while True:
            try:
                msg = self.connection.next_message(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                if not self.connection.alive():
                    raise KernelDied(f"the kernel died while running this cell: {self.connection.death()}",
                                     detail="The deck's later cells did not run; the next build "
                                            "starts a fresh kernel.") from None
                if time.monotonic() >= deadline:
                    self._interrupt(msg_id)
                    collected.timed_out(timeout)
                    break
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "stream" and on_stream is not None:
                on_stream(content["name"], collected.shown(content["text"]))
            _collect(collected, kind, content)
        return collected.result(time.monotonic() - started)

    def _interrupt(self, msg_id: str) -> None:
        """Stop a running cell and wait for the kernel to be idle again; a cell that
        ignores the interrupt gets a fresh kernel (set up again, its files sent again)."""
        self.connection.interrupt()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                msg = self.connection.next_message(1)
            except queue.Empty:
                continue
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                return
        self.connection.restart()
        self._set_up()


@dataclass(frozen=True)
class Changes:
    """What a cell did to the names of a kernel that keeps versions (versions.py)."""
    produced: frozenset[str]               # bound, deleted or changed in place
    absent: frozenset[str]                 # of those, deleted
    mutated: frozenset[str]                # changed in place
    lost: frozenset[tuple[str, int]]       # versions whose value could not be kept
    missing: frozenset[str]                # names whose version was not there to put back


def _printed(result: CellResult) -> Any:
    """What code run for deckrun printed: one JSON value."""
    return json.loads("".join(o.text for o in result.outputs if isinstance(o, Stream) and o.name == "stdout"))


def _collect(collected: OutputCollector, kind: str, content: dict[str, Any]) -> None:
    if kind == "stream":
        collected.stream(content["name"], content["text"])
    elif kind in ("execute_result", "display_data"):
        collected.rich(content["data"], is_result=kind == "execute_result")
    elif kind == "error":
        traceback = strip_ansi("\n".join(content["traceback"]))
        lines = _CELL_LINE.findall(traceback)
        collected.error(Error(content["ename"], content["evalue"], traceback,
                              int(lines[-1]) if lines else None))
    elif kind == "clear_output":
        collected.clear()

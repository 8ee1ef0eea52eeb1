"""Run cells in a Jupyter kernel (jupyter_client + ipykernel), one kernel per deck.

Cells run in slide order in one namespace. The kernel starts in the project root with
`snippets/` first on sys.path, so `open("data/x.csv")` and `import helpers` work from
inline cells and snippet files alike. Before each cell the random generators (random,
NumPy, torch: whichever is imported) are seeded again from the deck's seed, so a cell's
output does not depend on how often the cells before it ran.
"""
from __future__ import annotations

import os
import queue
import re
import shutil
import sys
import json
import signal
import tempfile
import textwrap
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..source.analysis import CodeFacts, ValueLedger, code_facts
from .capture import OutputCollector, OutputLimits, secret_values, strip_ansi
from ..source.cells import Cell
from ..core.errors import DeckError, ToolError
from .environment import PROBE_SOURCE
from .outputs import CellResult, Error, Stream

if TYPE_CHECKING:
    from .remote import Gateway

# Quiet, reproducible defaults for the kernel; a course or deck can add to them.
KERNEL_ENV = {
    "PYTHONHASHSEED": "0",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}

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

__deckrun_kept = {}  # (cell, name) -> the name's value before that cell rebound it (watch mode)

def __deckrun_before_cell(seed, fmt, dpi, cell=None, keep=(), drop=()):
    import sys
    for key in drop:
        __deckrun_kept.pop(key, None)
    for name in keep:  # (the dict itself stands for "not defined": `del x` binds too)
        __deckrun_kept[cell, name] = globals().get(name, __deckrun_kept)
    __deckrun_reseed(seed)
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

def __deckrun_restore(kept):
    for name, key in kept.items():
        value = __deckrun_kept[key]
        if value is __deckrun_kept:
            globals().pop(name, None)
        else:
            globals()[name] = value
'''

_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
_POLL_SECONDS = 1.0


@dataclass
class KernelSettings:
    cwd: Path
    snippets_dir: Path
    seed: int = 0
    env: dict[str, str] = field(default_factory=dict)
    limits: OutputLimits = field(default_factory=OutputLimits)
    secrets: tuple[str, ...] = ()  # more variables whose values are masked in outputs
    startup_timeout: float = 60.0
    gateway: Gateway | None = None  # where the kernel runs; None: on this machine

    def kernel_env(self) -> dict[str, str]:
        return {**os.environ, **KERNEL_ENV, **self.env}


class KernelDied(DeckError):
    """The kernel process ended while a cell ran (out of memory, os._exit, a crash)."""


class Kernel:
    """The kernel of one deck: `start`, `run` cells in order, `shutdown`."""

    def __init__(self, settings: KernelSettings, keep_values: bool = False) -> None:
        self.settings = settings
        self.keep_values = keep_values  # keep rebound values aside to put back (watch mode)
        self._values = ValueLedger()
        self.manager = None
        self.client = None
        self._sockets: str | None = None
        self._ran: dict[int, str] = {}  # cell index -> cache key of what it last ran there
        self._codes: dict[int, str] = {}  # cell index -> the code it last ran there, even if it raised
        self._secrets: tuple[str, ...] = ()
        self._log = None

    def start(self) -> None:
        from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # slow: only when code runs
        from jupyter_client.manager import KernelManager

        class ThisPython(KernelSpecManager):
            """The kernel runs in deckrun's own environment (the course's locked one), not
            whichever `python3` kernel is installed: the versions its keys say are its own."""

            def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
                return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                  display_name="Python 3", language="python")

        env = self.settings.kernel_env()
        self._secrets = secret_values(env, self.settings.secrets)
        # IPC sockets (no open TCP port) need an absolute path: the kernel runs elsewhere.
        self._sockets = tempfile.mkdtemp(prefix="deckrun-kernel-")
        self.manager = KernelManager(kernel_name="python3", transport="ipc", kernel_spec_manager=ThisPython(),
                                     ip=os.path.join(self._sockets, "kernel"))
        # Its own messages go to a log beside its sockets, not into the build's output; no
        # history database (parallel kernels would contend for it), no Out[n] cache (a warm
        # kernel would keep every rerun's value).
        self._log = open(os.path.join(self._sockets, "kernel.log"), "wb")
        self.manager.start_kernel(cwd=str(self.settings.cwd), env=env, stdout=self._log, stderr=self._log,
                                  extra_arguments=["--HistoryManager.enabled=False",
                                                   "--InteractiveShell.cache_size=0"])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=self.settings.startup_timeout)
        self._set_up()

    def _set_up(self) -> None:
        result = self._execute(self._setup_code(), timeout=self.settings.startup_timeout, store_history=False)
        if result.error:
            raise ToolError(f"the kernel could not be set up: {result.error.traceback}")
        self._ran.clear()
        self._codes.clear()
        self._values = ValueLedger()

    def _setup_code(self) -> str:
        return _SETUP + f"\n__import__('sys').path.insert(0, {str(self.settings.snippets_dir)!r})\n"

    def alive(self) -> bool:
        return self.manager is not None and self.manager.is_alive()

    def shutdown(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.manager is not None and self.manager.has_kernel:
            self.manager.shutdown_kernel(now=True)
        if self._log is not None:
            self._log.close()
        if self._sockets:
            shutil.rmtree(self._sockets, ignore_errors=True)
        self.client = self.manager = self._sockets = self._log = None

    def run(self, cell: Cell, index: int, key: str) -> CellResult:
        """Run `cell`, the deck's cell `index` whose cache key is `key`; the kernel then
        holds its state (unless it raised without being allowed to)."""
        opts, facts = cell.options, code_facts(cell.code)
        self._ran.pop(index, None)
        self._codes[index] = cell.code
        keep, drop = self._values.before_run(index, facts) if self.keep_values else ([], [])
        self._execute(f"__deckrun_before_cell({self.settings.seed}, {opts.format!r}, {opts.dpi}, "
                      f"{index}, {keep!r}, {drop!r})", timeout=60, store_history=False)
        try:
            result = self._execute(cell.code, timeout=opts.timeout)
        except KernelDied as died:
            raise KernelDied(died.message, cell.reference, also=(cell.origin,) if cell.origin.path !=
                             cell.reference.path else (), detail=died.detail) from None
        self._values.after_run(index, facts, ok=not result.error)
        if not result.error or opts.error:
            self._ran[index] = key
        return result

    def describe(self, modules: list[str]) -> dict[str, Any]:
        """The kernel's own Python and the distributions behind `modules` (environment.py),
        asked of the kernel itself."""
        call = f"print(__import__('json').dumps(describe_environment({modules!r})))"
        result = self._execute(f"def __deckrun_describe():\n{textwrap.indent(PROBE_SOURCE, '    ')}\n"
                               f"    {call}\n__deckrun_describe()\ndel __deckrun_describe",
                               timeout=self.settings.startup_timeout, store_history=False)
        printed = "".join(o.text for o in result.outputs if isinstance(o, Stream) and o.name == "stdout")
        if result.error or not printed.strip():
            raise ToolError("could not ask the kernel which packages it has: "
                            + (result.error.evalue if result.error else "it printed nothing"))
        return json.loads(printed)

    def holds(self, index: int, key: str) -> bool:
        """Did this kernel run cell `index` as it is now (so its state is here)?"""
        return self._ran.get(index) == key

    def codes_ran_from(self, index: int) -> list[str]:
        """The code this kernel ran as cells `index` and after: what may have changed the
        state those cells find."""
        return [code for i, code in self._codes.items() if i >= index]

    def restore_values(self, facts: list[CodeFacts], first: int, held: set[int]) -> frozenset[str]:
        """Put back the values that cells from `first` on rebound, where the kernel kept
        them aside as the earlier cells left them; return the names that now hold the
        values cell `first` needs (put back, or never changed)."""
        changed = frozenset().union(*(code_facts(code).changes for code in self.codes_ran_from(first)))
        right, kept = self._values.restorable(facts, first, held, changed)
        if kept:
            result = self._execute(f"__deckrun_restore({kept!r})", timeout=60, store_history=False)
            if result.error:
                return right
            self._values.restored(kept)
        return right | frozenset(kept)

    def _execute(self, code: str, timeout: float, store_history: bool = True) -> CellResult:
        assert self.client is not None and self.manager is not None
        started = time.monotonic()
        msg_id = self.client.execute(code, store_history=store_history, allow_stdin=False)
        collected = OutputCollector(self.settings.limits, self._secrets)
        deadline = started + timeout
        while True:
            try:
                msg = self._next_message(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                if not self.alive():
                    raise KernelDied(f"the kernel died while running this cell: {self._death()}",
                                     detail="The deck's later cells did not run; the next build "
                                            "starts a fresh kernel.") from None
                if time.monotonic() >= deadline:
                    self._interrupt(msg_id)
                    collected.error(Error("TimeoutError", f"the cell ran longer than {timeout:g} s "
                                          "(raise it with the 'timeout' option)", ""))
                    break
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            _collect(collected, kind, content)
        return collected.result(time.monotonic() - started)

    def _death(self) -> str:
        """Why the kernel process ended, from its exit status."""
        process = getattr(getattr(self.manager, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "its process is gone"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            if -code == signal.SIGKILL:
                return "it was killed (SIGKILL), most often because the machine ran out of memory"
            if -code == signal.SIGSEGV:
                return "it crashed (segmentation fault, in compiled code)"
            return f"it was stopped by {name}"
        return f"it exited with status {code} (os._exit() or a library ending the process)"

    def _next_message(self, timeout: float) -> dict:
        """The kernel's next iopub message (queue.Empty if none comes in `timeout` s)."""
        assert self.client is not None
        return self.client.get_iopub_msg(timeout=timeout)

    def _interrupt(self, msg_id: str) -> None:
        """Stop a running cell and wait for the kernel to be idle again."""
        assert self.client is not None and self.manager is not None
        self._interrupt_kernel()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                msg = self._next_message(1)
            except queue.Empty:
                continue
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                return
        self._restart_kernel()  # the cell ignored the interrupt
        self._set_up()

    def _interrupt_kernel(self) -> None:
        self.manager.interrupt_kernel()

    def _restart_kernel(self) -> None:
        self.manager.restart_kernel(now=True)
        self.client.wait_for_ready(timeout=self.settings.startup_timeout)

    def send_files(self, root: Path, files: list[Path]) -> None:
        """Make the course's files the cells read available to them: a local kernel
        shares the disk and runs in the course's folder, so there is nothing to do."""


def _collect(collected: OutputCollector, kind: str, content: dict) -> None:
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


class KernelPool:
    """The kernel of each deck. A one-off build starts a fresh kernel per deck and shuts
    it down after; the watcher keeps them warm, so imports and models stay loaded."""

    def __init__(self, keep_warm: bool = False) -> None:
        self.keep_warm = keep_warm
        self._kernels: dict[Path, Kernel] = {}
        self._lock = threading.Lock()  # decks build in threads; each has its own kernel

    @contextmanager
    def lease(self, deck: Path, settings: KernelSettings) -> Iterator[Kernel]:
        """The deck's kernel for one build: its warm one if it is alive and has the same
        settings, else a fresh one. A kernel that died is not kept."""
        with self._lock:
            kernel = self._kernels.get(deck)
        if kernel is not None and (kernel.settings != settings or not kernel.alive()):
            self.discard(deck)
            kernel = None
        if kernel is None:
            kernel = _kernel_class(settings)(settings, keep_values=self.keep_warm)
            try:
                kernel.start()
            except BaseException:
                kernel.shutdown()
                raise
            with self._lock:
                self._kernels[deck] = kernel
        try:
            yield kernel
        except KernelDied:
            self.discard(deck)
            raise
        finally:
            if not self.keep_warm:
                self.discard(deck)

    def discard(self, deck: Path) -> None:
        with self._lock:
            kernel = self._kernels.pop(deck, None)
        if kernel is not None:
            kernel.shutdown()

    def shutdown(self) -> None:
        with self._lock:
            decks = list(self._kernels)
        for deck in decks:
            self.discard(deck)


def _kernel_class(settings: KernelSettings) -> type[Kernel]:
    if settings.gateway is None:
        return Kernel
    from .remote import RemoteKernel

    return RemoteKernel

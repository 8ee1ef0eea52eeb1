"""A running Jupyter kernel's messages, whatever carries them: jupyter_client over IPC
sockets for a kernel on this machine (here), Jupyter's gateway REST + WebSocket API for
one on a Kernel or Enterprise Gateway (remote.py). A connection knows nothing of decks
or cells: it starts, sends code, hands over the kernel's iopub messages, interrupts,
restarts, says whether the kernel lives, and shuts it down.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from typing import IO, Any, Protocol

from ..core.errors import DeckError, ToolError
from .settings import KernelSettings


def kernel_spec(name: str) -> Any:  # (jupyter_client's KernelSpec)
    """An installed kernelspec by name; ToolError naming the ones there are if it is not."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        return manager.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise ToolError(f"no Jupyter kernel named '{name}' is installed on this machine (installed: {known}; "
                        "register an environment's kernel with: "
                        "python -m ipykernel install --user --name NAME)") from None


def describe_kernel(name: str) -> str:
    """An installed kernel in words: its language and the program it starts."""
    try:
        spec = kernel_spec(name)
    except ToolError as exc:
        return str(exc)
    return f"{spec.display_name}, {spec.language}: {spec.argv[0] if spec.argv else '?'}"


def _specs(named: str | None) -> Any:  # (a KernelSpecManager)
    """The deck's kernel: the installed spec it names, else deckrun's own interpreter."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class DeckKernel(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> Any:
            if named is not None:
                return kernel_spec(named)
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python 3", language="python")

    return DeckKernel()


class KernelDied(DeckError):
    """The kernel process ended while a cell ran (out of memory, os._exit, a crash)."""


class Connection(Protocol):
    remote: bool  # the kernel does not share this machine's disk (files are sent to it)

    def start(self) -> None: ...

    def info(self) -> dict[str, Any]:
        """The kernel's kernel_info reply: its language (name, version), its implementation."""

    def prelude(self) -> str:
        """Code a fresh kernel runs first: where it works, its environment."""

    def snippets_path(self) -> str:
        """A Python expression: the folder of the course's modules, as the kernel sees it."""

    def execute(self, code: str, store_history: bool) -> str:
        """Send code to run; its message id."""

    def next_message(self, timeout: float) -> dict[str, Any]:
        """The next iopub message (queue.Empty if none comes in time; KernelDied if the
        connection learns that the kernel is gone)."""

    def alive(self) -> bool: ...

    def death(self) -> str:
        """Why the kernel is gone, in a few words."""

    def interrupt(self) -> None: ...

    def restart(self) -> None:
        """A fresh kernel process, ready for code (what the old one held is gone)."""

    def shutdown(self) -> None: ...


class LocalConnection:
    """A kernel on this machine: in deckrun's own interpreter (the course's locked
    environment, not whichever `python3` kernel is installed: the versions its cache keys
    say are its own), or the installed kernelspec the deck names (`execute: kernel:`: the
    lecturer's conda env or venv, another language), talking over IPC sockets (no open
    TCP port)."""

    remote = False

    def __init__(self, settings: KernelSettings) -> None:
        self.settings = settings
        self.manager: Any = None  # (jupyter_client's KernelManager and client, once started)
        self.client: Any = None
        self._sockets: str | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        from jupyter_client.manager import KernelManager  # slow: only when code runs

        # IPC sockets need an absolute path: the kernel runs elsewhere.
        self._sockets = tempfile.mkdtemp(prefix="deckrun-kernel-")
        self.manager = KernelManager(kernel_name=self.settings.kernel or "python3", transport="ipc",
                                     kernel_spec_manager=_specs(self.settings.kernel),
                                     ip=os.path.join(self._sockets, "kernel"))
        # Its own messages go to a log beside its sockets, not into the build's output; no
        # history database (parallel kernels would contend for it), no Out[n] cache (a warm
        # kernel would keep every rerun's value).
        self._log = open(os.path.join(self._sockets, "kernel.log"), "wb")
        self.manager.start_kernel(cwd=str(self.settings.cwd), env=self.settings.kernel_env(), stdout=self._log,
                                  stderr=self._log, extra_arguments=["--HistoryManager.enabled=False",
                                                                     "--InteractiveShell.cache_size=0"])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=self.settings.startup_timeout)

    def info(self) -> dict[str, Any]:
        reply: dict[str, Any] = self.client.kernel_info(reply=True, timeout=self.settings.startup_timeout)
        content: dict[str, Any] = reply["content"]
        return content

    def prelude(self) -> str:
        return ""  # it starts in the course's folder, with the deck's environment

    def snippets_path(self) -> str:
        return repr(str(self.settings.snippets_dir))

    def execute(self, code: str, store_history: bool) -> str:
        return str(self.client.execute(code, store_history=store_history, allow_stdin=False))

    def next_message(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = self.client.get_iopub_msg(timeout=timeout)
        return message

    def alive(self) -> bool:
        return self.manager is not None and self.manager.is_alive()

    def death(self) -> str:
        """Why the kernel process ended, from its exit status."""
        process = getattr(getattr(self.manager, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "its process is gone"
        if code < 0:  # (POSIX: the signal that ended it)
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            if name == "SIGKILL":
                return "it was killed (SIGKILL), most often because the machine ran out of memory"
            if -code == signal.SIGSEGV:
                return "it crashed (segmentation fault, in compiled code)"
            return f"it was stopped by {name}"
        return f"it exited with status {code} (os._exit() or a library ending the process)"

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def restart(self) -> None:
        self.manager.restart_kernel(now=True)
        self.client.wait_for_ready(timeout=self.settings.startup_timeout)

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


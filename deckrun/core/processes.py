"""Processes deckrun starts (Node with the Marp CLI and its browser, kernels) and how they
end: each in a session of its own where the system has them, so that it and what it
starts go together, whatever happens to the command."""
from __future__ import annotations

import os
import signal
import subprocess
import sys


def kill_tree(pid: int) -> None:
    """A process and everything it started."""
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


def kill_group(proc: subprocess.Popen[str], tree: bool = True) -> None:
    """A process started in a session of its own, what it started (`tree`: looked for,
    for what left its group, such as a browser) and everything in its group; waited for."""
    if tree:
        kill_tree(proc.pid)
    if sys.platform == "win32":  # (no process groups: the tree is all there is)
        proc.kill()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


def kill_children() -> None:
    """Whatever this process started and is still running (Marp, its browser, kernels)."""
    import psutil

    for child in psutil.Process().children():
        kill_tree(child.pid)

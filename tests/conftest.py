"""Shared fixtures: a throw-away copy of the fixture course, and it built once."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.course import make_course, run_build


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path / "course")


@pytest.fixture(scope="session")
def built_course(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The fixture course built once, to HTML and PDF, through the real pipeline."""
    root = make_course(tmp_path_factory.mktemp("built") / "course")
    return root, run_build(root)

"""The preview benchmark's cases run (each save once, no timing judged): a change that
breaks one of them is found by the tests, not by the next person who measures."""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.course import REPO

pytestmark = pytest.mark.slow  # watchers, Marp CLI's own server, Chromium


def test_the_preview_benchmark_runs_each_case():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "preview_bench.py"), "--smoke"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for case in ("reload     prose", "in place   prose", "the Marp engine's render of the deck",
                 "deckrun watch", "Marp CLI's server (marp -s)"):
        assert case in proc.stdout, proc.stdout

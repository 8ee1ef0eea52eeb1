#!/usr/bin/env python3
"""Build the course: run every deck's code and render it with Marp (see README.md)."""
from pathlib import Path

from deckrun.cli import run

if __name__ == "__main__":
    run(default_root=Path(__file__).resolve().parent)

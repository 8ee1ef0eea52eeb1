#!/usr/bin/env python3
"""Build the course: run every deck's code and render it with Marp (see README.md)."""
import sys
from pathlib import Path

from deckrun.cli import main

if __name__ == "__main__":
    sys.exit(main(default_root=Path(__file__).resolve().parent))

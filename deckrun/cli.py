"""The command line: `python build.py [DECK ...] [--html --pdf --pptx] [--strict]`, `clean`."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from .builder import BuildOptions, DeckReport, build_deck, copy_slide_assets, prepare
from .errors import DeckError
from .progress import Progress
from .project import Project, load_project
from .render import FORMATS

COMMANDS = ("build", "clean")


def parse_args(argv: list[str], default_root: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description="Run the code on the slides and render the decks with Marp.",
        epilog="Commands: build (default) [DECK ...]; clean (remove build/).")
    parser.add_argument("targets", nargs="*", metavar="DECK",
                        help="decks to build (default: every slides/*.md), or a command")
    for fmt in FORMATS:
        parser.add_argument(f"--{fmt}", action="store_true", help=f"write {fmt.upper()}")
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings as errors (e.g. an 'error: true' cell that raised nothing)")
    parser.add_argument("--root", type=Path, default=default_root,
                        help="the course folder (default: the current folder)")
    args = parser.parse_args(argv)
    args.command = "build"
    if args.targets and args.targets[0] in COMMANDS:
        args.command = args.targets.pop(0)
    args.formats = tuple(f for f in FORMATS if getattr(args, f)) or ("html", "pdf")
    return args


def main(argv: list[str] | None = None, default_root: Path | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv, default_root or Path.cwd())
    progress = Progress()
    try:
        project = load_project(args.root)
    except DeckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "clean":
        shutil.rmtree(project.build_dir, ignore_errors=True)
        print(f"removed {project.build_dir}")
        return 0
    try:
        return build(project, args.targets, BuildOptions(args.formats, args.strict), progress)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def build(project: Project, targets: list[str], options: BuildOptions, progress: Progress) -> int:
    started = time.monotonic()
    paths = [Path(t).resolve() for t in targets] or project.decks()
    if not paths:
        print(f"error: no decks found in {project.slides_dir}", file=sys.stderr)
        return 1
    reports: list[DeckReport] = []
    decks = []
    for path in paths:  # every deck is checked before any code runs
        try:
            decks.append(prepare(path, project))
        except DeckError as exc:
            progress.failed(path, exc)
            reports.append(DeckReport(path, error=exc))
    copy_slide_assets(project)
    for deck in decks:
        progress.deck_started(deck.path, len(deck.cells))
        report = build_deck(deck, project, options, progress)
        reports.append(report)
        for warning in report.warnings:
            progress.warn(warning)
        if report.ok:
            progress.written(report.written, report.seconds)
        else:
            progress.failed(deck.path, report.error)
    failed = sum(not r.ok for r in reports)
    progress.summary(built=len(reports) - failed, failed=failed,
                     cells=sum(r.cells_run for r in reports),
                     outputs=sum(len(r.written) for r in reports if r.ok),
                     seconds=time.monotonic() - started)
    return 1 if failed else 0

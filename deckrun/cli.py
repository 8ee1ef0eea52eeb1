"""The command line: build (default), publish, check, watch, status, prune, clean. See
README.md. A build with nothing to do stops before the heavy imports (see uptodate)."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .core.errors import DeckError, Location, ToolError
from .core.progress import Progress
from .core.project import FREEZE_DIR
from .render.marp import FORMATS, MarpWorker
from .pipeline.uptodate import nothing_changed, record

if TYPE_CHECKING:
    from .core.options import BuildOptions
    from .core.project import Project
    from .pipeline.build import Session


COMMANDS = ("build", "publish", "check", "watch", "serve", "present", "goto", "status", "prune", "clean",
            "new", "doctor", "import")


def parse_args(argv: list[str], default_root: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description="Run the code on the slides and render the decks with Marp.",
        epilog="Commands: build (default) [DECK ...]; publish [DECK ...] (the students' site in "
               "build/site/, the lecturer's copies in build/lecturer/); check [DECK ...] (slides that "
               "overflow, images without alt text, low contrast); watch (or serve) [DECK ...] (build, "
               "serve with live updates, rebuild on save); present [DECK ...] (serve the decks with their "
               "cells live: edit and run them while presenting); goto FILE:LINE (the running preview shows "
               "the slide of that line: for editors); status [DECK ...] (what the cache "
               "holds and why cells are stale); prune (remove cache entries no deck uses); "
               "clean [--cache] (remove build/, and _freeze/); new COURSE [--code --name --lecturer --lang] "
               "(start a course in a new folder); doctor (the tools deckrun uses, and what is missing); "
               "import NOTEBOOK.ipynb [--deck NAME] [--snippets] (a notebook as a deck whose code runs); import DECK.md [--deck NAME] (a deck written for Marp alone).")
    parser.add_argument("targets", nargs="*", metavar="DECK",
                        help="decks (default: every slides/*.md), after an optional command")
    for fmt in FORMATS:
        parser.add_argument(f"--{fmt}", action="store_true", help=f"write {fmt.upper()}")
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings as errors (e.g. an 'error: true' cell that raised nothing)")
    parser.add_argument("--refresh", nargs="?", const="all", action="append", default=[],
                        metavar="TARGET",
                        help="run cells again even if cached: all (no value), a deck, "
                             "FILE:LINE of a cell, or snippet.py#cell; may repeat")
    parser.add_argument("--refresh-assets", action="store_true",
                        help="fetch remote images again even if _assets/ has them")
    parser.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                        help="decks built at once (default: the number of cores, fewer if memory is short)")
    parser.add_argument("--gateway", metavar="URL",
                        help="run cells on the Jupyter Kernel/Enterprise Gateway at URL (token: "
                             "$JUPYTER_GATEWAY_AUTH_TOKEN); 'local' runs them here whatever the files say")
    parser.add_argument("--frozen", action="store_true",
                        help="never run code: take recorded outputs even if other versions computed them; fail if a cell has none")
    parser.add_argument("--cache", action="store_true", help=f"with clean: also remove {FREEZE_DIR}/")
    parser.add_argument("--zip", action="store_true", help="with publish: also write build/site.zip")
    parser.add_argument("--handout", type=int, metavar="N",
                        help="with publish: slides a handout page (1, 2, 3, 4 or 6; default 2)")
    parser.add_argument("--paper", choices=("a4", "letter"), help="with publish: handout paper")
    parser.add_argument("--port", type=int, default=8000,
                        help="with watch or present: the port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--open", action="store_true", help="with watch or present: open the browser")
    parser.add_argument("--safe", action="store_true",
                        help="with present: a live run that fails leaves the projected slide as it was "
                             "(the failure shows in the presenter view)")
    for option, meaning in (("code", "the unit's code"), ("name", "the unit's name"), ("lecturer", "who teaches it"),
                            ("lang", "the language its decks are written in (BCP 47, e.g. en, en-AU; default en)")):
        parser.add_argument(f"--{option}", help=f"with new: {meaning}")
    parser.add_argument("--deck", metavar="NAME", help="with import: the deck's name (default: the notebook's)")
    parser.add_argument("--snippets", action="store_true",
                        help="with import: the code as '# %%%% name' cells of snippets/NAME.py, shown with snippet()")
    parser.add_argument("--root", type=Path, default=default_root,
                        help="the course folder (default: the current folder)")
    args = parser.parse_args(argv)
    args.command = "build"
    if args.targets and args.targets[0] in COMMANDS:
        args.command = args.targets.pop(0)
    previewing = args.command in ("watch", "serve", "present")  # HTML only unless asked: it is fast
    args.formats = tuple(f for f in FORMATS if getattr(args, f)) or (
        ("html",) if previewing else ("html", "pdf"))
    return args


def run(default_root: Path | None = None) -> NoReturn:
    """The command line. It ends without the interpreter's teardown of every imported
    module (~50 ms of a one-deck rebuild): by then the command has stopped what it
    started and closed what it wrote."""
    try:
        code = main(default_root=default_root)
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (`deckrun status | head`): stop quietly
        code = 1
    os._exit(code)


def main(argv: list[str] | None = None, default_root: Path | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv, default_root or Path.cwd())
    root = args.root.resolve()
    progress = Progress()
    # A full disk (or a file size limit) should be an error saying so, not a killed process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Ctrl-C (SIGINT) stops cleanly even when started in the background, where a shell
    # without job control sets it to be ignored (a CI script's `cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.command == "build" and not (args.refresh or args.refresh_assets) and nothing_changed(root, build_key(args)):
        from .core.project import Project

        decks = len(args.targets) or len(Project(root).decks())
        progress.line(f"nothing changed since the last build: {decks} deck{'s' if decks != 1 else ''} up to date")
        return 0
    if args.command == "goto":
        return goto(root, args.targets, progress)
    if args.command in ("new", "doctor", "import"):
        return course_command(args, root, progress)
    # A build that has anything to do nearly always renders: Node loads the Marp CLI (most
    # of a one-deck rebuild's time) while Python imports its modules and works out what to
    # render. Publish and check start it once a deck has something to render.
    marp = start_marp(root, now=args.command == "build") if args.command in ("build", "publish", "check") else None
    try:
        from .core.files import build_lock
        from .core.options import BuildOptions
        from .core.project import load_project

        project = load_project(args.root)
        options = BuildOptions(args.formats, args.strict, args.frozen, tuple(args.refresh), args.refresh_assets,
                               args.gateway)
        if args.command == "status":
            from .pipeline.status import report_status

            return report_status(project, deck_paths(project, args.targets), options, progress)
        if args.command in ("watch", "serve"):
            from .preview.watch import watch

            return watch(project.root, args.targets, options, args.port, args.open, progress)
        if args.command == "present":
            from .preview.present import present

            return present(project, deck_paths(project, args.targets), options, args.port, args.open, args.safe,
                           progress)
        with build_lock(project.build_dir, progress.note):
            return run_command(args, project, options, progress, marp)
    except (DeckError, ToolError) as exc:
        progress.error(str(exc))
        return 1
    except KeyboardInterrupt:
        progress.interrupted()
        return 130
    finally:
        if marp is not None:
            marp.close()


def run_command(args: argparse.Namespace, project: Project, options: BuildOptions,
                progress: Progress, marp: MarpWorker | None) -> int:
    """The commands that write build/ or _freeze/ (one at a time: see build_lock)."""
    if args.command == "clean":
        return clean(project, args.cache, progress)
    if args.command == "prune":
        from .pipeline.status import prune

        return prune(project, options, progress)
    from .pipeline.build import Session

    session = Session.open(project, options, progress, jobs=args.jobs, marp=marp)
    try:
        paths = deck_paths(project, args.targets)
        if args.command == "check":
            from .pipeline.build import check_decks

            return check_decks(paths, options, session)
        if args.command == "publish":
            from .publish.site import PublishOptions, publish

            return publish(paths, options, PublishOptions(args.handout, args.paper, args.zip), session,
                           every_deck=not args.targets)
        code = build(paths, options, session)
    finally:
        session.close()
    if code == 0 and progress.warnings == 0:
        record(project.root, build_key(args))
    return code


def start_marp(root: Path, now: bool) -> MarpWorker | None:
    try:
        return MarpWorker(root, start=now)
    except ToolError:
        return None  # no Node or no Marp CLI: said when something must be rendered


def build_key(args: argparse.Namespace) -> str:
    """What a build was asked: the same request on the same files needs doing once."""
    targets = sorted(str(Path(t).resolve()) for t in args.targets)
    return repr(("build", sorted(args.formats), targets, args.strict, args.frozen))


def deck_paths(project: Project, targets: list[str]) -> list[Path]:
    paths = [Path(t).resolve() for t in targets] or project.decks()
    if not paths:
        raise DeckError(f"no decks found in {project.slides_dir}")
    return paths


def build(paths: list[Path], options: BuildOptions, session: Session) -> int:
    from .pipeline.build import build_decks

    started = time.monotonic()
    reports = build_decks(paths, options, session)
    failed = sum(not r.ok for r in reports)
    session.progress.summary(built=len(reports) - failed, failed=failed,
                             cells=sum(r.cells_run for r in reports),
                             cached=sum(r.cells_cached for r in reports),
                             outputs=sum(len(r.written) for r in reports if r.ok),
                             seconds=time.monotonic() - started)
    return 1 if failed else 0


def goto(root: Path, targets: list[str], progress: Progress) -> int:
    """Ask the running preview to show the slide that holds FILE:LINE, in every open page
    (a VS Code task calls it with the cursor's line)."""
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from .preview.server import GOTO, TOKEN_HEADER
    from .preview.watch import PREVIEW_FILE

    file, _, line = (targets[0] if len(targets) == 1 else "").rpartition(":")
    if not file or not line.isdigit():
        progress.error("goto takes FILE:LINE, e.g. slides/session-12.md:120")
        return 1
    try:
        preview = json.loads((root / "build" / PREVIEW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        progress.error("no preview is running for this course: start one with `python build.py watch`")
        return 1
    path = Path(file).resolve()
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(file)
    request = urllib.request.Request(f"{preview['url'].rstrip('/')}{GOTO}?{urlencode({'file': relative.as_posix(), 'line': line})}",
                                     method="POST", headers={TOKEN_HEADER: preview["token"]})
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as exc:
        progress.error(exc.read().decode(errors="replace") or str(exc))
        return 1
    except OSError:
        progress.error(f"the preview at {preview['url']} does not answer (was it stopped?)")
        return 1
    return 0


def course_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    """`new COURSE`, `doctor` and `import NOTEBOOK`: about a course, its tools and its
    sources, before any deck is read."""
    if args.command == "doctor":
        from .course.doctor import doctor

        return doctor(root, progress)
    if args.command == "import":
        return import_command(args, root, progress)
    from .course.new import new_course

    if len(args.targets) != 1:
        progress.error("new takes the folder of the new course: deckrun new ai-skills")
        return 1
    target = Path(args.targets[0]).resolve()
    try:
        return new_course(target, args.code or target.name.upper().replace("-", ""),
                          args.name or target.name.replace("-", " ").replace("_", " ").title(),
                          args.lecturer or _git_user() or "Your Name", args.lang or "en", progress)
    except DeckError as exc:
        progress.error(str(exc))
        return 1


def import_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    """A notebook, or a deck written for Marp alone, into the course."""
    from .core.project import load_project
    from .course.importer import deck_name, import_notebook
    from .course.marpdeck import import_marp_deck

    if len(args.targets) != 1 or not args.targets[0].endswith((".ipynb", ".md")):
        progress.error("import takes one notebook or Marp deck: deckrun import lab.ipynb [--deck NAME] [--snippets], "
                       "deckrun import talk.md [--deck NAME]")
        return 1
    source = Path(args.targets[0]).resolve()
    try:
        if not source.is_file():
            raise DeckError(f"{'notebook' if source.suffix == '.ipynb' else 'deck'} not found", Location(source))
        if not (root / "slides").is_dir() and not (root / "course.yaml").is_file():
            raise DeckError("not a course folder (no slides/ or course.yaml): run it in one, or start one with "
                            "deckrun new", Location(root))
        name = (args.deck or deck_name(source)).removesuffix(".md")
        if not all(re.fullmatch(r"[\w.-]+", part) and not part.startswith(".") for part in name.split("/")):
            raise DeckError(f"--deck {name!r}: a deck name is letters, digits, '-', '_' and '.' "
                            "(and '/' for a folder under slides/)")
        if source.suffix == ".md":
            return import_marp_deck(load_project(root), source, name, progress)
        return import_notebook(load_project(root), source, name, args.snippets, progress)
    except DeckError as exc:
        progress.error(str(exc))
        return 1


def _git_user() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def clean(project: Project, with_cache: bool, progress: Progress) -> int:
    shutil.rmtree(project.build_dir, ignore_errors=True)
    progress.line(f"removed {Location(project.build_dir)}")
    if with_cache:
        shutil.rmtree(project.root / FREEZE_DIR, ignore_errors=True)
        progress.line(f"removed {Location(project.root / FREEZE_DIR)}")
    return 0

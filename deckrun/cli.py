"""The command line: one subcommand a command, each with its own options, help and
handler, wired in one table (COMMANDS); `build` when no command is named, so
`python build.py --html` and `python build.py slides/x.md` work as they always have.
`deckrun COMMAND --help` shows that command's options. A build with nothing to do stops
before the heavy imports (see pipeline/uptodate.py)."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn

from .core.errors import DeckError, Location, ToolError
from .core.options import FORMATS
from .core.progress import Progress
from .core.project import FREEZE_DIR, Project

if TYPE_CHECKING:
    from .core.options import BuildOptions
    from .pipeline.build import Session
    from .render.marp import MarpWorker

Handler = Callable[[argparse.Namespace, Path, Progress], int]


@dataclass(frozen=True)
class Command:
    """A subcommand: its name (and other spellings), what it does, its options (functions
    that add them to its parser) and its handler."""
    name: str
    summary: str
    options: tuple[Callable[[argparse.ArgumentParser], None], ...]
    run: Handler
    aliases: tuple[str, ...] = ()


# -- options, in groups the commands share


def _decks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="DECK", help="decks (default: every deck under slides/)")


def _formats(parser: argparse.ArgumentParser) -> None:
    for fmt in FORMATS.values():
        parser.add_argument(f"--{fmt.name}", action="store_true", help=f"{fmt.summary} (build/DECK{fmt.suffix})")


def _cells(parser: argparse.ArgumentParser) -> None:
    """How the decks' cells run."""
    parser.add_argument("--refresh", nargs="?", const="all", action="append", default=[], metavar="TARGET",
                        help="run cells again even if cached: all (no value), a deck, FILE:LINE of a cell, or "
                             "snippet.py#cell; may repeat")
    parser.add_argument("--frozen", action="store_true",
                        help="never run code: take recorded outputs even if other versions computed them; fail if a "
                             "cell has none")
    parser.add_argument("--gateway", metavar="URL",
                        help="run cells on the Jupyter Kernel/Enterprise Gateway at URL (token: "
                             "$JUPYTER_GATEWAY_AUTH_TOKEN); 'local' runs them here whatever the files say")


def _building(parser: argparse.ArgumentParser) -> None:
    """What a build does beyond running cells."""
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings as errors (e.g. an 'error: true' cell that raised nothing)")
    parser.add_argument("--refresh-assets", action="store_true",
                        help="fetch remote images again even if _assets/ has them")
    parser.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                        help="decks built at once (default: the number of cores, fewer if memory is short)")


def _serving(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="the port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--open", action="store_true", help="open the browser")


def _safe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--safe", action="store_true",
                        help="a live run that fails leaves the projected slide as it was (the failure shows in the "
                             "presenter view)")


def _publishing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zip", action="store_true", help="also write build/site.zip")
    parser.add_argument("--handout", type=int, metavar="N", help="slides a handout page (1, 2, 3, 4 or 6; default 2)")
    parser.add_argument("--paper", choices=("a4", "letter"), help="handout paper")
    parser.add_argument("--pptx", action="store_true",
                        help="also the lecturer's copies as PowerPoint that can be edited (build/lecturer/DECK.pptx)")


def _goto(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("where", metavar="FILE:LINE", help="a line of a deck, partial or snippet file")


def _clean(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", action="store_true", help=f"also remove {FREEZE_DIR}/ (the execution cache)")


def _new(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="COURSE", help="the new course's folder (must not exist, or be empty)")
    for option, meaning in (("code", "the unit's code"), ("name", "the unit's name"), ("lecturer", "who teaches it"),
                            ("lang", "the language its decks are written in (BCP 47, e.g. en, en-AU; default en)")):
        parser.add_argument(f"--{option}", help=meaning)


def _import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="FILE", help="a notebook (.ipynb) or a deck written for Marp alone (.md)")
    parser.add_argument("--deck", metavar="NAME",
                        help="the deck's name, under slides/ (default: the file's); week3/lab for a folder")
    parser.add_argument("--snippets", action="store_true",
                        help="a notebook's code as '# %%%% name' cells of snippets/NAME.py, shown with snippet()")


# -- the commands


def build_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .pipeline.uptodate import nothing_changed, record

    built = None if args.refresh or args.refresh_assets or args.jobs else build_in_preview(root, args, progress)
    if built is not None:
        code, warnings = built
        if code == 0 and warnings == 0:
            record(root, build_key(args))
        return code
    marp = start_marp(root, now=True)  # first: Node loads Marp while Python imports and makes the Markdown
    if not (args.refresh or args.refresh_assets) and nothing_changed(root, build_key(args)):
        if marp is not None:
            marp.close()
        decks = len(args.targets) or len(Project(root).decks())
        progress.line(f"nothing changed since the last build: {decks} deck{'s' if decks != 1 else ''} up to date")
        return 0
    code = with_session(args, root, progress, build, marp)
    if code == 0 and progress.warnings == 0:
        record(root, build_key(args))
    return code


def publish_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    def publish(paths: list[Path], options: BuildOptions, session: Session) -> int:
        from .publish.site import PublishOptions
        from .publish.site import publish as publish_decks

        return publish_decks(paths, options, PublishOptions(args.handout, args.paper, args.zip, args.pptx), session,
                             every_deck=not args.targets)

    return with_session(args, root, progress, publish)


def check_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .pipeline.check import check_decks

    return with_session(args, root, progress, check_decks)


def watch_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .core.project import load_project
    from .preview.watch import watch

    project = load_project(root)
    return watch(project, [Path(t).resolve() for t in args.targets], build_options(args, ("html",)), args.port,
                 args.open, progress)


def present_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .core.project import load_project
    from .preview.present import present

    project = load_project(root)
    return present(project, deck_paths(project, args.targets), build_options(args, ("html",)), args.port, args.open,
                   args.safe, progress)


def status_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .core.project import load_project
    from .pipeline.status import report_status

    project = load_project(root)
    return report_status(project, deck_paths(project, args.targets), build_options(args), progress)


def prune_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .core.files import build_lock
    from .core.project import load_project
    from .pipeline.status import prune

    project = load_project(root)
    with build_lock(project.build_dir, progress.note):
        return prune(project, build_options(args), progress)


def clean_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .core.files import build_lock

    build_dir = root / "build"
    with build_lock(build_dir, progress.note):
        shutil.rmtree(build_dir, ignore_errors=True)
        progress.line(f"removed {Location(build_dir)}")
        if args.cache:
            shutil.rmtree(root / FREEZE_DIR, ignore_errors=True)
            progress.line(f"removed {Location(root / FREEZE_DIR)}")
    return 0


def goto_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .preview.steer import goto

    return goto(root, args.where, progress)


def new_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .course.new import new_course

    target = Path(args.folder).resolve()
    return new_course(target, args.code or target.name.upper().replace("-", ""),
                      args.name or target.name.replace("-", " ").replace("_", " ").title(),
                      args.lecturer or _git_user() or "Your Name", args.lang or "en", progress)


def doctor_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    from .course.doctor import doctor

    return doctor(root, progress)


def import_command(args: argparse.Namespace, root: Path, progress: Progress) -> int:
    """A notebook, or a deck written for Marp alone, into the course."""
    from .core.project import load_project
    from .course.importer import deck_name, import_notebook
    from .course.marpdeck import import_marp_deck

    source = Path(args.source).resolve()
    if source.suffix not in (".ipynb", ".md"):
        raise DeckError("import takes a notebook (.ipynb) or a Marp deck (.md)", Location(source))
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


COMMANDS = (
    Command("build", "run the decks' cells and render them, to HTML and PDF unless asked (the default command)",
            (_decks, _formats, _cells, _building), build_command),
    Command("publish", "the students' site in build/site/, the lecturer's copies in build/lecturer/",
            (_decks, _cells, _building, _publishing), publish_command),
    Command("check", "slides that overflow, images without alt text, low contrast", (_decks, _cells, _building),
            check_command),
    Command("watch", "build, serve with live updates, rebuild on save (HTML unless asked)",
            (_decks, _formats, _cells, _serving), watch_command, aliases=("serve",)),
    Command("present", "serve the decks with their cells live: edit and run them while presenting",
            (_decks, _cells, _serving, _safe), present_command),
    Command("goto", "the running preview shows the slide of FILE:LINE (for editors)", (_goto,), goto_command),
    Command("status", "what the cache holds and why cells are stale", (_decks, _cells), status_command),
    Command("prune", "remove cache entries no deck uses", (_cells,), prune_command),
    Command("clean", "remove build/ (and the cache with --cache)", (_clean,), clean_command),
    Command("new", "start a course in a new folder", (_new,), new_command),
    Command("doctor", "the tools deckrun uses, what the course chooses, what is missing", (), doctor_command),
    Command("import", "a notebook as a deck whose code runs, or a deck written for Marp alone",
            (_import,), import_command),
)


def parser() -> argparse.ArgumentParser:
    """The command line's parser: --root, then a command and its options."""
    def root_option(owner: argparse.ArgumentParser, default: object) -> None:
        owner.add_argument("--root", type=Path, default=default,
                           help="the course folder (default: the current folder)")

    main = argparse.ArgumentParser(prog="deckrun", description="Run the code on the slides and render the decks "
                                   "with Marp. A command's options: deckrun COMMAND --help.")
    root_option(main, None)
    commands = main.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, aliases=list(command.aliases), help=command.summary,
                                  description=command.summary)
        for add in command.options:
            add(sub)
        root_option(sub, argparse.SUPPRESS)  # (given before or after the command)
        sub.set_defaults(handler=command.run, command=command.name, usage=sub)
    return main


def with_command(argv: list[str]) -> list[str]:
    """The arguments with `build` where the command goes, if none is named (after --root)."""
    names = {name for command in COMMANDS for name in (command.name, *command.aliases)}
    at = 0
    while at < len(argv) and (argv[at] == "--root" or argv[at].startswith("--root=")):
        at += 1 if "=" in argv[at] else 2
    if at < len(argv) and (argv[at] in names or argv[at] in ("-h", "--help")):
        return argv
    return argv[:at] + ["build"] + argv[at:]


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
    args, unknown = parser().parse_known_args(with_command(sys.argv[1:] if argv is None else argv))
    if unknown:  # said with the command's own usage: what it does take
        args.usage.error(f"unrecognized arguments: {' '.join(unknown)} (deckrun {args.command} --help)")
    root = (args.root or default_root or Path.cwd()).resolve()
    progress = Progress()
    stop_on_signals()
    try:
        code: int = args.handler(args, root, progress)
        return code
    except (DeckError, ToolError) as exc:
        progress.error(str(exc))
        return 1
    except KeyboardInterrupt:
        progress.interrupted()
        return 130


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and kill (SIGTERM) stop a command cleanly (a KeyboardInterrupt
    where it is), even one started in the background, where a shell without job control
    sets SIGINT to be ignored (a CI script's `cmd &`); a full disk (or a file size limit)
    is an error saying so, not a killed process."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if hasattr(signal, "SIGXFSZ"):  # (POSIX)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def build_options(args: argparse.Namespace, default_formats: tuple[str, ...] = ("html", "pdf")) -> BuildOptions:
    """What the command line asks a build to do."""
    from .core.options import BuildOptions

    formats = tuple(fmt for fmt in FORMATS if getattr(args, fmt.replace("-", "_"), False)) or default_formats
    return BuildOptions(formats, getattr(args, "strict", False), getattr(args, "frozen", False),
                        tuple(getattr(args, "refresh", ())), getattr(args, "refresh_assets", False),
                        getattr(args, "gateway", None))


Work = Callable[[list[Path], "BuildOptions", "Session"], int]


def with_session(args: argparse.Namespace, root: Path, progress: Progress, work: Work,
                 marp: MarpWorker | None = None) -> int:
    """Run `work` on the decks named (or all) in one session, holding the course's build
    lock. Node loads the Marp CLI meanwhile (most of a one-deck rebuild's time): from the
    start for a build, which nearly always renders (`marp`, started); when first needed
    for the others."""
    from .core.files import build_lock
    from .core.project import load_project
    from .pipeline.build import Session

    marp = marp or start_marp(root, now=False)
    try:
        project = load_project(root)
        options = build_options(args)
        with build_lock(project.build_dir, progress.note):
            session = Session.open(project, options, progress, jobs=args.jobs, marp=marp)
            try:
                return work(deck_paths(project, args.targets), options, session)
            finally:
                session.close()
    finally:
        if marp is not None:
            marp.close()


def build_in_preview(root: Path, args: argparse.Namespace, progress: Progress) -> tuple[int, int] | None:
    """The build done by the course's running `watch`, if one runs (see preview/steer.py)."""
    from .preview.steer import build_in_preview as ask

    decks = [str(Path(target).resolve()) for target in args.targets]
    options = build_options(args)
    return ask(root, {"decks": decks, "formats": list(options.formats), "strict": options.strict,
                      "frozen": options.frozen, "gateway": options.gateway}, progress)


def start_marp(root: Path, now: bool) -> MarpWorker | None:
    from .render.marp import MarpWorker

    try:
        return MarpWorker(root, start=now)
    except ToolError:
        return None  # no Node or no Marp CLI: said when something must be rendered


def build_key(args: argparse.Namespace) -> str:
    """What a build was asked: the same request on the same files needs doing once."""
    targets = sorted(str(Path(t).resolve()) for t in args.targets)
    return repr(("build", sorted(build_options(args).formats), targets, args.strict, args.frozen))


def deck_paths(project: Project, targets: list[str]) -> list[Path]:
    paths = [Path(t).resolve() for t in targets] or project.decks()
    if not paths:
        raise DeckError(f"no decks found in {project.slides_dir}")
    return paths


def build(paths: list[Path], options: BuildOptions, session: Session) -> int:
    from .pipeline.build import build_decks, summarize

    started = time.monotonic()
    return summarize(build_decks(paths, options, session), session.progress, time.monotonic() - started)


def _git_user() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""

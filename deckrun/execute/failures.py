"""A cell that raised, or was stopped, as the lecturer is told of it: where in the deck,
where in its code, its traceback, and what to do (a package the kernel lacks: which
environment it runs in and the command that adds it there; a name an earlier cell sets
that did not run first; input(), which no one can answer)."""
from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import DeckError, Location, ToolError
from ..source.cells import Cell, parse_snippet_file
from .environment import LOCK_FILE
from .outputs import CellResult, Error
from .settings import DeckSettings

_HINTS = {
    "ExecutableNotFound": "(Graphviz's `dot` program is missing: install it, e.g. `sudo apt-get install "
                          "graphviz` on Debian/Ubuntu, `brew install graphviz` on macOS; ./run does it)",
    "StdinNotImplementedError": "(input() cannot be answered: cells run with no one at a keyboard; "
                                "write the value into the code)",
}


def error_hint(ename: str) -> str:
    """What to do about an error of this kind, if there is something general to say."""
    return _HINTS.get(ename, "")


def _defined_elsewhere(cell: Cell, error: Error) -> str:
    """For a NameError in a snippet cell: the earlier cell of its file that binds the name."""
    found = re.match(r"name '(\w+)' is not defined", error.evalue)
    if error.ename != "NameError" or not found or cell.origin.path.suffix not in (".py", ".ipynb") \
            or not cell.name:
        return ""
    defining = parse_snippet_file(cell.origin.path).defining(found.group(1), cell.name)
    if defining is None:
        return ""
    piece, later = defining
    where = str(Location(cell.origin.path, piece.line))
    what = f"cell '{piece.name}' ({where})" if piece.name else where
    return f"('{found.group(1)}' is set by {what}, " + (
        "which comes after this cell in the file)" if later else "which did not run before this cell)")


# Modules whose distribution is named otherwise (pip install NAME).
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "skimage": "scikit-image", "cv2": "opencv-python", "PIL": "pillow",
                  "yaml": "pyyaml", "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "docx": "python-docx",
                  "pptx": "python-pptx", "Bio": "biopython", "google.generativeai": "google-generativeai"}


def _missing_package(error: Error, settings: DeckSettings | None, root: Path | None) -> str:
    """For a module the kernel cannot import: which environment the kernel runs in, and
    the command that adds the package there."""
    found = re.match(r"No module named '([\w.]+)'", error.evalue)
    if error.ename != "ModuleNotFoundError" or not found or settings is None:
        return ""
    module = found.group(1).split(".")[0]
    package = _DISTRIBUTIONS.get(module, module)
    if settings.gateway is not None:
        return (f"(the deck's kernel runs on the gateway at {settings.gateway.url}: '{package}' must be "
                f"installed in the environment of its '{settings.gateway.kernel_name}' kernel there)")
    if settings.kernel is not None:
        python = _kernel_python(settings.kernel)
        where = f"runs {python}" if python else "is the lecturer's own"
        return (f"(the deck's kernel '{settings.kernel}' {where}: add the package to that environment"
                + (f", e.g. {python} -m pip install {package}" if python else "") + ")")
    import sys

    locked = root is not None and (root / LOCK_FILE).is_file()
    return (f"(cells run in deckrun's own Python ({sys.prefix}): add '{package}' to it"
            + (f" (this course locks its packages: add it to pyproject.toml and run ./run upgrade {package})"
               if locked else f", e.g. {sys.executable} -m pip install {package}")
            + ", or run the deck in a kernel of your own environment with `execute: kernel: NAME` "
              "(jupyter kernelspec list shows them))")


def _kernel_python(name: str) -> str:
    """The interpreter an installed Python kernelspec starts, if it says."""
    from .connection import kernel_spec

    try:
        argv = kernel_spec(name).argv
    except ToolError:
        return ""
    return argv[0] if argv and "python" in Path(argv[0]).name else ""


class CellFailed(DeckError):
    """A cell raised (and was not allowed to: no `error: true`)."""


class CellTimeout(DeckError):
    """A cell ran past its time-out and was stopped."""


def cell_error(cell: Cell, result: CellResult, settings: DeckSettings | None = None,
               root: Path | None = None) -> DeckError:
    """A cell raised or was stopped: say where in the deck, where in the code, and show
    the traceback (and, for a package the kernel lacks, where to add it)."""
    error = result.error
    assert error is not None
    if result.timed_out:
        return CellTimeout(f"cell raised {error.ename}: {error.evalue}", cell.reference,
                           also=(cell.origin,) if cell.origin.path != cell.reference.path else (),
                           detail="(add '#| error: true' to show the time-out on the slide instead)")
    origin = cell.origin
    if error.line is not None and origin.line is not None:
        origin = Location(origin.path, origin.line + error.line - 1)
    also = (origin,) if origin != cell.reference else ()
    message = f"cell raised {error.ename}: {error.evalue}"
    hint = error_hint(error.ename) or _defined_elsewhere(cell, error) or _missing_package(error, settings, root) \
        or "(add '#| error: true' if the exception is the point of the slide)"
    return CellFailed(message, cell.reference, also=also, detail=(error.traceback or "") + "\n" + hint)

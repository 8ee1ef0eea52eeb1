"""Marp Markdown -> HTML / PDF / PPTX with the Marp CLI pinned in package.json.

Success is judged by the output file (present, complete, of the right kind), never by
Marp's exit code alone: with arguments in the wrong order Marp prints its help and exits 0.
Output is written to a temporary name and moved into place, so a failed render never
replaces a good file with a broken one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import ToolError

FORMATS = ("html", "pdf", "pptx")
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "microsoft-edge", "microsoft-edge-stable")
BROWSER_TIMEOUT = 120  # seconds per browser operation (large decks with many figures)
_ENGINE_CONFIG = Path(__file__).with_name("marp.config.json")


def find_browser() -> Path:
    """The system's Chrome/Chromium/Edge; CHROME_PATH overrides."""
    override = os.environ.get("CHROME_PATH")
    if override:
        if not os.access(override, os.X_OK):
            raise ToolError(f"CHROME_PATH={override} is not an executable browser")
        return Path(override)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ToolError("PDF and PPTX output need Chrome, Chromium or Edge, and none was found.\n"
                    "Install one (Debian/Ubuntu: sudo apt-get install chromium) "
                    "or set CHROME_PATH to its executable.")


def find_marp(root: Path) -> Path:
    """The pinned Marp CLI: the course's own node_modules, else deckrun's checkout's."""
    for folder in (root, Path(__file__).resolve().parent.parent):
        marp = folder / "node_modules" / ".bin" / "marp"
        if marp.exists():
            return marp
    raise ToolError(f"the Marp CLI is not installed in {root / 'node_modules'}: "
                    "run `npm ci` (or `./run setup`) in the project folder")


def marp_command(root: Path, markdown: Path, fmt: str, output: Path, themes: Path) -> list[str]:
    # Input files must come before --theme-set, which takes several values.
    command = [str(find_marp(root)), str(markdown), "--html",
               "--config-file", str(_ENGINE_CONFIG), "-o", str(output)]
    if fmt != "html":
        command += [f"--{fmt}", "--allow-local-files",
                    "--browser-path", str(find_browser()),
                    "--browser-timeout", str(BROWSER_TIMEOUT)]
    if themes.is_dir() and any(themes.glob("*.css")):
        command += ["--theme-set", str(themes)]
    return command


def render(root: Path, markdown: Path, fmt: str, output: Path, themes: Path) -> Path:
    """Render `markdown` to `output` in `fmt`; raise ToolError with Marp's words on failure."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    partial = output.with_name(f".{output.stem}.partial.{fmt}")
    partial.unlink(missing_ok=True)
    command = marp_command(root, markdown, fmt, partial, themes)
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    problem = _check_output(partial, fmt)
    if proc.returncode != 0 or problem:
        partial.unlink(missing_ok=True)
        said = "\n".join(line for line in (proc.stderr + proc.stdout).splitlines() if line.strip())
        raise ToolError(f"Marp could not write {output.name}: {problem or f'exit code {proc.returncode}'}"
                        + (f"\n{said}" if said else ""))
    partial.replace(output)
    return output


def _check_output(path: Path, fmt: str) -> str:
    """Why `path` is not a complete file of kind `fmt` ('' when it is)."""
    if not path.exists() or path.stat().st_size == 0:
        return "no output file was written"
    with path.open("rb") as handle:
        head = handle.read(1024)
        handle.seek(max(path.stat().st_size - 1024, 0))
        tail = handle.read()
    if fmt == "pdf" and not (head.startswith(b"%PDF-") and b"%%EOF" in tail):
        return "the PDF is incomplete"
    if fmt == "pptx" and not head.startswith(b"PK"):
        return "the PPTX is not a valid file"
    if fmt == "html" and b"</html>" not in tail.lower():
        return "the HTML is incomplete"
    return ""

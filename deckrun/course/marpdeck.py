"""`deckrun import DECK.md [--deck NAME]`: a deck written for Marp alone, brought into the
course so that it builds to the same slides as Marp makes of it. The local files it shows
(images, backgrounds) are copied beside it at the same relative places; a theme it names
that the course lacks is copied from a CSS file beside the deck; prose that reads as Jinja
syntax ({{, {%, {#) is kept as written ({% raw %}). Its code blocks stay code to show: one
runs when its fence says `python run`."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..core.errors import DeckError, Location, read_source
from ..core.files import write_atomic
from ..core.progress import Progress
from ..core.project import Project
from ..source.deck import read_front_matter
from ..source.marpconfig import marp_config
from ..source.slides import parse_slides
from ..source.themes import BUILTIN_THEMES, course_themes

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_JINJA = re.compile(r"\{[{%#]")
_THEME = re.compile(r"@theme\s+([\w-]+)")
_IMPORT = re.compile(r"@import\s+[\"']([\w-]+)[\"']")  # another theme, by its name


def import_marp_deck(project: Project, source: Path, name: str, progress: Progress) -> int:
    """Write the deck, its files and its theme into the course; refuse to overwrite."""
    text = read_source(source)
    front, _ = read_front_matter(text, source)
    files = {f"slides/{name}.md": kept_as_written(text).encode()}
    here = Path(f"slides/{name}").parent
    missing = []
    for url in _local_references(text):
        found = (source.parent / url).resolve()
        if found.is_file():
            files[(here / url).as_posix()] = found.read_bytes()
        else:
            missing.append(url)
    theme = front.get("theme")
    known = course_themes(project)
    if isinstance(theme, str) and theme not in BUILTIN_THEMES and theme not in known and \
            not marp_config(project.root).override:
        for css in _theme_files(source, theme, set(known) | set(BUILTIN_THEMES)):
            files[f"themes/{css.name}"] = css.read_bytes()
    clash = [path for path, data in files.items()
             if (project.root / path).exists() and (project.root / path).read_bytes() != data]
    if clash:
        raise DeckError(f"{clash[0]} already exists: choose another name with --deck NAME, or move it "
                        "(nothing was written)", Location(project.root / clash[0]))
    for path, data in files.items():
        write_atomic(project.root / path, data)
    progress.line(f"wrote {', '.join(files)} from {Location(source)}")
    for url in missing:
        progress.line(f"  not found beside the deck: {url} (its slide shows a placeholder)")
    shown = sum(1 for line in text.splitlines() if re.match(r"^\s*(`{3,}|~{3,})\s*python\s*$", line))
    if shown:
        progress.line(f"  {shown} Python code block{'s are' if shown != 1 else ' is'} shown as written: "
                      "write `python run` after a fence to run its code")
    progress.line(f"next: deckrun build slides/{name}.md")
    return 0


def kept_as_written(text: str) -> str:
    """The deck with each stretch of prose between code fences that reads as Jinja
    syntax wrapped in {% raw %}...{% endraw %} (on its own first and last lines: the line
    numbers stay). Code is kept as written by deckrun anyway."""
    lines = text.split("\n")
    body = _body_start(lines)
    out = lines[:body]
    stretch: list[str] = []
    fence = None

    def close() -> None:
        if stretch and _JINJA.search("\n".join(stretch)):
            stretch[0] = "{% raw %}" + stretch[0]
            stretch[-1] += "{% endraw %}"
        out.extend(stretch)
        stretch.clear()

    for line in lines[body:]:
        opened = _FENCE.match(line)
        if fence is None and opened:
            close()
            fence = opened.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) \
                    and not line.strip()[len(opened.group(1)):].strip():
                fence = None
        else:
            stretch.append(line)
    close()
    return "\n".join(out)


def _body_start(lines: list[str]) -> int:
    """The line after the front matter (0: it has none)."""
    if lines and lines[0].strip() == "---":
        return next((i + 1 for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
    return 0


def _local_references(text: str) -> list[str]:
    """The files a deck shows that live beside it (relative paths, without any query)."""
    found = []
    for slide in parse_slides(text).slides:
        for reference in slide.references:
            parsed = urlparse(reference.url)
            if not parsed.scheme and not parsed.netloc and parsed.path and not reference.url.startswith(("/", "#")):
                path = unquote(parsed.path)
                if ".." not in Path(path).parts and path not in found:
                    found.append(path)
    return found


def _theme_files(deck: Path, theme: str, known: set[str]) -> list[Path]:
    """The CSS file that declares the theme (/* @theme NAME */) near the deck (beside it,
    in a folder beside it or beside a folder above it, up to three up), and those of the
    themes it @imports by name that the course lacks."""
    near = [folder for folder in [deck.parent, *deck.parents[:3]]]
    sheets: dict[str, Path] = {}
    for folder in near:
        for css in sorted(folder.glob("*.css")) + sorted(folder.glob("*/*.css")):
            found = _THEME.search(css.read_text(encoding="utf-8", errors="replace"))
            if found:
                sheets.setdefault(found.group(1), css)
    wanted, files = [theme], list[Path]()
    while wanted:
        name = wanted.pop()
        if name in known or any(css == sheets.get(name) for css in files):
            continue
        if name not in sheets:
            raise DeckError(f"the deck's theme '{name}' is not one of the course's, and no CSS file near the deck "
                            f"declares it (/* @theme {name} */): put it in themes/ first", Location(deck))
        files.append(sheets[name])
        wanted += _IMPORT.findall(sheets[name].read_text(encoding="utf-8", errors="replace"))
    return files

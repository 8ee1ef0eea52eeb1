"""`deckrun new COURSE`: a course folder with a first deck that builds as it is (a
running cell, a figure from a snippet file, a partial), the course theme, a .gitignore,
VS Code settings (Marp for VS Code on the theme, a watch task) and a GitHub Actions
workflow that publishes the students' site to GitHub Pages from the committed cache."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..core.errors import DeckError, Location
from ..core.files import write_atomic
from ..core.progress import Progress
from ..core.project import course_language
from ..core.tools import PACKAGE

STARTER = Path(__file__).with_name("starter")
THEME = "nmt-theme.css"
_DOT = {"dot-gitignore": ".gitignore", "dot-vscode": ".vscode", "dot-github": ".github"}


def theme_source() -> Path:
    """The course theme to start from: shipped in the package (a wheel), else this
    checkout's themes/."""
    shipped = STARTER / "themes" / THEME
    return shipped if shipped.exists() else PACKAGE.parent / "themes" / THEME


def new_course(target: Path, code: str, name: str, lecturer: str, lang: str, progress: Progress) -> int:
    """Write a course into `target` (which must be empty or not exist yet)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DeckError("this folder is not empty: deckrun new writes a course only into a new or empty folder "
                        "(nothing was written)", Location(target))
    from ..core.project import Project

    course_language(Project(target, {"lang": lang}), {}, target)  # a BCP 47 tag, or a clear error
    fields = {"__CODE__": code, "__NAME__": name, "__LECTURER__": lecturer, "__LANG__": lang}
    fields = {key: json.dumps(value, ensure_ascii=False) for key, value in fields.items()}  # (YAML reads JSON strings)
    written = []
    for source in sorted(p for p in STARTER.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        relative = Path(*(_DOT.get(part, part) for part in source.relative_to(STARTER).parts))
        if relative.parts[0] == "themes":
            continue  # (from theme_source, below)
        text = source.read_text(encoding="utf-8")
        if relative.name == "course.yaml":
            for key, value in fields.items():
                text = text.replace(key, value)
        write_atomic(target / relative, text)
        written.append(relative)
    theme = theme_source()
    if not theme.exists():
        raise DeckError(f"the course theme {THEME} is not shipped with this deckrun: reinstall it", Location(theme))
    (target / "themes").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(theme, target / "themes" / THEME)
    progress.line(f"wrote a course in {Location(target)}: {len(written) + 1} files "
                  f"(slides/welcome.md, snippets/, themes/{THEME}, .vscode/, .github/workflows/)")
    progress.line(f"next: cd {target} && deckrun build   (or deckrun watch, for the live preview)")
    return 0

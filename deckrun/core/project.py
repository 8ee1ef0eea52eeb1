"""Where a course's files are, and what course.yaml says."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DeckError, Location, read_source

COURSE_FILE = "course.yaml"
DEFAULT_LANG = "en"
# A BCP 47 language tag: language, then optional script, region and variants (en, pt-BR, zh-Hant-TW).
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?"
                           r"(-([A-Za-z\d]{5,8}|\d[A-Za-z\d]{3}))*$")
FREEZE_DIR = "_freeze"  # the execution cache (see execute/cache.py)
# Folders of a course that hold what tools made, not sources: never watched, fingerprinted
# or published.
GENERATED = frozenset({"build", FREEZE_DIR, ".git", ".venv", "node_modules", "__pycache__", ".pytest_cache"})
PARTIALS = "partials"  # a folder of Markdown that decks include, not decks


@dataclass(frozen=True)
class Project:
    root: Path
    course: dict[str, Any] = field(default_factory=dict)

    @property
    def slides_dir(self) -> Path:
        return self.root / "slides"

    @property
    def snippets_dir(self) -> Path:
        return self.root / "snippets"

    @property
    def themes_dir(self) -> Path:
        return self.root / "themes"

    @property
    def templates_dir(self) -> Path:
        """Project overrides of the output templates in deckrun/format/templates (and the
        index page of deckrun/publish/templates)."""
        return self.root / "templates"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    def stamp_file(self, output: Path) -> Path:
        """Where the stamp of a file is kept: for one under build/, in build/.stamps (out
        of the way of what is published); else beside it."""
        if output.is_relative_to(self.build_dir):
            return self.build_dir / ".stamps" / f"{output.relative_to(self.build_dir)}.stamp"
        return output.with_name(f".{output.name}.stamp")

    def decks(self) -> list[Path]:
        """Every deck: the Markdown files anywhere under slides/ (slides/week1/index.md),
        except partials (in a folder named `partials`), what a leading `_` or `.` hides
        (a file or a folder), and README files."""
        found = []
        for path in self.slides_dir.rglob("*.md"):
            parts = path.relative_to(self.slides_dir).parts
            if not any(part.startswith(("_", ".")) or part in GENERATED for part in parts) \
                    and PARTIALS not in parts[:-1] and path.stem.lower() != "readme":
                found.append(path)
        return sorted(found)

    def deck_name(self, path: Path) -> str:
        """What a deck is called, and where its outputs go under build/: its path under
        slides/ without `.md` (week1/index), else under the course (a deck named from
        elsewhere in it), else its file's name."""
        path = path.resolve()
        for base in (self.slides_dir.resolve(), self.root):
            if path.is_relative_to(base):
                return path.relative_to(base).with_suffix("").as_posix()
        return path.stem


def check_deck_names(project: Project, paths: list[Path]) -> None:
    """No two decks may write the same files (build/NAME.html...): names that differ only
    in case count as one, as on a disk that ignores case."""
    seen: dict[str, Path] = {}
    for path in paths:
        name = project.deck_name(path)
        other = seen.setdefault(name.casefold(), path)
        if other != path:
            raise DeckError(f"two decks would write the same files (build/{name}.html, ...): {Location(other)} "
                            f"and {Location(path)}; rename one of them", Location(path))


def course_language(project: Project, front_matter: dict[str, Any], deck: Path) -> str:
    """The language a deck is written in, for screen readers (HTML `lang`, PDF `/Lang`):
    `lang:` in its front matter, else in its `course:` mapping or course.yaml, else English;
    never the machine's locale."""
    course = front_matter.get("course")
    places = ((front_matter.get("lang"), Location(deck)),
              ((course or {}).get("lang") if isinstance(course, dict) else None, Location(deck)),
              (project.course.get("lang"), Location(project.root / COURSE_FILE)))
    value, where = next(((v, w) for v, w in places if v is not None), (DEFAULT_LANG, None))
    if not isinstance(value, str) or not _LANGUAGE_TAG.match(value):
        raise DeckError(f"lang must be a BCP 47 language tag such as en, en-AU or pt-BR, not {value!r}", where)
    return value


def load_project(root: Path) -> Project:
    root = root.resolve()
    course_file = root / COURSE_FILE
    course = load_yaml_mapping(read_source(course_file), course_file) \
        if course_file.exists() else {}
    return Project(root=root, course=course)


def yaml_error(exc: Exception, what: str, path: Path, first_line: int) -> DeckError:
    """A YAML error at its line. An unclosed bracket or quote is reported where it opened,
    not at the end of the text where the parser gave up."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    if "stream end" in problem or mark is None:
        mark = getattr(exc, "context_mark", None) or mark
    return DeckError(f"{what}: {problem}", Location(path, first_line + mark.line if mark else None))


def load_yaml_mapping(text: str, path: Path, first_line: int = 1) -> dict[str, Any]:
    """Parse YAML that must be a mapping; errors name the file and line.

    `first_line` is the file line the text starts on (front matter starts after `---`).
    """
    import yaml  # not needed by a build with nothing to do

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        try:  # libyaml is fast; the Python parser says better where a mistake is
            yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise yaml_error(exc, "invalid YAML", path, first_line) from None
        raise
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DeckError("expected a YAML mapping (key: value lines)", Location(path, first_line))
    return data

"""`deckrun import NOTEBOOK.ipynb [--deck NAME] [--snippets]`: a lecturer's notebook as a
deck whose code runs. Markdown cells become prose, code cells `python run` fences (or, with
--snippets, `# %%` cells of snippets/NAME.py shown with snippet()); slide breaks follow the
notebook's `slideshow` metadata as nbconvert reads it, else a break before each heading of
level 1 or 2; tags become cell options. Stored outputs are never copied: the first build
runs the code. What cannot be mapped is said, cell by cell."""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import DeckError, Location
from ..core.files import write_atomic
from ..core.progress import Progress
from ..core.project import Project
from ..source.cells import make_options
from ..source.notebooks import Notebook, NotebookCell, read_notebook
from ..source.themes import course_themes

BREAKS = ("slide", "subslide")
_HEADING = re.compile(r"^#{1,2}\s")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^(?P<indent>\s*)(?:(?P<bullet>[-+*])|(?P<number>\d+)[.)])\s")
_INSTALL = re.compile(r"^\s*(?:!|%)\s*(?:pip|conda|mamba|uv)\b")
_JINJA = re.compile(r"\{[{%#]")
_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class Slide:
    blocks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Imported:
    """What an import writes (paths relative to the course), and what it could not map."""
    files: dict[str, bytes]
    unmapped: list[str]
    outputs_left_out: int


def deck_name(notebook: Path) -> str:
    return _SLUG.sub("-", notebook.stem.lower()).strip("-") or "notebook"


def import_notebook(project: Project, source: Path, name: str, to_snippets: bool, progress: Progress) -> int:
    """Write the deck (and snippets) of a notebook into the course; refuse to overwrite."""
    notebook = read_notebook(source)
    if "python" not in notebook.language:
        raise DeckError(f"this notebook's kernel runs {notebook.language}: deckrun runs Python cells",
                        Location(source))
    if not any(cell.source.strip() for cell in notebook.cells):
        raise DeckError("this notebook has no cells to import", Location(source))
    imported = convert(notebook, name, _theme(project), to_snippets)
    taken = [path for path in imported.files if (project.root / path).exists()]
    if taken:
        raise DeckError(f"{taken[0]} already exists: choose another name with --deck NAME, or move it "
                        "(nothing was written)", Location(project.root / taken[0]))
    for path, data in imported.files.items():
        write_atomic(project.root / path, data)
    deck = f"slides/{name}.md"
    progress.line(f"wrote {', '.join(imported.files)} from {Location(source)} ({len(notebook.cells)} cells)")
    if imported.outputs_left_out:
        count = imported.outputs_left_out
        progress.line(f"  {count} stored output{'s' * (count != 1)} left out: the first build runs the code")
    for problem in imported.unmapped:
        progress.line(f"  not mapped: {problem}")
    if notebook.python2:
        progress.line("  this notebook was written for Python 2: code such as `print x` must become `print(x)` "
                      "to run in a Python 3 kernel")
    progress.line(f"next: deckrun build {deck}")
    return 0


def convert(notebook: Notebook, name: str, theme: str | None, to_snippets: bool) -> Imported:
    """The deck's Markdown, its snippets file and images, from the notebook's cells."""
    converter = _Converter(notebook, name, to_snippets)
    for number, cell in enumerate(notebook.cells, start=1):
        converter.add(number, cell)
    front = {"marp": True, **({"theme": theme} if theme else {}), "paginate": True, "title": notebook.title or name}
    deck = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + converter.markdown()
    files = {f"slides/{name}.md": deck.encode()}
    if converter.snippets:
        files[f"snippets/{name}.py"] = ("\n\n".join(converter.snippets) + "\n").encode()
    files.update(converter.images)
    return Imported(files, converter.unmapped, sum(cell.outputs for cell in notebook.cells))


class _Converter:
    def __init__(self, notebook: Notebook, name: str, to_snippets: bool) -> None:
        self.notebook, self.name, self.to_snippets = notebook, name, to_snippets
        self.by_metadata = any(cell.slideshow not in ("", "-") for cell in notebook.cells)
        self.slides = [Slide()]
        self.snippets: list[str] = []
        self.images: dict[str, bytes] = {}
        self.unmapped: list[str] = []

    def markdown(self) -> str:
        slides = [slide for slide in self.slides if slide.blocks or slide.notes]
        return "\n\n---\n\n".join("\n\n".join(slide.blocks + [_notes(slide.notes)] * bool(slide.notes))
                                  for slide in slides) + "\n"

    def add(self, number: int, cell: NotebookCell) -> None:
        if not cell.source.strip():
            return
        if self.by_metadata and cell.slideshow in BREAKS:
            self._break()
        if cell.kind == "code":
            self._code(number, cell)
        elif cell.kind == "markdown" or cell.raw_format in ("text/markdown", "text/html", "markdown", "html"):
            self._prose(number, cell)
        else:
            self.unmapped.append(f"cell {number}: a raw cell ({cell.raw_format or 'no format'}) is left out")

    def _break(self) -> None:
        if self.slides[-1].blocks or self.slides[-1].notes:
            self.slides.append(Slide())

    def _prose(self, number: int, cell: NotebookCell) -> None:
        if cell.slideshow == "skip":
            return
        text = self._attachments(number, cell)
        if cell.slideshow == "notes":
            self.slides[-1].notes.append(text.strip())
            return
        if cell.slideshow == "fragment":
            text = self._fragment(number, text)
        if re.search(r"^ {0,3}([-*_])(\s*\1){2,}\s*$", text, re.M):
            self.unmapped.append(f"cell {number}: a horizontal rule is a slide break in Marp")
        if self.by_metadata:
            self.slides[-1].blocks.append(_raw(text.strip()))
            return
        for part, heading in _split_at_headings(text):
            if heading:
                self._break()
            if part.strip():
                self.slides[-1].blocks.append(_raw(part.strip()))

    def _fragment(self, number: int, text: str) -> str:
        """Marp's fragments are list items: `*` bullets and `1)` numbers appear one by one."""
        lines = text.split("\n")
        items = [i for i, line in enumerate(lines) if _LIST_ITEM.match(line)]
        if not items:
            self.unmapped.append(f"cell {number}: a fragment that is not a list is shown at once "
                                 "(Marp reveals list items only)")
            return text
        for i in items:
            match = _LIST_ITEM.match(lines[i])
            assert match  # (the items are the lines it matches)
            marker = "* " if match.group("bullet") else f"{match.group('number')}) "
            lines[i] = match.group("indent") + marker + lines[i][match.end():]
        return "\n".join(lines)

    def _attachments(self, number: int, cell: NotebookCell) -> str:
        """Images pasted into the cell (attachment:...) and images beside the notebook,
        copied to slides/images/NAME/ and linked from there."""
        def image(match: re.Match[str]) -> str:
            target = match.group("target")
            folder = f"images/{self.name}"
            if target.startswith("attachment:"):
                key = target.removeprefix("attachment:")
                data = next(iter(cell.attachments.get(key, {}).values()), None)
                if data is None:
                    self.unmapped.append(f"cell {number}: attachment {key} is not in the notebook")
                    return match.group(0)
                self.images[f"slides/{folder}/{Path(key).name}"] = base64.b64decode(data)
                return f"![{match.group('alt')}]({folder}/{Path(key).name}{match.group('title') or ''})"
            if re.match(r"^[a-z]+:|^/|^#", target):
                return match.group(0)
            beside = (self.notebook.path.parent / target).resolve()
            if not beside.is_file():
                self.unmapped.append(f"cell {number}: image {target} not found beside the notebook")
                return match.group(0)
            self.images[f"slides/{folder}/{beside.name}"] = beside.read_bytes()
            return f"![{match.group('alt')}]({folder}/{beside.name}{match.group('title') or ''})"

        return _IMAGE.sub(image, cell.source)

    def _code(self, number: int, cell: NotebookCell) -> None:
        code, options = self._options(number, cell)
        code = "\n".join(self._install_line(number, line) for line in code.split("\n"))
        if cell.slideshow == "skip" and not self.to_snippets:  # (a snippet file's runs unseen when needed)
            options.update(echo=False, output="hide")
        elif cell.slideshow in ("notes", "fragment"):
            self.unmapped.append(f"cell {number}: a code cell marked '{cell.slideshow}' is shown on its slide")
        header = "".join(f"#| {line}\n" for line in _yaml_lines(options))
        if not self.to_snippets:
            fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`{3,}", code))])
            self.slides[-1].blocks.append(f"{fence}python run\n{header}{code}\n{fence}")
            return
        label = re.sub(r"[^\w-]", "-", cell.name) if cell.name else f"cell-{number}"
        if any(snippet.startswith(f"# %% {label}\n") for snippet in self.snippets):
            label = f"{label}-{number}"
        self.snippets.append(f"# %% {label}\n{header}{code}")
        if cell.slideshow != "skip":
            self.slides[-1].blocks.append(f'{{{{ snippet("{self.name}.py#{label}") }}}}')

    def _options(self, number: int, cell: NotebookCell) -> tuple[str, dict[str, Any]]:
        """The cell's own `#|` options that deckrun knows (the others are reported and
        dropped), with its tags' options over them."""
        lines = cell.source.strip("\n").split("\n")
        count = next((i for i, line in enumerate(lines) if not line.startswith("#|")), len(lines))
        kept: dict[str, Any] = {}
        for line in lines[:count]:
            try:
                raw = yaml.safe_load(line[2:]) or {}
                if not isinstance(raw, dict):
                    raise ValueError(line)
                make_options(raw, Location(self.notebook.path))
                kept.update(raw)
            except (yaml.YAMLError, ValueError, DeckError):
                self.unmapped.append(f"cell {number}: option '{line.strip()}' is not a deckrun cell option (dropped)")
        for tag in cell.tags:
            if tag not in ("remove-input", "hide-input", "remove-output", "hide-output", "remove-cell",
                           "hide-cell", "raises-exception") and not tag.startswith("slide"):
                self.unmapped.append(f"cell {number}: tag '{tag}' has no meaning for deckrun "
                                     "(kept in the notebook only)")
        kept.update(cell.tag_options())
        if cell.raised and "error" not in kept:  # it raised when the notebook ran: its slide shows that
            kept["error"] = True
            self.unmapped.append(f"cell {number}: it raised when the notebook was run: marked 'error: true' "
                                 "(its slide shows the error; remove the option if that was a mistake)")
        return "\n".join(lines[count:]).strip("\n"), kept

    def _install_line(self, number: int, line: str) -> str:
        if not _INSTALL.match(line):
            return line
        self.unmapped.append(f"cell {number}: `{line.strip()}` commented out: install packages in the course's "
                             "environment, not on every build")
        return f"# {line}  (deckrun: install this in the course's environment)"


def _split_at_headings(text: str) -> list[tuple[str, bool]]:
    """The text cut before each heading of level 1 or 2 outside code: (part, starts with
    a heading)."""
    parts: list[tuple[list[str], bool]] = [([], False)]
    fence = None
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if opened and (fence is None or opened.group(1).startswith(fence)):
            fence = None if fence else opened.group(1)
        if fence is None and _HEADING.match(line) and not opened:
            parts.append(([], True))
        parts[-1][0].append(line)
    return [("\n".join(lines), heading) for lines, heading in parts]


def _raw(text: str) -> str:
    """Prose that reads as Jinja syntax ({{, {%, {#) kept as written."""
    return f"{{% raw %}}\n{text}\n{{% endraw %}}" if _JINJA.search(text) else text


def _notes(notes: list[str]) -> str:
    text = "\n\n".join(notes).replace("-->", "--&gt;")
    return _raw(f"<!--\n{text}\n-->")


def _yaml_lines(options: dict[str, Any]) -> list[str]:
    """`key: value` lines, one option each, as YAML reads them back."""
    return [yaml.safe_dump({key: value}, default_flow_style=True, width=1000).strip()[1:-1]
            for key, value in options.items()]


def _theme(project: Project) -> str | None:
    """The course's theme (nmt-theme if it has that one); None: Marp's own."""
    themes = course_themes(project)
    return "nmt-theme" if "nmt-theme" in themes else next(iter(themes), None)

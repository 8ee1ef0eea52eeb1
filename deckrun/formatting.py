"""Turn cell results into Marp Markdown, one Jinja template per kind of output.

Templates live in deckrun/templates; a project overrides any of them by putting a file
of the same name in its own `templates/` folder. Figures are written beside the deck's
Markdown with content-hashed names, so an unchanged figure keeps its file name.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from .cells import Cell, CellOptions
from .files import write_atomic
from .outputs import CellResult, Error, Output, Rich, Stream, best_kind
from .sources import MARKER_PATTERN, Deck


class Templates:
    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None and override_dir.is_dir():
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(jinja2.PackageLoader("deckrun", "templates"))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False,
                                      keep_trailing_newline=False, undefined=jinja2.StrictUndefined)

    def render(self, template: str, **context) -> str:
        return self.env.get_template(f"{template}.md.j2").render(**context).strip("\n")


@lru_cache(maxsize=8)
def templates_for(override_dir: Path) -> Templates:
    """One environment per course: Jinja keeps the compiled templates, and reloads one
    whose file changed."""
    return Templates(override_dir)


@dataclass(frozen=True)
class FigureFolder:
    """Where a deck's figures go: `folder`, referred to from the Markdown as `prefix`."""
    folder: Path
    prefix: str

    def save(self, data: bytes, extension: str) -> str:
        name = f"{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
        target = self.folder / name
        if not target.exists():
            write_atomic(target, data)
        return f"{self.prefix}/{name}"


class CellFormatter:
    def __init__(self, templates: Templates, figures: FigureFolder) -> None:
        self.templates = templates
        self.figures = figures

    def cell(self, cell: Cell, result: CellResult) -> str:
        opts = cell.options
        code = ""
        if opts.echo and opts.output != "only":
            code = self.templates.render("code", code=cell.code, language="python",
                                         fence=fence_for(cell.code))
        outputs = ""
        if opts.output != "hide":
            outputs = "\n\n".join(filter(None, (self.output(o, opts) for o in result.outputs)))
        return self.templates.render("cell", code=code, outputs=outputs, layout=opts.output)

    def output(self, output: Output, opts: CellOptions) -> str:
        if isinstance(output, Stream):
            text = truncate(output.text, opts.max_lines)
            return self.templates.render("stream", name=output.name, text=text, fence=fence_for(text))
        if isinstance(output, Error):
            return self.templates.render("error", ename=output.ename, evalue=output.evalue,
                                         fence=fence_for(output.evalue))
        return self.rich(output, opts)

    def rich(self, output: Rich, opts: CellOptions) -> str:
        kind = best_kind(output.data)
        if kind is None:
            return ""
        content = output.data[kind.mime]
        if kind.extension:
            src = self.figures.save(kind.to_bytes(content), kind.extension)
            return self.templates.render(kind.template, src=src, style=image_style(opts),
                                         alt=opts.fig_alt, caption=opts.fig_cap)
        if kind.template == "html":
            html = "\n".join(line for line in content.splitlines() if line.strip())
            return self.templates.render(kind.template, html=html)
        if kind.template == "markdown":
            return self.templates.render(kind.template, markdown=content)
        text = truncate(content, opts.max_lines)
        return self.templates.render(kind.template, text=text, fence=fence_for(text))


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def truncate(text: str, max_lines: int | None) -> str:
    lines = text.splitlines()
    if max_lines is None or len(lines) <= max_lines:
        return text
    hidden = len(lines) - max_lines
    return "\n".join(lines[:max_lines] + [f"... ({hidden} more line{'s' if hidden > 1 else ''})"])


def image_style(opts: CellOptions) -> str:
    parts = [f"width:{opts.width}" if opts.width else "", f"height:{opts.height}" if opts.height else ""]
    return ";".join(p for p in parts if p)


def inject(deck: Deck, formatted: list[str]) -> str:
    """Put each cell's Markdown where its marker is, indented like the marker's line, so a
    cell inside a list item stays inside it. A marker after text on its line (`2. Step
    {{ snippet(...) }}`) starts its block on the next line."""
    def replace(line_match: re.Match) -> str:
        prefix, body = line_match.group(1), formatted[int(line_match.group(2))].split("\n")
        lead = _LIST_ITEM_LEAD.match(prefix).group(0)
        indent = " " * len(lead)
        first = [prefix + body[0]] if prefix == lead else [prefix.rstrip(), "", indent + body[0]]
        return "\n".join(first + [indent + line if line else "" for line in body[1:]])

    line_pattern = re.compile(rf"^(.*?){MARKER_PATTERN.pattern}[ \t]*$", re.MULTILINE)
    return line_pattern.sub(replace, deck.markdown)


_LIST_ITEM_LEAD = re.compile(r"[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)?")

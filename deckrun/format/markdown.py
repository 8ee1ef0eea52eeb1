"""Turn cell results into Marp Markdown, one Jinja template per kind of output.

Templates live in deckrun/format/templates; a project overrides any of them by putting a file
of the same name in its own `templates/` folder. Figures are written beside the deck's
Markdown with content-hashed names, so an unchanged figure keeps its file name.
"""
from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2

from ..core.files import write_atomic
from ..execute.outputs import FILE_KINDS, CellResult, Error, Output, OutputKind, Rich, Stream, best_kind
from ..source.cells import Cell, CellOptions
from ..source.deck import MARKER_PATTERN, Deck
from ..source.diagrams import MARKER_PATTERN as DIAGRAM_MARKER
from ..source.diagrams import Diagram
from .interactive import document, interactive_html, still_key


class Templates:
    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None and override_dir.is_dir():
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(jinja2.PackageLoader("deckrun.format", "templates"))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False,
                                      keep_trailing_newline=False, undefined=jinja2.StrictUndefined)

    def render(self, template: str, **context: Any) -> str:
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
    """Cell results as Marp Markdown. `node_modules` holds the browser libraries that
    interactive outputs get inlined; `stills` the still pictures of interactive outputs
    (interactive.still_key -> PNG) that paper shows instead."""

    def __init__(self, templates: Templates, figures: FigureFolder, node_modules: Path | None = None,
                 stills: Mapping[str, bytes] | None = None, marks: Callable[[Cell], str] | None = None) -> None:
        self.templates = templates
        self.figures = figures
        self.node_modules = node_modules
        self.stills = stills or {}
        self.marks = marks  # a cell's name on the live page (the preview's), or None

    def cell(self, cell: Cell, result: CellResult, paper: bool = False) -> str:
        """The cell's Markdown; `paper` (PDF, PPTX) puts a still picture where the screen
        gets an interactive output."""
        opts = cell.options
        code = ""
        if opts.echo and opts.output != "only":
            steps = f" {{{opts.highlight}}}" if opts.highlight else ""  # (steps.py: ```python {1|2})
            code = self.templates.render("code", code=cell.code, language=cell.language + steps,
                                         fence=fence_for(cell.code))
        outputs = ""
        if opts.output != "hide":
            outputs = "\n\n".join(filter(None, self.outputs(result.outputs, opts, paper)))
            if self.marks is not None and not cell.setup:
                code, outputs = self._marked(self.marks(cell), code, outputs)
        return self.templates.render("cell", code=code, outputs=outputs, layout=opts.output)

    @staticmethod
    def _marked(name: str, code: str, outputs: str) -> tuple[str, str]:
        """Hidden marks around a cell's code and outputs, for the live page: where a
        running cell's printed text goes (data-deckrun-cell is its FILE:LINE)."""
        def mark(part: str) -> str:
            return f'<div hidden data-deckrun-cell="{html.escape(name)}" data-deckrun-part="{part}"></div>'

        return ("\n\n".join([mark("code"), code]) if code else "",
                "\n\n".join(filter(None, [mark("outputs"), outputs, mark("end")])))

    def outputs(self, outputs: tuple[Output, ...], opts: CellOptions, paper: bool) -> list[str]:
        """Each output's Markdown; the HTML and JavaScript of a cell that runs script are
        one interactive output, where the first of them was."""
        if opts.values != "all":
            outputs = without_plot_values(outputs)
        live = interactive_html([o for o in outputs if isinstance(o, Rich)])
        shown, placed = [], False
        for output in outputs:
            if live and isinstance(output, Rich) and _WEB.intersection(output.data):
                if not placed:
                    shown.append(self.live(live, output, opts, paper))
                    placed = True
                continue
            shown.append(self.output(output, opts))
        return shown

    def output(self, output: Output, opts: CellOptions) -> str:
        if isinstance(output, Stream):
            text = truncate(output.text, opts.max_lines)
            return self.templates.render("stream", name=output.name, text=text, fence=fence_for(text))
        if isinstance(output, Error):
            return self.templates.render("error", ename=output.ename, evalue=output.evalue,
                                         fence=fence_for(output.evalue))
        kind = best_kind(output.data)
        return self.kind(kind, output.data, opts) if kind else ""

    def live(self, html_text: str, first: Rich, opts: CellOptions, paper: bool) -> str:
        """On screen: the output running in a sandboxed frame (it cannot reach the deck);
        on paper: its still picture (else its other representation), and a note."""
        page = document(html_text, self.node_modules)
        if not paper:  # a page of its own: the deck's Markdown stays small, quick to render
            return self.templates.render("live", src=self.figures.save(page.encode(), "html"),
                                         height=opts.height or "480px")
        still = self.stills.get(still_key(page))
        if still:
            src = self.figures.save(still, "png")
            picture = self.templates.render("image", src=src, style=image_style(opts),
                                            alt=opts.fig_alt or "A still picture of an interactive output",
                                            caption=opts.fig_cap)
        else:
            rest = {k: v for k, v in first.data.items() if k not in _WEB}
            kind = best_kind(rest)
            picture = self.kind(kind, rest, opts) if kind else ""
        return "\n\n".join(filter(None, [picture, self.templates.render("live_note")]))

    def kind(self, kind: OutputKind, data: dict[str, str], opts: CellOptions) -> str:
        """One representation of an output: a figure, HTML, Markdown (as HTML) or text.
        HTML and Markdown become one HTML block, so no line of them is read as Markdown
        (a `---` in them is no slide break)."""
        content = data[kind.mime]
        if kind.extension:
            src = self.figures.save(kind.to_bytes(content), kind.extension)
            return self.templates.render(kind.template, src=src, style=image_style(opts),
                                         alt=opts.fig_alt, caption=opts.fig_cap)
        if kind.template == "html":
            return self.templates.render(kind.template, html=one_block(content))
        if kind.template == "markdown":
            return self.templates.render(kind.template, html=one_block(markdown_to_html(content)))
        text = truncate(content, opts.max_lines)
        return self.templates.render(kind.template, text=text, fence=fence_for(text))


_WEB = {"text/html", "application/javascript"}
# What a plotting call returns (plt.title -> Text(0.5, 1.0, 'squares'), plt.plot ->
# [<matplotlib.lines.Line2D at 0x7f...>], plt.hist -> (array(...), ..., <BarContainer ...>)).
_PLOT_VALUE = re.compile(r"<matplotlib\.|<(?:Axes|Figure|AxesSubplot)\b|Container object of \d+ artists>|"
                         r"^\[?(?:Text|Line2D|Legend)\(")


def without_plot_values(outputs: tuple[Output, ...]) -> tuple[Output, ...]:
    """A cell that drew a figure is shown without the matplotlib object its last line
    returned (as a notebook's `;` would leave it out); other values stay."""
    drew = any(isinstance(o, Rich) and not o.is_result and FILE_KINDS.keys() & o.data.keys() for o in outputs)
    if not drew:
        return outputs
    return tuple(o for o in outputs if not (isinstance(o, Rich) and o.is_result and set(o.data) == {"text/plain"}
                                            and _PLOT_VALUE.search(o.data["text/plain"])))


def markdown_to_html(text: str) -> str:
    """Markdown a cell displayed, as HTML (HTML inside it is shown as text, not run)."""
    from markdown_it import MarkdownIt

    html: str = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return html


def one_block(html_text: str) -> str:
    """HTML with no blank line, so Markdown takes it as one block and reads none of it:
    blank lines go, and newlines inside <pre> are kept as character references."""
    def keep_newlines(found: re.Match[str]) -> str:
        return found.group(0).replace("\n", "&#10;")

    html_text = re.sub(r"<pre\b[\s\S]*?</pre>", keep_newlines, html_text, flags=re.IGNORECASE)
    return "\n".join(line for line in html_text.splitlines() if line.strip())


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


def diagram_markdown(templates: Templates, diagram: Diagram, svg: str) -> str:
    """A drawn diagram on its slide: inline, sized as drawn within the slide (or as its
    width/height options say), with its alt text."""
    view = re.search(r'viewBox="[\d.\-]+[ ,]+[\d.\-]+[ ,]+([\d.]+)[ ,]+([\d.]+)"', svg)
    width = float(view.group(1)) if view else 400.0
    if diagram.kind == "dot":
        width *= 4 / 3  # (Graphviz draws in points)
    size = f"width:{diagram.options.width or f'{width:.0f}px'};max-width:100%;height:auto;" \
           f"max-height:{diagram.options.height or '440px'}"
    opening = re.match(r"<svg\b[^>]*>", svg)
    if opening:
        attributes = re.sub(r'\s(?:width|height|style|role|aria-label)="[^"]*"', "", opening.group(0)[4:-1])
        svg = f'<svg{attributes} style="{size}" role="img" aria-label="{html.escape(diagram.alt)}">' \
              + svg[opening.end():]
    return templates.render("diagram", svg=one_block(svg), caption=diagram.options.fig_cap)


def inject_diagrams(markdown: str, formatted: list[str]) -> str:
    """Put each diagram's Markdown where its marker is, every line indented as the marker's."""
    def replace(found: re.Match[str]) -> str:
        indent = found.group(1)
        return "\n".join(indent + line for line in formatted[int(found.group(2))].split("\n"))

    return re.sub(rf"^([ \t]*){DIAGRAM_MARKER.pattern}[ \t]*$", replace, markdown, flags=re.MULTILINE)


def inject(deck: Deck, formatted: list[str]) -> str:
    """Put each cell's Markdown where its marker is, indented like the marker's line, so a
    cell inside a list item stays inside it. A marker after text on its line (`2. Step
    {{ snippet(...) }}`) starts its block on the next line."""
    def replace(line_match: re.Match[str]) -> str:
        prefix, body = line_match.group(1), formatted[int(line_match.group(2))].split("\n")
        lead = lead_match.group(0) if (lead_match := _LIST_ITEM_LEAD.match(prefix)) else ""
        indent = " " * len(lead)
        first = [prefix + body[0]] if prefix == lead else [prefix.rstrip(), "", indent + body[0]]
        return "\n".join(first + [indent + line if line else "" for line in body[1:]])

    line_pattern = re.compile(rf"^(.*?){MARKER_PATTERN.pattern}[ \t]*$", re.MULTILINE)
    return line_pattern.sub(replace, deck.markdown)


_LIST_ITEM_LEAD = re.compile(r"[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)?")

"""An editable PowerPoint file from a deck's measured slides (layout.mjs): text as text
boxes with their runs, lists with their levels and bullets, tables as tables, code and
outputs as monospace text in their colours, pictures where the slide has them, the
slide's fill and the presenter notes. 1 CSS pixel is 1/96 inch, as PowerPoint counts."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.files import write_atomic

EMU_PER_PX = 9525
PT_PER_PX = 0.75
# Office measures a font a little wider than Chromium: each text box gets this much
# room to the right (a fraction of its width, within the slide), so no line wraps anew.
ROOM = 0.04
_ALIGN = {"center": "ctr", "right": "r", "end": "r", "justify": "just"}
_NUMBERING = {"decimal": "arabicPeriod", "lower-alpha": "alphaLcPeriod", "upper-alpha": "alphaUcPeriod",
              "lower-latin": "alphaLcPeriod", "upper-latin": "alphaUcPeriod", "lower-roman": "romanLcPeriod",
              "upper-roman": "romanUcPeriod"}
_NO_STYLE_TABLE = "{2D5ABB26-0587-4C30-8999-92F81FD0307C}"  # PowerPoint's "No Style, No Grid"


@dataclass(frozen=True)
class Run:
    text: str
    font: str = ""
    size: float = 0.0         # px
    bold: bool = False
    italic: bool = False
    underline: bool = False
    strike: bool = False
    colour: str | None = None
    link: str | None = None
    mark: str | None = None   # a code span's background
    spacing: float = 0.0      # px between letters, beyond the font's


@dataclass(frozen=True)
class Paragraph:
    runs: tuple[Run, ...]
    level: int = 0
    bullet: dict[str, Any] | None = None   # {"char": "•"} or {"number": 3, "type": "decimal"}
    align: str = "left"
    line_height: float = 0.0               # px
    top: float = 0.0                       # px from the box's top (list items)
    indent: float = 0.0                    # px from the box's left (list items)


@dataclass(frozen=True)
class Border:
    side: str                               # top, right, bottom, left
    width: float                            # px
    colour: str
    style: str = "solid"                    # CSS: solid, dashed, dotted, double


@dataclass(frozen=True)
class Box:
    kind: str                               # text, code, shape, picture, table
    x: float
    y: float
    w: float
    h: float
    fill: str | None = None                 # RRGGBB, or RRGGBB/alpha%
    padding: tuple[float, float, float, float] = (0, 0, 0, 0)
    paragraphs: tuple[Paragraph, ...] = ()
    picture: Path | None = None
    alt: str = ""
    table: dict[str, Any] = field(default_factory=dict)
    borders: tuple[Border, ...] = ()


@dataclass(frozen=True)
class Slide:
    number: int
    width: float
    height: float
    fill: str | None
    boxes: tuple[Box, ...]
    notes: str = ""


def slides_of(measured: dict[str, Any]) -> list[Slide]:
    """The measured deck (layout.mjs's JSON) as slides."""
    notes = {int(k): v for k, v in measured.get("notes", {}).items()}
    return [Slide(s["number"], s["width"], s["height"], s.get("fill"),
                  tuple(_box(item) for item in s["items"]), notes.get(s["number"], ""))
            for s in measured["slides"]]


def _box(item: dict[str, Any]) -> Box:
    paragraphs = tuple(_paragraph(p) for p in item.get("paragraphs", ()))
    table = {"columns": item.get("columns", []),
             "rows": [{"h": row["h"], "cells": [{**cell, "paragraphs": tuple(_paragraph(p) for p in cell["paragraphs"])}
                                                for cell in row["cells"]]} for row in item.get("rows", [])]}
    return Box(item["kind"], item["x"], item["y"], item["w"], item["h"], item.get("fill"),
               tuple(item.get("padding", (0, 0, 0, 0))), paragraphs,
               Path(item["png"]) if item.get("png") else None, item.get("alt", ""),
               table if item["kind"] == "table" else {},
               tuple(Border(b["side"], b["width"], b["colour"], b.get("style", "solid"))
                     for b in item.get("borders", ())))


def _paragraph(p: dict[str, Any]) -> Paragraph:
    runs = tuple(Run(r["text"], r.get("font", ""), r.get("size", 0.0), r.get("bold", False), r.get("italic", False),
                     r.get("underline", False), r.get("strike", False), r.get("colour"), r.get("link"), r.get("mark"),
                     r.get("spacing", 0.0))
                 for r in p.get("runs", ()))
    return Paragraph(runs, p.get("level", 0), p.get("bullet"), p.get("align", "left"), p.get("lineHeight", 0.0),
                     p.get("top", 0.0), p.get("indent", 0.0))


def write_pptx(slides: list[Slide], target: Path, title: str = "", author: str = "", lang: str = "") -> None:
    """The PowerPoint file of `slides`, written whole (never half)."""
    import io

    from pptx import Presentation
    from pptx.util import Emu

    deck = Presentation()
    if slides:
        deck.slide_width, deck.slide_height = Emu(_emu(slides[0].width)), Emu(_emu(slides[0].height))
    blank = deck.slide_layouts[6]
    for measured in slides:
        slide = deck.slides.add_slide(blank)
        if measured.fill:
            slide.background.fill.solid()
            slide.background.fill.fore_color.rgb = _rgb(measured.fill)
        for box in measured.boxes:
            # A box drawn in several pieces (a fill, lines, text) is one group: it moves as one.
            pieces = 1 + (box.kind in ("text", "code") and box.fill is not None) + len(box.borders)
            shapes = slide.shapes.add_group_shape().shapes if pieces > 1 else slide.shapes
            _ADD[box.kind](shapes, box, measured)
            _add_borders(shapes, box)
        if measured.notes:
            slide.notes_slide.notes_text_frame.text = measured.notes
    deck.core_properties.title, deck.core_properties.author = title, author
    if lang:
        deck.core_properties.language = lang
    out = io.BytesIO()
    deck.save(out)
    write_atomic(target, out.getvalue())


def _emu(px: float) -> int:
    return int(round(px * EMU_PER_PX))


def _rgb(colour: str) -> Any:
    from pptx.dml.color import RGBColor

    make: Callable[[int, int, int], Any] = RGBColor  # (python-pptx's own hints are partial)
    red, green, blue = bytes.fromhex(colour.split("/")[0])
    return make(red, green, blue)


def _fill(shape_fill: Any, colour: str | None) -> None:
    """A solid fill, with its transparency (RRGGBB/alpha%), or none."""
    if colour is None:
        shape_fill.background()
        return
    shape_fill.solid()
    shape_fill.fore_color.rgb = _rgb(colour)
    if "/" in colour:
        from pptx.oxml.ns import qn

        srgb = shape_fill._xPr.find(qn("a:solidFill")).find(qn("a:srgbClr"))
        alpha = srgb.makeelement(qn("a:alpha"), {"val": str(int(colour.split("/")[1]) * 1000)})
        srgb.append(alpha)


def _frame(shapes: Any, box: Box, measured: Slide) -> Any:
    """A text box at the box's place, with room (ROOM) on the side its lines grow to,
    within the slide; the box's fill is a shape under it, of the box's own size."""
    from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE
    from pptx.util import Emu

    align = {p.align for p in box.paragraphs}
    grow = 0.5 if align == {"center"} else 1.0 if align <= {"right", "end"} else 0.0  # (the share to the left)
    extra = box.w * ROOM
    x = max(box.x - extra * grow, 0)
    width = min(box.x + box.w + extra * (1 - grow), measured.width) - x
    if box.fill is not None:
        _add_shape(shapes, box, measured)
    shape = shapes.add_textbox(Emu(_emu(x)), Emu(_emu(box.y)), Emu(_emu(width)), Emu(_emu(box.h)))
    frame = shape.text_frame
    frame.word_wrap = box.kind != "code"  # (code keeps its lines)
    frame.auto_size = MSO_AUTO_SIZE.NONE
    frame.vertical_anchor = MSO_ANCHOR.TOP
    left, top, right, bottom = box.padding
    if any(p.bullet is not None or p.indent for p in box.paragraphs):
        left = 0  # (list items say how far in they are from the box's edge)
    frame.margin_left, frame.margin_top = Emu(_emu(left)), Emu(_emu(top))
    frame.margin_right, frame.margin_bottom = Emu(_emu(right)), Emu(_emu(bottom))
    _fill(shape.fill, None)
    return shape


def _add_text(shapes: Any, box: Box, measured: Slide) -> None:
    shape = _frame(shapes, box, measured)
    frame = shape.text_frame
    previous: Paragraph | None = None
    for index, paragraph in enumerate(box.paragraphs):
        target = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
        _write_paragraph(target, paragraph, previous)
        previous = paragraph


def _write_paragraph(target: Any, paragraph: Paragraph, previous: Paragraph | None) -> None:
    from pptx.oxml.ns import qn
    from pptx.util import Pt

    p_pr = target._p.get_or_add_pPr()
    if paragraph.align in _ALIGN:
        p_pr.set("algn", _ALIGN[paragraph.align])
    if paragraph.line_height:
        target.line_spacing = Pt(paragraph.line_height * PT_PER_PX)
    if previous is not None and paragraph.top and previous.top and paragraph.top > previous.top:
        # List items: the gap the slide has between them (their own lines aside).
        lines = max(1, round((paragraph.top - previous.top) / (previous.line_height or 1)))
        gap = paragraph.top - previous.top - lines * previous.line_height
        if gap > 0.5 and lines == 1:
            target.space_before = Pt(gap * PT_PER_PX)
    target.space_after = Pt(0)
    if paragraph.bullet is not None or paragraph.indent:
        # Where the item's text starts, from the box's edge; its bullet hangs to the left.
        p_pr.set("marL", str(_emu(max(paragraph.indent, 0))))
        p_pr.set("lvl", str(min(paragraph.level, 8)))
    if paragraph.bullet is not None:
        size = paragraph.runs[0].size if paragraph.runs else 20
        p_pr.set("indent", str(-_emu(min(size * 1.1, max(paragraph.indent, 0)))))
        if paragraph.bullet.get("colour"):
            tint = p_pr.makeelement(qn("a:buClr"), {})
            tint.append(tint.makeelement(qn("a:srgbClr"), {"val": paragraph.bullet["colour"].split("/")[0].upper()}))
            p_pr.append(tint)
        if "number" in paragraph.bullet:
            numbering = p_pr.makeelement(qn("a:buAutoNum"), {
                "type": _NUMBERING.get(paragraph.bullet.get("type", "decimal"), "arabicPeriod"),
                "startAt": str(paragraph.bullet["number"])})
            p_pr.append(numbering)
        else:
            p_pr.append(p_pr.makeelement(qn("a:buFont"), {"typeface": "Arial"}))
            p_pr.append(p_pr.makeelement(qn("a:buChar"), {"char": paragraph.bullet.get("char", "•")}))
    else:
        p_pr.append(p_pr.makeelement(qn("a:buNone"), {}))
    for run in paragraph.runs:
        if run.text == "\n":
            target.add_line_break()
        else:
            _write_run(target.add_run(), run)


def _write_run(target: Any, run: Run) -> None:
    from pptx.oxml.ns import qn
    from pptx.util import Pt

    target.text = run.text
    font = target.font
    if run.font:
        font.name = run.font
        r_pr = target._r.get_or_add_rPr()
        for script in ("a:ea", "a:cs"):  # the same font for every script (no Office theme font)
            r_pr.append(r_pr.makeelement(qn(script), {"typeface": run.font}))
    if run.size:
        font.size = Pt(math.floor(run.size * PT_PER_PX * 10) / 10)  # (never larger than measured)
    font.bold, font.italic = run.bold or None, run.italic or None
    if run.underline:
        font.underline = True
    if run.strike:
        target._r.get_or_add_rPr().set("strike", "sngStrike")
    if run.spacing:
        target._r.get_or_add_rPr().set("spc", str(round(run.spacing * PT_PER_PX * 100)))
    if run.colour:
        font.color.rgb = _rgb(run.colour)
    if run.mark:
        r_pr = target._r.get_or_add_rPr()
        highlight = r_pr.makeelement(qn("a:highlight"), {})
        highlight.append(highlight.makeelement(qn("a:srgbClr"), {"val": run.mark.split("/")[0].upper()}))
        latin = r_pr.find(qn("a:latin"))  # (the schema's order: fill, highlight, fonts)
        if latin is not None:
            latin.addprevious(highlight)
        else:
            r_pr.append(highlight)
    if run.link and run.link.startswith(("http://", "https://", "mailto:")):
        target.hyperlink.address = run.link


def _add_borders(shapes: Any, box: Box) -> None:
    """Each drawn side of the box as a line along it, inside the box as CSS draws it."""
    from pptx.enum.dml import MSO_LINE_DASH_STYLE
    from pptx.enum.shapes import MSO_CONNECTOR
    from pptx.util import Emu

    for border in box.borders:
        inset = border.width / 2
        left, top, right, bottom = box.x + inset, box.y + inset, box.x + box.w - inset, box.y + box.h - inset
        start, end = {"top": ((box.x, top), (box.x + box.w, top)),
                      "bottom": ((box.x, bottom), (box.x + box.w, bottom)),
                      "left": ((left, box.y), (left, box.y + box.h)),
                      "right": ((right, box.y), (right, box.y + box.h))}[border.side]
        line = shapes.add_connector(MSO_CONNECTOR.STRAIGHT, Emu(_emu(start[0])), Emu(_emu(start[1])),
                                          Emu(_emu(end[0])), Emu(_emu(end[1]))).line
        line.width = Emu(_emu(border.width))
        line.color.rgb = _rgb(border.colour)
        line.dash_style = {"dashed": MSO_LINE_DASH_STYLE.DASH, "dotted": MSO_LINE_DASH_STYLE.ROUND_DOT}.get(
            border.style, MSO_LINE_DASH_STYLE.SOLID)


def _add_shape(shapes: Any, box: Box, measured: Slide) -> None:
    from pptx.enum.shapes import MSO_SHAPE
    from pptx.util import Emu

    if box.fill is None:
        return  # (its borders alone)
    shape = shapes.add_shape(MSO_SHAPE.RECTANGLE, Emu(_emu(box.x)), Emu(_emu(box.y)),
                                   Emu(_emu(box.w)), Emu(_emu(box.h)))
    _fill(shape.fill, box.fill)
    shape.line.fill.background()
    shape.shadow.inherit = False


def _add_picture(shapes: Any, box: Box, measured: Slide) -> None:
    from pptx.util import Emu

    if box.picture is None or not box.picture.exists():
        return
    picture = shapes.add_picture(str(box.picture), Emu(_emu(box.x)), Emu(_emu(box.y)),
                                       Emu(_emu(box.w)), Emu(_emu(box.h)))
    if box.alt:
        picture._element.nvPicPr.cNvPr.set("descr", box.alt)


def _add_table(shapes: Any, box: Box, measured: Slide) -> None:
    from pptx.oxml.ns import qn
    from pptx.util import Emu

    rows = box.table["rows"]
    columns = box.table["columns"] or [box.w]
    count = max(len(columns), max((sum(c.get("span", 1) for c in r["cells"]) for r in rows), default=1))
    columns = (columns + [box.w / count] * count)[:count]
    frame = shapes.add_table(len(rows), count, Emu(_emu(box.x)), Emu(_emu(box.y)),
                                   Emu(_emu(box.w)), Emu(_emu(box.h)))
    table = frame.table
    tbl_pr = table._tbl.tblPr
    tbl_pr.set("firstRow", "0")
    tbl_pr.set("bandRow", "0")
    style = tbl_pr.find(qn("a:tableStyleId"))
    if style is None:
        style = tbl_pr.makeelement(qn("a:tableStyleId"), {})
        tbl_pr.append(style)
    style.text = _NO_STYLE_TABLE
    for index, width in enumerate(columns):
        table.columns[index].width = Emu(_emu(width))
    for r, row in enumerate(rows):
        table.rows[r].height = Emu(_emu(row["h"]))
        column = 0
        for cell_data in row["cells"]:
            if column >= count:
                break
            cell = table.cell(r, column)
            span = min(cell_data.get("span", 1), count - column)
            if span > 1:
                cell.merge(table.cell(r, column + span - 1))
            _write_cell(cell, cell_data, sum(columns[column:column + span]))
            column += span


def _write_cell(cell: Any, data: dict[str, Any], width: float) -> None:
    from pptx.enum.text import MSO_ANCHOR
    from pptx.oxml.ns import qn
    from pptx.util import Emu

    _fill(cell.fill, data.get("fill"))
    left, top, right, bottom = data.get("padding", (0, 0, 0, 0))
    # The text's room (ROOM) taken from the cell's sides: the table keeps its size.
    left, right = (max(side - width * ROOM / 2, side / 2) for side in (left, right))
    cell.margin_left, cell.margin_top = Emu(_emu(left)), Emu(_emu(top))
    cell.margin_right, cell.margin_bottom = Emu(_emu(right)), Emu(_emu(bottom))
    cell.vertical_anchor = {"middle": MSO_ANCHOR.MIDDLE, "bottom": MSO_ANCHOR.BOTTOM}.get(
        data.get("valign", ""), MSO_ANCHOR.TOP)
    line = data.get("bottom")
    tc_pr = cell._tc.get_or_add_tcPr()
    for index, side in enumerate(("a:lnL", "a:lnR", "a:lnT", "a:lnB")):
        drawn = line if side == "a:lnB" and line and line.get("colour") else None
        edge = tc_pr.makeelement(qn(side), {"w": str(_emu(drawn["width"])) if drawn else "0"})
        if drawn:
            solid = edge.makeelement(qn("a:solidFill"), {})
            solid.append(solid.makeelement(qn("a:srgbClr"), {"val": drawn["colour"].split("/")[0].upper()}))
            edge.append(solid)
        else:
            edge.append(edge.makeelement(qn("a:noFill"), {}))
        tc_pr.insert(index, edge)  # (the schema's order: the edges, then the fill)
    frame = cell.text_frame
    frame.word_wrap = True
    previous = None
    for index, paragraph in enumerate(data["paragraphs"] or (Paragraph(()),)):
        target = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
        _write_paragraph(target, paragraph, previous)
        previous = paragraph


_ADD = {"text": _add_text, "code": _add_text, "shape": _add_shape, "picture": _add_picture, "table": _add_table}

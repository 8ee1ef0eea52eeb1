"""Paper made from a deck's slide PDF: handouts (N slides a page with ruled space for
notes) and the lecturer's notes pages (each slide with its presenter notes as text).

The paper (headers, rules, note text) is drawn with reportlab; the slides are then laid
onto it from the slide PDF with pypdf, as vectors: text stays text, nothing is a picture.
"""
from __future__ import annotations

import importlib.util
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import DeckError
from ..core.files import write_atomic

if TYPE_CHECKING:  # (pypdf is imported only when a handout is made)
    from pypdf import PdfReader, PdfWriter

HANDOUT_SIZES = (1, 2, 3, 4, 6)
PAPERS = {"a4": (595.28, 841.89), "letter": (612.0, 792.0)}
# The smallest size (pt) body text should print at. With 2 a page, full width, the example
# course's smallest body text (code on `small` slides, 12.9 pt on the slide) prints at 7.2 pt
# on A4; side by side with notes (3 a page) it printed at 3.8 pt.
LEGIBLE = 7.0
MARGIN = 30.0
HEADER = 26.0
FOOTER = 20.0
GAP = 14.0
RULE_SPACING = 21.0
NOTE_SIZE, NOTE_LEADING = 11.0, 15.0
RULE_GREY, FRAME_GREY, TEXT_GREY = 0.78, 0.55, 0.35


@dataclass(frozen=True)
class Paper:
    """What every page says: the deck and the course, and the paper size."""
    title: str
    course: str
    author: str
    size: str = "a4"
    lang: str = "en"  # BCP 47: the language screen readers read the pages in

    @property
    def dimensions(self) -> tuple[float, float]:
        return PAPERS[self.size]


@dataclass(frozen=True)
class Slot:
    """Where slide `slide` goes on page `page` (PDF points, origin bottom left)."""
    page: int
    slide: int
    x: float
    y: float
    width: float
    height: float


def check_handout(per_page: object, where: str) -> int:
    if isinstance(per_page, bool) or per_page not in HANDOUT_SIZES:
        raise DeckError(f"{where}: handout must be one of {', '.join(map(str, HANDOUT_SIZES))} "
                        f"(slides a page), not {per_page!r}")
    return HANDOUT_SIZES[HANDOUT_SIZES.index(per_page)]  # (an int, as the check says)


def check_paper(paper: object, where: str) -> str:
    if not isinstance(paper, str) or paper.lower() not in PAPERS:
        raise DeckError(f"{where}: paper must be {' or '.join(PAPERS)}, not {paper!r}")
    return paper.lower()


def write_handout(slides_pdf: Path, target: Path, per_page: int, paper: Paper) -> int:
    """N slides a page, each with ruled lines for notes (beside it; under it for N=1).
    Returns the number of pages."""
    from pypdf import PdfReader

    reader = PdfReader(slides_pdf)
    count = len(reader.pages)
    box = reader.pages[0].mediabox
    aspect = float(box.width) / float(box.height)
    pages = max(1, math.ceil(count / per_page))
    canvas, buffer = _canvas(paper)
    slots: list[Slot] = []
    width, height = paper.dimensions
    top, bottom = height - MARGIN - HEADER, MARGIN + FOOTER
    left, right = MARGIN, width - MARGIN
    for page in range(pages):
        _header(canvas, paper, f"{paper.title}", f"Page {page + 1} of {pages}")
        on_page = range(page * per_page, min(count, (page + 1) * per_page))
        if per_page <= 2:  # full width, each slide with its lines under it
            row = (top - bottom) / per_page
            slot_w = min(right - left, (row - GAP - RULE_SPACING) * aspect)
            slot_h = slot_w / aspect
            for position, slide in enumerate(on_page):
                row_top = top - position * row
                slot = Slot(page, slide, left + (right - left - slot_w) / 2, row_top - slot_h, slot_w, slot_h)
                _frame(canvas, slot)
                _rules(canvas, left, right, slot.y - GAP, row_top - row + GAP / 2)
                slots.append(slot)
        else:
            row = (top - bottom) / per_page
            slot_h = row - GAP
            slot_w = min(slot_h * aspect, (right - left) * 0.55)
            slot_h = slot_w / aspect
            for position, slide in enumerate(on_page):
                row_top = top - position * row
                slot = Slot(page, slide, left, row_top - slot_h, slot_w, slot_h)
                _frame(canvas, slot)
                _rules(canvas, left + slot_w + GAP, right, row_top, row_top - row + GAP)
                slots.append(slot)
        canvas.showPage()
    canvas.save()
    _place_slides(buffer, reader, slots, target, paper, "Handout")
    return pages


def slide_scale(slides_pdf: Path, per_page: int, paper: Paper) -> float:
    """How much a handout of `per_page` slides on `paper` shrinks the slides."""
    from pypdf import PdfReader

    box = PdfReader(slides_pdf).pages[0].mediabox
    width, height = paper.dimensions
    aspect = float(box.width) / float(box.height)
    row = (height - 2 * MARGIN - HEADER - FOOTER) / per_page
    if per_page <= 2:
        slot_w = min(width - 2 * MARGIN, (row - GAP - RULE_SPACING) * aspect)
    else:
        slot_w = min((row - GAP) * aspect, (width - 2 * MARGIN) * 0.55)
    return slot_w / float(box.width)


def body_text_size(pdf: Path) -> float:
    """The size (pt, on the slide) that 90% of a slide PDF's body text is at least: runs of
    text (a line, a word) of 9 characters or more between the header and footer bands,
    so that page numbers, logos and labels (OUTPUT) do not count."""
    from pypdf import PdfReader

    sizes: list[tuple[float, int]] = []
    for page in PdfReader(pdf).pages:
        height = float(page.mediabox.height)

        def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
            y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]  # the baseline, from the bottom
            if len(text.strip()) >= 9 and height * 0.12 < y < height * 0.92:
                sizes.append((abs(size * (tm[3] or 1) * (cm[3] or 1)), len(text.strip())))

        page.extract_text(visitor_text=visit)
    total, seen = sum(count for _, count in sizes), 0
    for size, count in sorted(sizes):
        seen += count
        if seen >= total * 0.1:
            return size
    return 0.0


def write_notes(slides_pdf: Path, target: Path, notes: list[tuple[str, ...]],
                lecturer_only: list[bool], paper: Paper) -> int:
    """One page a slide: the slide, then its presenter notes as text (continued on the
    next page when long). Returns the number of pages."""
    from pypdf import PdfReader

    reader = PdfReader(slides_pdf)
    if len(reader.pages) != len(notes):
        raise DeckError(f"{slides_pdf.name} has {len(reader.pages)} pages but the deck has "
                        f"{len(notes)} slides: rebuild it")
    box = reader.pages[0].mediabox
    aspect = float(box.width) / float(box.height)
    canvas, buffer = _canvas(paper)
    width, height = paper.dimensions
    top, bottom = height - MARGIN - HEADER, MARGIN + FOOTER
    text_width = width - 2 * MARGIN
    slots: list[Slot] = []
    page = 0
    for index, slide_notes in enumerate(notes):
        label = f"Slide {index + 1} of {len(notes)}" + (" (lecturer only)" if lecturer_only[index] else "")
        _header(canvas, paper, paper.title, label)
        slot_h = min(text_width / aspect, (top - bottom) * 0.5)
        slot = Slot(page, index, MARGIN + (text_width - slot_h * aspect) / 2, top - slot_h,
                    slot_h * aspect, slot_h)
        _frame(canvas, slot)
        slots.append(slot)
        y = slot.y - GAP - NOTE_SIZE
        lines = _wrap(slide_notes, text_width)
        if not lines:
            canvas.setFillGray(TEXT_GREY)
            canvas.setFont(_font(), NOTE_SIZE)
            canvas.drawString(MARGIN, y, "(no presenter notes)")
        for line in lines:
            if y < bottom:
                canvas.showPage()
                page += 1
                _header(canvas, paper, paper.title, f"{label}, notes continued")
                y = top - NOTE_SIZE
            canvas.setFillGray(0)
            canvas.setFont(_font(), NOTE_SIZE)
            canvas.drawString(MARGIN, y, line)
            y -= NOTE_LEADING
        canvas.showPage()
        page += 1
    canvas.save()
    _place_slides(buffer, reader, slots, target, paper, "Presenter notes")
    return page


def _wrap(notes: tuple[str, ...], width: float) -> list[str]:
    """The notes as printed lines; a blank line between two notes."""
    from reportlab.lib.utils import simpleSplit

    lines: list[str] = []
    for note in notes:
        for paragraph in note.split("\n"):
            lines.extend(simpleSplit(paragraph, _font(), NOTE_SIZE, width) or [""])
        lines.append("")
    return lines[:-1]


# ---------------------------------------------------------------- drawing


@lru_cache(maxsize=1)
def _font() -> str:
    """DejaVu Sans (it ships with matplotlib), embedded so any Unicode text prints;
    Helvetica if it cannot be found."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    spec = importlib.util.find_spec("matplotlib")
    folder = Path(spec.origin).parent if spec and spec.origin else None
    font = folder / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf" if folder else None
    if font is None or not font.exists():
        return "Helvetica"
    pdfmetrics.registerFont(TTFont("DejaVuSans", str(font)))
    return "DejaVuSans"


def _canvas(paper: Paper) -> tuple[Any, io.BytesIO]:  # (reportlab has no type hints)
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=paper.dimensions, pageCompression=1)
    return canvas, buffer


def _header(canvas: Any, paper: Paper, left_text: str, right_text: str) -> None:
    width, height = paper.dimensions
    baseline = height - MARGIN - 12
    canvas.setFillGray(0)
    canvas.setFont(_font(), 11)
    canvas.drawString(MARGIN, baseline, _fit(left_text, 11, width * 0.6))
    canvas.setFont(_font(), 9)
    canvas.setFillGray(TEXT_GREY)
    canvas.drawRightString(width - MARGIN, baseline, right_text)
    canvas.drawString(MARGIN, MARGIN - 4, _fit(paper.course, 9, width * 0.7))
    canvas.setStrokeGray(FRAME_GREY)
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, baseline - 7, width - MARGIN, baseline - 7)


def _fit(text: str, size: float, width: float) -> str:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while text and stringWidth(text, _font(), size) > width:
        text = text[:-2] + "…"
    return text


def _frame(canvas: Any, slot: Slot) -> None:
    canvas.setStrokeGray(FRAME_GREY)
    canvas.setLineWidth(0.75)
    canvas.rect(slot.x - 0.5, slot.y - 0.5, slot.width + 1, slot.height + 1, stroke=1, fill=0)


def _rules(canvas: Any, left: float, right: float, top: float, bottom: float) -> None:
    canvas.setStrokeGray(RULE_GREY)
    canvas.setLineWidth(0.5)
    y = top - RULE_SPACING
    while y >= bottom:
        canvas.line(left, y, right, y)
        y -= RULE_SPACING


def _place_slides(buffer: io.BytesIO, reader: PdfReader, slots: list[Slot], target: Path, paper: Paper,
                  kind: str) -> None:
    """Lay each slide onto its slot of the drawn paper, scaled, as vectors."""
    from pypdf import PdfReader, PdfWriter, Transformation
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(buffer))
    for slot in slots:
        slide = reader.pages[slot.slide]
        box = slide.mediabox
        scale = slot.width / float(box.width)
        placed = Transformation().translate(-float(box.left), -float(box.bottom)) \
            .scale(scale, scale).translate(slot.x, slot.y)
        writer.pages[slot.page].merge_transformed_page(slide, placed)
    writer.add_metadata({"/Title": f"{paper.title} ({kind.lower()})", "/Author": paper.author,
                         "/Subject": paper.course, "/Creator": "deckrun"})
    writer._root_object[NameObject("/Lang")] = TextStringObject(paper.lang)
    _copy_outline(reader, writer, {slot.slide: slot.page for slot in reversed(slots)})
    out = io.BytesIO()
    writer.write(out)
    write_atomic(target, out.getvalue())


def _copy_outline(reader: PdfReader, writer: PdfWriter, page_of_slide: dict[int, int],
                  items: list[Any] | None = None, parent: Any = None) -> None:
    """The slide PDF's outline (slides and headings), each entry pointing at the page that
    shows its slide (pypdf lists an entry's children just after it)."""
    last = parent
    for item in reader.outline if items is None else items:
        if isinstance(item, list):
            _copy_outline(reader, writer, page_of_slide, item, last)
            continue
        slide = reader.get_destination_page_number(item)
        last = writer.add_outline_item(title=str(item.title), page_number=page_of_slide.get(slide or 0, 0),
                                       parent=parent)

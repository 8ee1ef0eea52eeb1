"""render/pptx.py alone: a measured deck (what layout.mjs finds in the browser) written as
PowerPoint objects, read back with python-pptx."""
from __future__ import annotations

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.oxml.ns import qn

from deckrun.render.pptx import ROOM, slides_of, write_pptx

RUN = {"font": "Arial", "size": 24, "colour": "0d2b4e"}
MEASURED = {
    "title": "Week 1", "author": "Sam Lee", "lang": "en-AU",
    "notes": {"1": "Say hello."},
    "slides": [{
        "number": 1, "width": 1280, "height": 720, "fill": "ffffff",
        "items": [
            {"kind": "text", "x": 70, "y": 60, "w": 400, "h": 40, "padding": [0, 0, 0, 8],
             "borders": [{"side": "bottom", "width": 4, "colour": "0f8a80", "style": "solid"}],
             "paragraphs": [{"align": "center", "lineHeight": 30, "runs": [{"text": "Hello", "bold": True, **RUN}]}]},
            {"kind": "text", "x": 70, "y": 120, "w": 600, "h": 80, "padding": [20, 0, 0, 0],
             "paragraphs": [
                 {"level": 0, "indent": 24, "top": 0, "lineHeight": 30, "bullet": {"number": 3, "type": "lower-roman"},
                  "runs": [{"text": "third", **RUN}]},
                 {"level": 1, "indent": 48, "top": 30, "lineHeight": 30, "bullet": {"char": "◦", "colour": "0f8a80"},
                  "runs": [{"text": "under it", **RUN, "link": "https://example.org/"}]}]},
            {"kind": "code", "x": 70, "y": 220, "w": 600, "h": 60, "fill": "f3f5f8/50", "padding": [16, 10, 16, 10],
             "borders": [{"side": "left", "width": 6, "colour": "0d2b4e"},
                         {"side": "top", "width": 2, "colour": "0f8a80", "style": "dashed"}],
             "paragraphs": [{"runs": [{"text": "x = 1", "font": "Courier New", "size": 16, "colour": "d73a49"}]},
                            {"runs": [{"text": "print(x)", "font": "Courier New", "size": 16}]}]},
            {"kind": "table", "x": 70, "y": 300, "w": 300, "h": 60, "columns": [100, 200],
             "rows": [{"h": 30, "cells": [
                 {"fill": "0d2b4e", "padding": [14, 6, 14, 6], "valign": "middle",
                  "paragraphs": [{"runs": [{"text": "a", **RUN, "mark": "f3f5f8"}]}]},
                 {"padding": [14, 6, 14, 6], "bottom": {"width": 1, "colour": "d8dde4"},
                  "paragraphs": [{"align": "right", "runs": [{"text": "b", **RUN}]}]}]},
                 {"h": 30, "cells": [{"span": 2, "padding": [0, 0, 0, 0], "paragraphs": []}]}]},
            {"kind": "shape", "x": 1200, "y": 700, "w": 80, "h": 20, "fill": "ff0000/25"},
        ]}],
}


def written(tmp_path):
    target = tmp_path / "deck.pptx"
    write_pptx(slides_of(MEASURED), target, MEASURED["title"], MEASURED["author"], MEASURED["lang"])
    return Presentation(target)


def test_text_boxes_keep_their_place_runs_and_room(tmp_path):
    deck = written(tmp_path)
    slide = deck.slides[0]
    assert deck.core_properties.title == "Week 1" and deck.core_properties.author == "Sam Lee"
    heading = slide.shapes[0]
    assert heading.shape_type == MSO_SHAPE_TYPE.GROUP  # the text and its underline move together
    text = next(s for s in heading.shapes if s.has_text_frame)
    # centred text grows both ways: the room is shared between the two sides
    assert text.left == round((70 - 400 * ROOM / 2) * 9525) and text.width == round(400 * (1 + ROOM) * 9525)
    run = text.text_frame.paragraphs[0].runs[0]
    assert (run.text, run.font.bold, run.font.size.pt, str(run.font.color.rgb)) == ("Hello", True, 18.0, "0D2B4E")
    assert text.text_frame.paragraphs[0]._p.pPr.get("algn") == "ctr"
    assert slide.has_notes_slide and slide.notes_slide.notes_text_frame.text == "Say hello."


def test_bullets_numbers_levels_and_links(tmp_path):
    items = written(tmp_path).slides[0].shapes[1].text_frame
    third, under = items.paragraphs
    assert third._p.pPr.find(qn("a:buAutoNum")).attrib == {"type": "romanLcPeriod", "startAt": "3"}
    assert under.level == 1 and under._p.pPr.find(qn("a:buChar")).get("char") == "◦"
    assert int(under._p.pPr.get("marL")) > int(third._p.pPr.get("marL"))
    assert items.margin_left == 0  # (items say how far in they are)
    assert under.runs[0].hyperlink.address == "https://example.org/"


def test_code_keeps_its_lines_fill_and_borders(tmp_path):
    group = written(tmp_path).slides[0].shapes[2]
    parts = list(group.shapes)
    fill = next(s for s in parts if s.shape_type == MSO_SHAPE_TYPE.AUTO_SHAPE)
    alpha = fill.fill._xPr.find(qn("a:solidFill")).find(qn("a:srgbClr")).find(qn("a:alpha"))
    assert alpha.get("val") == "50000"
    lines = [s for s in parts if s.shape_type == MSO_SHAPE_TYPE.LINE]
    assert sorted(round(line.line.width / 9525) for line in lines) == [2, 6]
    text = next(s for s in parts if s.has_text_frame and s.text_frame.text)
    assert [p.text for p in text.text_frame.paragraphs] == ["x = 1", "print(x)"]
    assert text.text_frame.word_wrap is False


def test_tables_are_native_with_their_columns_and_merges(tmp_path):
    frame = next(s for s in written(tmp_path).slides[0].shapes if s.has_table)
    table = frame.table
    assert [round(c.width / 9525) for c in table.columns] == [100, 200]
    assert table.cell(0, 0).text == "a" and table.cell(0, 1).text == "b"
    assert table.cell(1, 0).is_merge_origin and table.cell(1, 1).is_spanned
    style = table._tbl.tblPr.find(qn("a:tableStyleId")).text
    assert style == "{2D5ABB26-0587-4C30-8999-92F81FD0307C}"  # no Office style over the slide's own looks


def test_the_xml_keeps_the_order_the_schema_asks_for(tmp_path):
    """(PowerPoint refuses what LibreOffice forgives: a fill before a cell's edges, a
    highlight after a run's fonts.)"""
    table = next(s for s in written(tmp_path).slides[0].shapes if s.has_table).table
    local = [child.tag.split("}")[1] for child in table.cell(0, 0)._tc.tcPr]
    assert local == ["lnL", "lnR", "lnT", "lnB", "solidFill"]
    r_pr = table.cell(0, 0).text_frame.paragraphs[0].runs[0]._r.rPr
    assert [child.tag.split("}")[1] for child in r_pr] == ["solidFill", "highlight", "latin", "ea", "cs"]

"""Interactive outputs as pages of their own, without a browser: which outputs are
interactive, their CDN libraries inlined from node_modules, the script that fits them to
their frame, and their still pictures' names."""
from __future__ import annotations

from pathlib import Path

from deckrun.execute.outputs import CellResult, Rich
from deckrun.format.interactive import document, interactive_html, pages, still_key

REQUIRE = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"
D3 = "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min.js"


def fake_node_modules(root: Path) -> Path:
    modules = root / "node_modules"
    for name, text in (("requirejs/require.js", "var requirejs = 'REQUIRE-COPY';"),
                       ("d3/dist/d3.min.js", "window.d3 = 'D3-COPY'; // </script> inside"),
                       ("jquery/dist/jquery.min.js", "window.jQuery = 'JQ';")):
        (modules / name).parent.mkdir(parents=True, exist_ok=True)
        (modules / name).write_text(text)
    return modules


def test_only_output_that_runs_script_is_interactive():
    assert interactive_html([Rich({"text/html": "<table><tr><td>1</td></tr></table>"})]) == ""
    split = [Rich({"text/html": f'<script src="{REQUIRE}"></script>'}), Rich({"text/plain": "x"}),
             Rich({"application/javascript": "draw()"})]
    assert interactive_html(split) == f'<script src="{REQUIRE}"></script>\n<script>draw()</script>'
    assert interactive_html([Rich({"text/html": '<b onclick="go()">x</b>'})])


def test_a_page_loads_nothing_from_a_cdn(tmp_path):
    body = (f'<script src="{REQUIRE}"></script><script>require.config({{paths: {{d3: "{D3}"}}}});'
            "require(['d3'], d3 => draw(d3))</script>")
    page = document(body, fake_node_modules(tmp_path))
    assert "cdnjs" not in page
    assert "REQUIRE-COPY" in page and "D3-COPY" in page
    assert "<\\/script> inside" in page  # a library's own </script> cannot end its tag
    assert "define('d3', [], function () { return window.d3; });" in page
    assert "deckrunScale" in page and "zoom" in page  # shrinks itself to its frame


def test_still_pictures_are_named_by_their_page(tmp_path):
    modules = fake_node_modules(tmp_path)
    results = [CellResult((Rich({"text/html": "<script>a()</script>"}),)), CellResult((Rich({"text/plain": "1"}),))]
    found = pages(results, modules)
    assert len(found) == 1 and still_key(found[0]) == still_key(document("<script>a()</script>", modules))
    assert still_key(found[0]) != still_key(document("<script>b()</script>", modules))

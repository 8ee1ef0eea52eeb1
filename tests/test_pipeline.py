"""The whole pipeline for real: Jupyter kernel, Marp CLI, Chromium; read back with pypdf."""
from __future__ import annotations

import os
import re

import pytest
from pypdf import PdfReader

from helpers.course import only_decks, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium


def slides_in(markdown: str) -> int:
    body = markdown.split("\n---\n", 1)[1] if markdown.startswith("---\n") else markdown
    return len(re.findall(r"^---$", body, re.MULTILINE)) + 1


def test_the_course_builds(built_course):
    root, proc = built_course
    assert proc.returncode == 0, proc.stderr
    assert "3 decks built; 15 cells run, 0 from the cache; 9 files written" in proc.stdout
    assert re.search(r"\[2/7\] slides/main.md:18 \(examples.py#setup\) \.\.\. \d+\.\ds", proc.stdout)


def test_markdown_holds_the_real_outputs(built_course):
    root, _ = built_course
    md = (root / "build" / "main.md").read_text()
    assert "# TST101: Testing Unit" in md                      # course.yaml in the template
    assert "```output\nhello from the kernel\n```" in md        # printed text
    assert "```output\n'IT WORKS!'\n```" in md                  # last expression + import helpers
    assert "value 3\nvalue 4\n... (1 more line)" in md          # data/ file read, max-lines
    assert "from helpers import" not in md                       # echo=false
    assert "plt.subplots" not in md                              # #| echo: false
    assert "Contact Sam Tester: sam@example.edu" in md           # partial
    assert "```error\nZeroDivisionError: division by zero\n```" in md
    columns = md[md.index('<div class="cell columns">'):]
    assert columns.index("squares = [n * n") < columns.index("[0, 1, 4, 9, 16]") < columns.index("</div>\n</div>")
    figure = re.search(r'<img src="(main_files/[0-9a-f]{16}\.png)" alt="Three bars" style="width:500px">', md)
    assert figure and (root / "build" / figure.group(1)).read_bytes().startswith(b"\x89PNG")


def test_options_and_rich_outputs(built_course):
    root, _ = built_course
    md = (root / "build" / "options.md").read_text()
    assert "```output\nonly the output shows\n```" in md and 'print("only the output' not in md
    assert 'print("this output is hidden")' in md and "```output\nthis output is hidden" not in md
    svg = re.search(r'src="(options_files/[0-9a-f]{16}\.svg)"', md)
    assert svg and b"<svg" in (root / "build" / svg.group(1)).read_bytes()
    assert '<div class="cell-output-markdown">\n<p><strong>bold from the kernel</strong></p>' in md
    assert '<div class="cell-output-html">\n<table><tr><th>token</th>' in md
    assert "\n\n<tr><td>hello" not in md                         # blank lines removed from HTML
    assert "```stderr\nto stderr\n```" in md
    assert "```output\nprogress 3/3\n```" in md                  # carriage returns resolved
    assert "TimeoutError: the cell ran longer than 1 s" in md
    assert "kernel still alive after the timeout" in md


def test_html_holds_the_outputs_and_opens_from_disk(built_course):
    root, _ = built_course
    html = (root / "build" / "main.html").read_text()
    assert "hello from the kernel" in html
    assert "[0, 1, 4, 9, 16]" in html
    src = re.search(r'src="(main_files/[0-9a-f]{16}\.png)"', html)
    assert src and (root / "build" / src.group(1)).exists()


def test_pdf_has_a_page_per_slide_with_text_and_figure(built_course):
    root, _ = built_course
    pdf = PdfReader(root / "build" / "main.pdf")
    assert len(pdf.pages) == slides_in((root / "slides" / "main.md").read_text()) == 6
    text = [page.extract_text() for page in pdf.pages]
    assert "hello from the kernel" in text[0]
    assert "value 4" in text[1]
    assert "ZeroDivisionError" in text[4]
    assert len(pdf.pages[2].images) == 1 and "bars drawn" not in text[2]  # the figure is an image


def test_unchanged_outputs_are_not_rendered_again(course):
    assert run_build(course, "slides/second.md").returncode == 0
    html, pdf = course / "build" / "second.html", course / "build" / "second.pdf"
    stamps = html.stat().st_mtime_ns, pdf.stat().st_mtime_ns
    assert "nothing changed since the last build" in run_build(course, "slides/second.md").stdout
    os.utime(course / "slides" / "second.md")  # a save without a change: the deck is built again
    again = run_build(course, "slides/second.md")
    assert "html up to date" in again.stdout and "pdf up to date" in again.stdout
    assert (html.stat().st_mtime_ns, pdf.stat().st_mtime_ns) == stamps
    theme = course / "themes" / "nmt-theme.css"
    theme.write_text(theme.read_text().replace("--nmt-navy: #0d2b4e;", "--nmt-navy: #0d2b4f;"))
    restyled = run_build(course, "slides/second.md", "--html")
    assert "rendering html" in restyled.stdout and "#0d2b4f" in html.read_text()
    html.unlink()
    assert "rendering html" in run_build(course, "slides/second.md", "--html").stdout


def test_a_failing_cell_fails_its_deck_only(course):
    (course / "snippets" / "broken.py").write_text("# %% load\nimport json\n\njson.loads('{not json')\n")
    (course / "slides" / "broken.md").write_text("# Broken\n\n{{ snippet('broken.py#load') }}\n")
    proc = run_build(course, "--html")
    assert proc.returncode == 1
    assert "error: slides/broken.md:3: cell raised JSONDecodeError" in proc.stderr
    assert "from snippets/broken.py:4" in proc.stderr
    assert "Traceback" in proc.stderr and "json.loads('{not json')" in proc.stderr
    assert "3 decks built, 1 failed" in proc.stdout
    assert (course / "build" / "second.html").exists()
    assert not (course / "build" / "broken.md").exists()


def test_a_failed_rebuild_keeps_the_last_good_output(course):
    assert run_build(course, "slides/second.md", "--html").returncode == 0
    html = course / "build" / "second.html"
    before = html.read_bytes()
    deck = course / "slides" / "second.md"
    deck.write_text(deck.read_text().replace("print(sum(range(10)))", "1 / 0"))
    proc = run_build(course, "slides/second.md", "--html")
    assert proc.returncode == 1 and "slides/second.md:8: cell raised ZeroDivisionError" in proc.stderr
    assert html.read_bytes() == before


@pytest.mark.parametrize("source, message", [
    ("{{ snippet('nowhere.py') }}", "slides/bad.md:3: snippet file not found: snippets/nowhere.py"),
    ("{{ snippet('examples.py#nope') }}", "slides/bad.md:3: no cell named 'nope' in snippets/examples.py"),
    ("{% for x in %}", "slides/bad.md:3: template syntax error"),
])
def test_input_errors_are_reported_before_anything_runs(course, source, message):
    (course / "slides" / "bad.md").write_text(f"# Bad\n\n{source}\n")
    proc = run_build(course, "--html")
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "slides/main.md: 7 cells" in proc.stdout           # the good decks still build
    assert "slides/bad.md:" not in proc.stdout                # no cell of the bad deck ran


def test_invalid_front_matter_and_unknown_theme(course):
    (course / "slides" / "bad.md").write_text("---\nmarp: true\npaginate: [yes\n---\n# x\n")
    (course / "slides" / "theme.md").write_text("---\nmarp: true\ntheme: no-such-theme\n---\n# x\n")
    proc = run_build(course, "slides/bad.md", "slides/theme.md", "--html")
    assert proc.returncode == 1
    assert "slides/bad.md:3: invalid YAML" in proc.stderr
    assert "slides/theme.md:3: unknown theme 'no-such-theme'" in proc.stderr


def test_course_and_command_line_mistakes(course):
    missing = run_build(course, "slides/nowhere.md")
    assert missing.returncode == 1 and "slides/nowhere.md: deck file not found" in missing.stderr
    (course / "course.yaml").write_text("code: X1\nname: [unclosed\n")
    broken = run_build(course, "--html")
    assert broken.returncode == 1 and "course.yaml:2: invalid YAML" in broken.stderr
    (course / "course.yaml").unlink()
    only_decks(course, {})
    empty = run_build(course)
    assert empty.returncode == 1 and "no decks found" in empty.stderr


def test_strict_turns_warnings_into_errors(course):
    (course / "slides" / "warn.md").write_text("```python run\n#| error: true\nx = 1\n```\n")
    relaxed = run_build(course, "slides/warn.md", "--html")
    assert relaxed.returncode == 0 and "marked 'error: true' but raised nothing" in relaxed.stderr
    strict = run_build(course, "slides/warn.md", "--html", "--strict")
    assert strict.returncode == 1 and "warnings are errors with --strict" in strict.stderr


def test_a_missing_browser_is_a_clear_error(course, monkeypatch):
    monkeypatch.setenv("CHROME_PATH", str(course / "no-such-browser"))
    proc = run_build(course, "slides/second.md", "--pdf")
    assert proc.returncode == 1
    assert "no-such-browser is not an executable browser" in proc.stderr
    assert run_build(course, "slides/second.md", "--html").returncode == 0  # HTML needs none


def test_clean_removes_build_output(course):
    assert run_build(course, "slides/second.md", "--html").returncode == 0
    assert run_build(course, "clean").returncode == 0
    assert not (course / "build").exists()
    assert (course / "slides" / "second.md").exists()


def test_a_snippet_cell_runs_after_the_earlier_cells_it_needs(course):
    script = course / "snippets" / "script.py"
    script.write_text("import math\n\n# %% first\nradius = 2\n\n# %% unrelated\nprint('not needed')\n\n"
                      "# %% second\nprint(round(math.pi * radius ** 2, 2))\n\n# %% early\nprint(later)\n\n"
                      "# %% late\nlater = 1\n")
    (course / "slides" / "script.md").write_text("# Area\n\n{{ snippet('script.py#second') }}\n")
    proc = run_build(course, "slides/script.md", "--html")
    assert proc.returncode == 0, proc.stderr
    assert "[2/3] slides/script.md:3 (setup from script.py#first) ..." in proc.stdout
    markdown = (course / "build" / "script.md").read_text()
    assert "12.57" in markdown and "radius = 2" not in markdown and "not needed" not in markdown
    script.write_text(script.read_text().replace("radius = 2", "radius = 3"))  # setup is in the key
    again = run_build(course, "slides/script.md", "--html")
    assert "28.27" in (course / "build" / "script.md").read_text(), again.stdout
    (course / "slides" / "script.md").write_text("# Early\n\n{{ snippet('script.py#early') }}\n")
    early = run_build(course, "slides/script.md", "--html")
    assert early.returncode == 1
    assert "cell raised NameError: name 'later' is not defined" in early.stderr
    assert "('later' is set by cell 'late' (snippets/script.py:16), which comes after this cell in the file)" \
        in early.stderr

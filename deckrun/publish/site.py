"""`build.py publish`: what students get and what the lecturer keeps, made from decks
built as usual (the cache and the render stamps make a repeat publish almost free).

    build/site/      index.html; per deck DECK.html, DECK.pdf, DECK-handout.pdf, DECK.ipynb
                     and what they need (figures, images, the files the notebook reads)
    build/lecturer/  per deck DECK.html and DECK.pdf (every slide, lecturer-only ones
                     marked; with --pptx DECK.pptx too, editable) and DECK-notes.pdf (each
                     slide with its presenter notes)

Every student file is made from Markdown from which the lecturer-only slides and the
presenter notes were removed (audience.without_lecturer_content): their text is in none.
"""
from __future__ import annotations

import io
import json
import platform
import re
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlparse

from ..core.errors import DeckError, Location, ToolError
from ..core.files import Stamp, copy_if_changed, write_atomic, write_if_changed
from ..core.options import FORMATS, BuildOptions
from ..core.progress import Progress
from ..core.project import Project, course_language
from ..execute.kernel import RESEED
from ..format.rendition import Rendition, deck_title
from ..pipeline.build import BuiltDeck, PendingRender, Session, Variant, build_decks, render_pending, render_variant
from ..source.audience import without_lecturer_content
from ..source.deck import MARKER_PATTERN, Deck
from ..source.slides import parse_slides
from .handouts import (
    HANDOUT_SIZES,
    LEGIBLE,
    Paper,
    body_text_size,
    check_handout,
    check_paper,
    slide_scale,
    write_handout,
    write_notes,
)
from .index import SiteEntry, render_index
from .notebook import NotebookCells, Provenance, course_files, make_notebook, notebook_cells

SITE, LECTURER, ENTRIES = "site", "lecturer", ".publish"
DEFAULT_HANDOUT, DEFAULT_PAPER = 2, "a4"  # 2 a page: body text stays legible (handouts.LEGIBLE)


@dataclass(frozen=True)
class PublishOptions:
    handout: int | None = None  # slides a handout page; else the deck's or course's `handout:`
    paper: str | None = None    # a4 | letter; else `paper:`
    zip: bool = False           # also build/site.zip
    pptx: bool = False          # also the lecturer's copies as editable PowerPoint

    @property
    def lecturer_formats(self) -> tuple[str, ...]:
        return ("html", "pdf", "pptx") if self.pptx else ("html", "pdf")


@dataclass
class StudentCopy:
    """One deck on its way to the site: its students' version and what it needs rendered."""
    built: BuiltDeck
    student: Deck               # the deck without lecturer-only slides and notes
    rendition: Rendition        # its Marp Markdown
    pending: list[PendingRender]
    paper: Paper                # what its handout and notes pages say
    per_page: int
    notebook: NotebookCells     # the cells its notebook holds


def publish(paths: list[Path], build_options: BuildOptions, options: PublishOptions, session: Session,
            every_deck: bool) -> int:
    """Build the decks, write their students' versions and render them all together,
    then make the handouts, notebooks and lecturer's copies, the index and the zip."""
    started = time.monotonic()
    project, progress = session.project, session.progress
    reports = build_decks(paths, replace(build_options, formats=options.lecturer_formats), session)
    failed = sum(not r.ok for r in reports)
    copies: list[StudentCopy] = []
    for report in reports:
        if report.built is None:
            continue
        if report.built.deck.front_matter.get("draft") is True:
            progress.note(f"{Location(report.deck)}: draft: true, not published")
            continue
        try:
            copies.append(student_copy(report.built, options, session))
        except (DeckError, ToolError) as exc:
            progress.failed(report.deck, exc)
            failed += 1
    outcomes = render_pending([item for copy in copies for item in copy.pending], session, " for students")
    kept: set[Path] = set()
    published = 0
    for copy in copies:
        deck = copy.built.deck.path
        try:
            error = next((outcomes[item] for item in copy.pending if outcomes[item] is not None), None)
            if error is not None:
                raise error
            progress.note(f"publishing {Location(deck)}")
            kept |= publish_deck(copy, options.lecturer_formats, session)
            published += 1
        except (DeckError, ToolError) as exc:
            progress.failed(deck, exc)
            failed += 1
    site = project.build_dir / SITE
    entries = _entries(project, every_deck and not failed)
    index = site / "index.html"
    theme = next((r.built.deck.front_matter.get("theme") for r in reports if r.built), None)
    write_if_changed(index, render_index(project, entries, theme))
    if every_deck and not failed:  # the site is exactly the decks there are
        _remove_others(site, kept | {index})
        _remove_others(project.build_dir / LECTURER, kept)
    zipped = project.build_dir / "site.zip"
    if options.zip or zipped.exists():  # once made, kept in step with the site: never stale
        files = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file())
        if _make(project, zipped, (files,), lambda: write_atomic(zipped, _zip(site))):
            progress.note(f"wrote {Location(zipped)} (upload it to the LMS)"
                          + ("" if options.zip else ": the site changed since it was made"))
    progress.note(f"published {published} deck{'s' if published != 1 else ''} to "
                  f"{Location(index)}; lecturer copies in {Location(project.build_dir / LECTURER)}"
                  + (f"; {failed} failed" if failed else "") + f" ({time.monotonic() - started:.1f}s)")
    return 1 if failed else 0


def student_copy(built: BuiltDeck, options: PublishOptions, session: Session) -> StudentCopy:
    """The students' Markdown of a deck (no lecturer-only slides, no notes), written, and
    the site's HTML and PDF it must be rendered to."""
    project, deck = session.project, built.deck
    per_page, paper_size = _handout_options(project, deck.front_matter, deck.path, options)
    course = {**project.course, **(deck.front_matter.get("course") or {})}
    paper = Paper(deck_title(deck), " ".join(str(course[k]) for k in ("code", "name") if course.get(k)),
                  str(course.get("lecturer", "")), paper_size,
                  course_language(project, deck.front_matter, deck.path))
    student = replace(deck, markdown=without_lecturer_content(deck.markdown))
    notebook = notebook_cells(deck.cells, {int(m.group(1)) for m in MARKER_PATTERN.finditer(student.markdown)})
    site = project.build_dir / SITE
    variant = Variant(f"{deck.name}.student", {"html": site / f"{deck.name}.html", "pdf": site / f"{deck.name}.pdf"},
                      students=True, label=" for students")
    log = session.progress.deck(deck.path, len(deck.cells), live=False)  # "up to date" lines are not news
    rendition, pending = render_variant(deck, built.execution.results, variant, session, log)
    return StudentCopy(built, student, rendition, pending, paper, per_page, notebook)


def publish_deck(copy: StudentCopy, formats: tuple[str, ...], session: Session) -> set[Path]:
    """Write one deck's student files (its HTML and PDF rendered) and lecturer files;
    return every file it owns there."""
    project = session.project
    built, student, paper, per_page = copy.built, copy.student, copy.paper, copy.per_page
    deck, build = built.deck, project.build_dir
    site, lecturer = build / SITE, build / LECTURER
    html, pdf = site / f"{deck.name}.html", site / f"{deck.name}.pdf"
    _check_nothing_leaked(html)
    owned = {html, pdf} | _copy_references(copy.rendition.screen, build, site)
    handout = site / f"{deck.name}-handout.pdf"
    if _make(project, handout, (pdf, per_page, paper, _source_of(write_handout)),
             lambda: write_handout(pdf, handout, per_page, paper)):
        session.progress.note(f"  wrote {Location(handout)}: {per_page} slides a page")
        _warn_if_small(deck, pdf, per_page, paper, session.progress)
    for warning in copy.notebook.warnings:
        session.progress.warn(warning)
    notebook, files = _notebook(project, built, student, paper.title, paper.course, copy.notebook)
    owned |= {notebook} | {site / name for name in files}

    # The lecturer: every slide, and the notes.
    full = parse_slides(built.markdown.read_text(encoding="utf-8"))
    for fmt in formats:
        name = f"{deck.name}{FORMATS[fmt].suffix}"
        copy_if_changed(build / name, lecturer / name)
        owned.add(lecturer / name)
    owned |= _copy_references(built.markdown, build, lecturer)
    notes = lecturer / f"{deck.name}-notes.pdf"
    full_pdf = built.markdown.with_suffix(".pdf")
    slide_notes = [slide.notes for slide in full.slides]
    flags = [slide.lecturer_only for slide in full.slides]
    if _make(project, notes, (full_pdf, json.dumps([slide_notes, flags]), paper, _source_of(write_notes)),
             lambda: write_notes(full_pdf, notes, slide_notes, flags, paper)):
        session.progress.note(f"  wrote {Location(notes)}")
    owned.add(notes)

    entry = SiteEntry(deck.name, paper.title, str(deck.front_matter.get("session", "")),
                      str(deck.front_matter.get("date", "")), len(parse_slides(student.markdown).slides),
                      _provenance(built).describe(),
                      {kind: file.relative_to(site).as_posix() for kind, file in
                       (("slides", html), ("pdf", pdf), ("handout", handout), ("notebook", notebook))})
    write_if_changed(build / ENTRIES / f"{deck.name}.json", json.dumps(entry.to_json(), indent=1))
    return owned | {handout}


def _warn_if_small(deck: Deck, pdf: Path, per_page: int, paper: Paper, progress: Progress) -> None:
    """Say so when a handout prints the slides' body text too small to read."""
    body = body_text_size(pdf)
    printed = body * slide_scale(pdf, per_page, paper)
    if printed < LEGIBLE:
        better = next((n for n in sorted(HANDOUT_SIZES, reverse=True)
                       if body * slide_scale(pdf, n, paper) >= LEGIBLE), None)
        progress.warn(f"{Location(deck.path)}: a handout of {per_page} slides a page prints the "
                            f"body text at {printed:.1f} pt, under {LEGIBLE:g} pt" + (
                                f" (with {better} a page: {body * slide_scale(pdf, better, paper):.1f} pt)"
                                if better else ""))


def _handout_options(project: Project, front_matter: dict[str, Any], deck: Path,
                     options: PublishOptions) -> tuple[int, str]:
    """--handout and --paper, else the deck's front matter, else course.yaml."""
    def first(name: str, given: object, default: object) -> tuple[object, str]:
        places = ((given, f"--{name}"), (front_matter.get(name), f"{Location(deck)}: {name}"),
                  (project.course.get(name), f"course.yaml: {name}"))
        return next(((value, where) for value, where in places if value is not None), (default, name))

    return (check_handout(*first("handout", options.handout, DEFAULT_HANDOUT)),
            check_paper(*first("paper", options.paper, DEFAULT_PAPER)))


def _source_of(function: Callable[..., object]) -> Path:
    """The file a function is written in: what it makes changes when that file does."""
    return Path(function.__code__.co_filename)


def _make(project: Project, output: Path, sources: tuple[object, ...], write: Callable[[], object]) -> bool:
    """Call `write` to make `output` unless its stamp says it was made from the same
    `sources` (files count by content); say whether it wrote."""
    stamp = Stamp.of(*(source if isinstance(source, Path) else repr(source) for source in sources))
    stamp_file = project.stamp_file(output)
    if stamp.matches(output, stamp_file):
        return False
    write()
    stamp.record(stamp_file)
    return True


def _check_nothing_leaked(html: Path) -> None:
    """A last check on what Marp made for students: no lecturer-only slide, no notes."""
    text = html.read_text(encoding="utf-8")
    classes = re.findall(r"<section\b[^>]*?\bclass=\"([^\"]*)\"", text)
    if any("lecturer" in c.split() for c in classes) or 'class="bespoke-marp-note"' in text:
        html.unlink()
        raise ToolError(f"{html.name}: a lecturer-only slide or a presenter note reached the "
                        "students' copy; it was removed (please report this)")


def _copy_references(markdown: Path, source: Path, target: Path) -> set[Path]:
    """Copy the local files a deck shows (figures, images), as links from where its
    Markdown sits under `source`, to the same places under `target`."""
    copied = set()
    here = markdown.parent
    for reference in (ref.url for slide in parse_slides(markdown.read_text(encoding="utf-8")).slides
                      for ref in slide.references):
        parsed = urlparse(reference)
        if parsed.scheme or parsed.netloc or reference.startswith(("/", "#", "data:")):
            continue
        file = (here / unquote(parsed.path)).resolve()
        if file.is_file() and file.is_relative_to(source.resolve()):
            copy_if_changed(file, target / file.relative_to(source.resolve()))
            copied.add(target / file.relative_to(source.resolve()))
    return copied


def _notebook(project: Project, built: BuiltDeck, student: Deck, title: str, course: str,
              chosen: NotebookCells) -> tuple[Path, list[str]]:
    execution = built.execution
    kept = chosen.indices
    cells = [built.deck.cells[i] for i in kept]
    files = course_files(cells, [execution.keys[i].inputs for i in kept], project.root)
    target = project.build_dir / SITE / f"{built.deck.name}.ipynb"
    provenance = _provenance(built)
    made_from = (student.markdown, kept, [execution.results[i].to_json() for i in kept], title, course,
                 provenance, execution.settings, files, _source_of(make_notebook), RESEED)
    _make(project, target, made_from, lambda: write_if_changed(target, make_notebook(
        student, execution.results, chosen, title, course, provenance, execution.settings, files, project.root)))
    beside = target.parent  # (a notebook opens its files from its own folder)
    for name in files.shipped:
        copy_if_changed(project.root / name, beside / name)
    return target, [str((beside / name).relative_to(project.build_dir / SITE)) for name in files.shipped]


def _provenance(built: BuiltDeck) -> Provenance:
    """What really computed the deck's outputs: the versions recorded with each (a result
    taken with --frozen keeps the versions that made it, not the kernel's)."""
    packages: dict[str, str] = {}
    for key in built.execution.computed_with:
        packages.update(key.packages)
    pythons = sorted({key.python for key in built.execution.computed_with if key.python})
    computed = max((r.computed for r in built.execution.results), default="")
    return Provenance(computed, ", ".join(pythons) or platform.python_version(), dict(sorted(packages.items())))


def _entries(project: Project, only_current: bool) -> list[SiteEntry]:
    """The decks the index lists: those published (now or before) that are still decks."""
    folder = project.build_dir / ENTRIES
    names = {project.deck_name(deck) for deck in project.decks()}
    entries = []
    for path in sorted(folder.rglob("*.json")):
        name = path.relative_to(folder).with_suffix("").as_posix()
        if name in names and (project.build_dir / SITE / f"{name}.html").exists():
            entries.append(SiteEntry(**json.loads(path.read_text(encoding="utf-8"))))
        elif only_current:
            path.unlink()
    return entries


def _remove_others(folder: Path, keep: set[Path]) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _zip(site: Path) -> bytes:
    """The site as a zip with index.html at its root (an LMS unpacks it as a web page).
    The same files give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(site)),
                                   date_time=time.localtime(path.stat().st_mtime)[:6])
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()

"""Files a deck shows that its cells do not make (images, backgrounds, logos, embeds),
pointed at where a render finds them: a remote one at its copy in build/_assets/ (from
the asset cache: fetch/assets.py), one that cannot be had at a placeholder in the theme's
colours (and a warning: deck, slide, URL). For paper (PDF, PPTX) an embedded `<iframe>`
becomes a poster: its thumbnail when one can be had (YouTube), else a box with its title,
linking to it. Only images' and links' targets change; code and prose stay as written.
"""
from __future__ import annotations

import base64
import hashlib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import unquote, urlparse

from ..core.errors import Location
from ..core.files import copy_if_changed, write_if_changed
from ..fetch.assets import ASSETS_DIR, Assets, Stored, is_remote
from ..source.slides import CSS_URL, Reference, SlideMap, parse_slides

BUILD_FOLDER = "_assets"          # the copies Markdown points at, under build/
_YOUTUBE = re.compile(r"^https?://(?:www\.)?(?:youtube(?:-nocookie)?\.com/embed/|youtu\.be/)([\w-]{6,})")
_IFRAME = re.compile(r"<iframe\b[^>]*>.*?</iframe>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(r"""\b([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def theme_folder(assets: Assets, themes: Path, build: Path) -> tuple[Path, list[str]]:
    """The themes as Marp should get them: `themes` itself, or, when a theme loads
    remote files (`url(https://...)`), copies in build/.themes/ with the cached files
    inlined as data: URLs (a theme is inlined in every deck's page, which may sit at
    any depth under build/)."""
    sheets = {css: css.read_text(encoding="utf-8") for css in sorted(themes.glob("*.css"))}
    remote = {css: [u for u in CSS_URL.findall(text) if is_remote(u)] for css, text in sheets.items()}
    if not any(remote.values()):
        return themes, []
    got = assets.get([u for urls in remote.values() for u in urls])
    folder, warnings = build / ".themes", []
    for css, text in sheets.items():
        for url in remote[css]:
            stored = got[url]
            if isinstance(stored, Stored):
                data = base64.b64encode(assets.cache.path(stored).read_bytes()).decode()
                text = text.replace(url, f"data:{stored.type or 'application/octet-stream'};base64,{data}")
            elif assets.warn_once(f"{css}:{url}"):
                warnings.append(f"{Location(css)}: {url} could not be fetched ({stored}) and is "
                                f"not in {ASSETS_DIR}/: the theme goes without it")
        write_if_changed(folder / css.name, text)
    return folder, warnings


@dataclass(frozen=True)
class Localized:
    markdown: str
    warnings: list[str]


def localize(markdown: str, deck: Path, build: Path, here: Path, assets: Assets, colours: dict[str, str],
             paper: bool) -> Localized:
    """The Markdown (which will sit in `here`, under build/) with every remote file
    pointing at its copy in build/_assets/ and every file that cannot be had pointing at a
    placeholder; for `paper`, embeds become posters. Only images' and links' targets
    change: code, and prose that names a file, stay as written."""
    if not _needs_work(markdown, here, paper):
        return Localized(markdown, [])
    slides = parse_slides(markdown)
    uses: dict[Reference, list[int]] = {}
    for slide in slides.slides:
        for reference in slide.references:
            uses.setdefault(reference, []).append(slide.index + 1)
    embeds = [r for r in uses if r.kind == "embed"] if paper else []
    thumbnails = {r.url: _thumbnail(r.url) for r in embeds}
    got = assets.get([r.url for r in uses if is_remote(r.url) and r.kind != "embed"]
                     + [t for t in thumbnails.values() if t])
    replace: dict[str, str] = {}
    warnings: list[str] = []

    def warn(reference: Reference, problem: str) -> None:
        if assets.warn_once(f"{deck}:{reference.url}"):
            more = len(uses[reference]) - 1
            warnings.append(f"{Location(deck)} slide {uses[reference][0]}"
                            + (f" (and {more} more)" if more else "") + f": {problem}")

    for reference in uses:
        url = reference.url
        if reference.kind == "embed":
            continue
        if is_remote(url):
            outcome = got[url]
            if isinstance(outcome, Stored):
                replace[url] = _copy(assets.cache.path(outcome), build, here)
                continue
            warn(reference, f"{url} could not be fetched ({outcome}) and is not in {ASSETS_DIR}/: "
                            "a placeholder is shown")
        elif _is_local(url) and not (here / unquote(urlparse(url).path)).is_file():
            warn(reference, f"{url} does not exist: a placeholder is shown")
        else:
            continue
        replace[url] = _placeholder(build, here, reference, colours)
    posters = {}
    for reference in embeds:
        thumbnail = got.get(thumbnails[reference.url])
        if thumbnails[reference.url] and not isinstance(thumbnail, Stored):
            warn(reference, f"the thumbnail of {reference.url} could not be fetched ({thumbnail}): "
                            "the PDF shows a link box instead")
        image = _copy(assets.cache.path(thumbnail), build, here) if isinstance(thumbnail, Stored) else ""
        posters[reference.url] = image
    text = _replace_outside_code(slides, replace)
    if posters:
        text = _with_posters(text, posters, colours)
    return Localized(text, warnings)


_CANDIDATE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|\b(?:src|poster|data)\s*=\s*[\"']([^\"']+)"
                        r"|url\(\s*[\"']?([^\"')]+)|(<iframe\b)", re.IGNORECASE)


def _needs_work(markdown: str, here: Path, paper: bool) -> bool:
    """A quick look first (most builds change nothing here): is there anything remote, a
    local file that is missing, or (on paper) an embed? Code may give a false alarm,
    which only costs the full look."""
    for found in _CANDIDATE.finditer(markdown):
        if found.group(4):
            if paper:
                return True
            continue
        url = next(group for group in found.groups() if group)
        if is_remote(url) or (_is_local(url) and not (here / unquote(urlparse(url).path)).is_file()):
            return True
    return False


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return not parsed.scheme and not parsed.netloc and not url.startswith(("#", "/")) and bool(parsed.path)


def _copy(source: Path, build: Path, here: Path) -> str:
    """A cached file's copy in build/_assets/, as a link from `here`."""
    copy_if_changed(source, build / BUILD_FOLDER / source.name)
    return _link(build / BUILD_FOLDER / source.name, here)


def _link(file: Path, here: Path) -> str:
    return Path(os.path.relpath(file, here)).as_posix()


def _replace_outside_code(slides: SlideMap, replace: dict[str, str]) -> str:
    """Each URL replaced where it is the target of an image (Markdown or HTML), a media
    element or a style's url(): never in code (blocks or spans) or prose that names it."""
    if not replace:
        return "\n".join(slides.lines)
    urls = "|".join(re.escape(url) for url in sorted(replace, key=len, reverse=True))
    target = re.compile(rf"(?P<head>!\[[^\]]*\]\(\s*<?|\b(?:src|poster|data)\s*=\s*[\"']|url\(\s*[\"']?)"
                        rf"(?P<url>{urls})(?=[)\s\"'>]|$)", re.IGNORECASE)

    def retarget(text: str) -> str:
        return target.sub(lambda m: m.group("head") + replace[m.group("url")], text)

    def outside_spans(line: str) -> str:
        pieces, last = [], 0
        for span in _CODE_SPAN.finditer(line):
            pieces += [retarget(line[last:span.start()]), span.group(0)]
            last = span.end()
        return "".join(pieces + [retarget(line[last:])])

    return "\n".join(line if number in slides.code_lines else outside_spans(line)
                     for number, line in enumerate(slides.lines))


_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")


def _placeholder(build: Path, here: Path, reference: Reference, colours: dict[str, str]) -> str:
    """A picture saying what is missing: its alt text and where it was to come from. A
    missing background gets a faint one, its words out of the way of the slide's text."""
    parsed = urlparse(reference.url)
    source = (parsed.netloc or unquote(parsed.path))[:60]
    if reference.kind == "background":
        body = (f'<rect x="8" y="8" width="1264" height="704" fill="#eef0f3" stroke="{colours["accent"]}" '
                f'stroke-width="4" stroke-dasharray="20 14" opacity="0.7"/>'
                + _text(f"Background image not available: {source}", 640, 690, 22, "#7b8591"))
        width, height = 1280, 720
    else:
        body = (f'<rect x="6" y="6" width="788" height="438" rx="16" fill="#f4f5f7" stroke="{colours["accent"]}" '
                f'stroke-width="6" stroke-dasharray="22 14"/>'
                + _text("Image not available", 400, 170, 40, colours["heading"])
                + _text(reference.alt[:60], 400, 235, 32, colours["ink"])
                + _text(source, 400, 290, 26, "#5b6470"))
        width, height = 800, 450
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><g font-family="sans-serif">{body}</g></svg>')
    name = f"missing-{hashlib.sha256(svg.encode()).hexdigest()[:16]}.svg"
    write_if_changed(build / BUILD_FOLDER / name, svg)
    return _link(build / BUILD_FOLDER / name, here)


def _text(text: str, x: int, y: int, size: int, fill: str) -> str:
    return (f'<text x="{x}" y="{y}" font-size="{size}" fill="{fill}" text-anchor="middle">'
            f'{html.escape(text)}</text>' if text else "")


def _thumbnail(embed: str) -> str:
    found = _YOUTUBE.match(embed)
    return f"https://img.youtube.com/vi/{found.group(1)}/hqdefault.jpg" if found else ""


def _watch_link(embed: str) -> str:
    found = _YOUTUBE.match(embed)
    return f"https://www.youtube.com/watch?v={found.group(1)}" if found else embed


POSTER_STYLE = Template("""<style>
a.deckrun-embed { display: flex; flex-direction: column; align-items: center; justify-content: center;
  gap: 12px; box-sizing: border-box; margin: 0 auto; max-width: 100%; max-height: 100%; padding: 16px;
  border: 4px solid $accent; border-radius: 12px; background: #f4f5f7; color: $ink;
  text-decoration: none; text-align: center; font-size: 26px; overflow: hidden; }
a.deckrun-embed img { max-width: 100%; min-height: 0; flex: 1 1 auto; object-fit: contain; }
a.deckrun-embed span { font-weight: 700; color: $heading; }
a.deckrun-embed small { font-size: 18px; color: #5b6470; }
</style>""")


def _with_posters(text: str, images: dict[str, str], colours: dict[str, str]) -> str:
    """Each `<iframe>` (outside code) replaced by a link to what it shows, with its
    thumbnail when there is one; the posters' style added once."""
    code_lines = parse_slides(text).code_lines

    def poster(found: re.Match[str]) -> str:
        if text.count("\n", 0, found.start()) in code_lines:
            return found.group(0)
        opening = found.group(0).split(">", 1)[0]
        attributes = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _ATTRIBUTE.finditer(opening)}
        url = attributes.get("src", "")
        link = html.escape(_watch_link(url))
        title = html.escape(attributes.get("title") or urlparse(url).netloc or "Embedded content")
        size = "".join(f"{name}:{value}{'px' if value.isdigit() else ''};" for name in ("width", "height")
                       if (value := attributes.get(name, "")))
        image = f'<img src="{images[url]}" alt="">' if images.get(url) else ""
        return (f'<a class="deckrun-embed" href="{link}" style="{size}">{image}'
                f'<span>&#9654; {title}</span><small>{link}</small></a>')

    replaced = _IFRAME.sub(poster, text)
    if replaced == text:
        return text
    body = parse_slides(replaced).body
    lines = replaced.split("\n")
    return "\n".join(lines[:body] + [POSTER_STYLE.substitute(colours), ""] + lines[body:])

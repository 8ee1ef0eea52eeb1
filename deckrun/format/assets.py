"""Files a deck shows that its cells do not make: images, backgrounds, logos, embeds.

Remote ones (http, https) are fetched once into the course's asset cache, `_assets/`,
kept with the course and committed like `_freeze/`, and the Markdown Marp renders points
at a copy in `build/_assets/`: a render never fetches anything, and next term's PDF is
the same after the link has died. Fetching is bounded (short time-outs, a size cap, in
parallel). A remote file that cannot be had, or a local one that does not exist, is
warned about (deck, slide, URL) and shown as a placeholder in the theme's colours. For
paper (PDF, PPTX) an embedded `<iframe>` becomes a poster: its thumbnail when one can be
had (YouTube), else a box with its title, linking to it.

    _assets/files/<sha256[:2]>/<sha256>.<ext>     the content, by its hash
    _assets/urls/<h[:2]>/<h>.json                  {"url", "file", "type", "bytes", "fetched"}
                                                   (h: the hash of the URL)
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from urllib.parse import unquote, urlparse

from ..core.errors import Location
from ..core.files import copy_if_changed, write_atomic, write_if_changed
from ..source.slides import CSS_URL, Reference, SlideMap, parse_slides

ASSETS_DIR = "_assets"
BUILD_FOLDER = "_assets"          # the copies Markdown points at, under build/
CONNECT_TIMEOUT, READ_TIMEOUT, DEADLINE = 3.0, 5.0, 12.0  # seconds
MAX_BYTES = 25 * 1024 * 1024
PARALLEL = 8
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
               "image/svg+xml": "svg", "image/avif": "avif", "font/woff2": "woff2", "font/woff": "woff",
               "font/ttf": "ttf", "video/mp4": "mp4"}
_YOUTUBE = re.compile(r"^https?://(?:www\.)?(?:youtube(?:-nocookie)?\.com/embed/|youtu\.be/)([\w-]{6,})")
_IFRAME = re.compile(r"<iframe\b[^>]*>.*?</iframe>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(r"""\b([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


@dataclass(frozen=True)
class Stored:
    """A fetched URL in the asset cache."""
    url: str
    file: str       # files/ab/<sha256>.<ext>
    type: str
    bytes: int
    fetched: str    # when (UTC, ISO 8601)


class AssetCache:
    def __init__(self, root: Path) -> None:
        self.folder = root / ASSETS_DIR

    def _record(self, url: str) -> Path:
        name = hashlib.sha256(url.encode()).hexdigest()
        return self.folder / "urls" / name[:2] / f"{name}.json"

    def lookup(self, url: str) -> Stored | None:
        """The cached copy, if there is one whose content matches its hash."""
        try:
            stored = Stored(**json.loads(self._record(url).read_text(encoding="utf-8")))
            data = (self.folder / stored.file).read_bytes()
        except (OSError, ValueError, TypeError):
            return None
        if stored.url != url or hashlib.sha256(data).hexdigest() != Path(stored.file).stem:
            return None
        return stored

    def store(self, url: str, data: bytes, content_type: str) -> Stored:
        """The content first, then the record that names it."""
        digest = hashlib.sha256(data).hexdigest()
        file = f"files/{digest[:2]}/{digest}.{_extension(url, content_type)}"
        if not (self.folder / file).exists():
            write_atomic(self.folder / file, data)
        stored = Stored(url, file, content_type, len(data),
                        datetime.now(timezone.utc).isoformat(timespec="seconds"))
        write_atomic(self._record(url), json.dumps(stored.__dict__, indent=1, sort_keys=True))
        return stored

    def path(self, stored: Stored) -> Path:
        return self.folder / stored.file


def _extension(url: str, content_type: str) -> str:
    known = _EXTENSIONS.get(content_type)
    if known:
        return known
    suffix = Path(urlparse(url).path).suffix.lstrip(".").lower()
    return suffix if re.fullmatch(r"[a-z0-9]{1,5}", suffix) else "bin"


def fetch(url: str) -> tuple[bytes, str]:
    """GET `url` within the time-outs and the size cap; raise OSError saying why not."""
    import urllib3

    if urlparse(url).scheme not in ("http", "https"):
        raise OSError("only http and https addresses are fetched")
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
                               retries=urllib3.Retry(total=2, connect=0, read=0, redirect=5, status=0))
    started = time.monotonic()
    try:
        response = pool.request("GET", url, preload_content=False, headers={"User-Agent": "deckrun"})
    except urllib3.exceptions.MaxRetryError as exc:
        raise OSError(_why(exc.reason)) from None
    except urllib3.exceptions.HTTPError as exc:
        raise OSError(_why(exc)) from None
    try:
        if response.status >= 400:
            raise OSError(f"the server answered {response.status} {response.reason}")
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type.startswith("text/html"):
            raise OSError("the server sent a web page, not a file")
        chunks, size = [], 0
        for chunk in response.stream(64 * 1024):
            size += len(chunk)
            if size > MAX_BYTES:
                raise OSError(f"larger than {MAX_BYTES // 2**20} MB")
            if time.monotonic() - started > DEADLINE:
                raise OSError(f"still downloading after {DEADLINE:g} s")
            chunks.append(chunk)
        return b"".join(chunks), content_type
    except urllib3.exceptions.HTTPError as exc:
        raise OSError(_why(exc)) from None
    finally:
        response.release_conn()


def _why(error: object) -> str:
    text = str(error)
    if "timed out" in text.lower():
        return "no answer (timed out)"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text \
            or "NameResolutionError" in type(error).__name__:
        return "the host could not be found (offline?)"
    if "refused" in text.lower():
        return "the connection was refused"
    return text.split(": ", 1)[-1][:160]


@dataclass
class Assets:
    """The asset cache as builds use it: each URL fetched at most once (a watch session
    does not wait for a dead server on every save), each problem warned about once a run,
    and what the local images are (for render stamps) looked at once a run."""
    root: Path
    refresh: bool = False                   # --refresh-assets: fetch again what is cached
    cache: AssetCache = field(init=False)
    _got: dict[str, Stored | str] = field(default_factory=dict)  # URL -> stored, or why not
    _warned: set[str] = field(default_factory=set)
    _local: dict[Path, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # decks build in threads

    def begin_run(self) -> None:
        self._warned.clear()
        self._local.clear()

    def local_files(self, folder: Path) -> str:
        """The non-Markdown files under `folder` (images), by name, size and time."""
        with self._lock:
            return self._local_files(folder)

    def _local_files(self, folder: Path) -> str:
        if folder not in self._local:
            self._local[folder] = repr(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                                              for p in folder.rglob("*") if p.is_file() and p.suffix != ".md"))
        return self._local[folder]

    def __post_init__(self) -> None:
        self.cache = AssetCache(self.root)

    def get(self, urls: list[str]) -> dict[str, Stored | str]:
        """Each URL's cached copy, fetching (in parallel) those not cached yet."""
        with self._lock:
            return self._get(urls)

    def _get(self, urls: list[str]) -> dict[str, Stored | str]:
        wanted = [u for u in dict.fromkeys(urls) if u not in self._got]
        missing = []
        for url in wanted:
            stored = None if self.refresh else self.cache.lookup(url)
            if stored:
                self._got[url] = stored
            else:
                missing.append(url)
        if missing:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(PARALLEL, len(missing))) as pool:
                for url, outcome in zip(missing, pool.map(self._fetch, missing)):
                    self._got[url] = outcome
        return {url: self._got[url] for url in urls}

    def _fetch(self, url: str) -> Stored | str:
        try:
            data, content_type = fetch(url)
        except OSError as exc:
            kept = self.cache.lookup(url)  # --refresh-assets offline: keep what we had
            return kept or str(exc)
        return self.cache.store(url, data, content_type)

    def theme_folder(self, themes: Path, build: Path) -> tuple[Path, list[str]]:
        """The themes as Marp should get them: `themes` itself, or, when a theme loads
        remote files (`url(https://...)`), copies in build/.themes/ with the cached files
        inlined as data: URLs (a theme is inlined in every deck's page, which may sit at
        any depth under build/)."""
        sheets = {css: css.read_text(encoding="utf-8") for css in sorted(themes.glob("*.css"))}
        remote = {css: [u for u in CSS_URL.findall(text) if _is_remote(u)] for css, text in sheets.items()}
        if not any(remote.values()):
            return themes, []
        got = self.get([u for urls in remote.values() for u in urls])
        folder, warnings = build / ".themes", []
        for css, text in sheets.items():
            for url in remote[css]:
                stored = got[url]
                if isinstance(stored, Stored):
                    data = base64.b64encode(self.cache.path(stored).read_bytes()).decode()
                    text = text.replace(url, f"data:{stored.type or 'application/octet-stream'};base64,{data}")
                elif self.warn_once(f"{css}:{url}"):
                    warnings.append(f"{Location(css)}: {url} could not be fetched ({stored}) and is "
                                    f"not in {ASSETS_DIR}/: the theme goes without it")
            write_if_changed(folder / css.name, text)
        return folder, warnings

    def warn_once(self, key: str) -> bool:
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
            return first


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
    got = assets.get([r.url for r in uses if _is_remote(r.url) and r.kind != "embed"]
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
        if _is_remote(url):
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
        if _is_remote(url) or (_is_local(url) and not (here / unquote(urlparse(url).path)).is_file()):
            return True
    return False


def _is_remote(url: str) -> bool:
    return urlparse(url).scheme in ("http", "https") or url.startswith("//")


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

    def poster(found: re.Match) -> str:
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

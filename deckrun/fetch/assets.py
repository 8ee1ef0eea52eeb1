"""Remote files the decks show (images, backgrounds, logos, a theme's fonts), fetched
once into the course's asset cache, `_assets/`, kept with the course and committed like
`_freeze/`: a render never fetches anything, and next term's PDF is the same after the
link has died. Fetching is bounded (short time-outs, a size cap, in parallel); within a
run, each URL is fetched at most once and each problem said once.

    _assets/files/<sha256[:2]>/<sha256>.<ext>     the content, by its hash
    _assets/urls/<h[:2]>/<h>.json                  {"url", "file", "type", "bytes", "fetched"}
                                                   (h: the hash of the URL)
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

from ..core.files import write_atomic

ASSETS_DIR = "_assets"
CONNECT_TIMEOUT, READ_TIMEOUT, DEADLINE = 3.0, 5.0, 12.0  # seconds
MAX_BYTES = 25 * 1024 * 1024
PARALLEL = 8
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
               "image/svg+xml": "svg", "image/avif": "avif", "font/woff2": "woff2", "font/woff": "woff",
               "font/ttf": "ttf", "video/mp4": "mp4"}


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

    def warn_once(self, key: str) -> bool:
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
            return first


def is_remote(url: str) -> bool:
    return urlparse(url).scheme in ("http", "https") or url.startswith("//")

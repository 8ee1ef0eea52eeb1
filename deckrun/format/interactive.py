"""Interactive outputs: HTML that runs script (BertViz's attention view, a chart you can
hover). On screen they run in a sandboxed frame, offline: the browser libraries such
outputs load from CDNs (require.js, d3, jQuery) are inlined from the copies pinned in
package.json. On paper they become a still picture of the same view (a screenshot taken
in headless Chromium, kept in the cache) with a note that the HTML deck is interactive.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from ..execute.cache import Cache
from ..execute.outputs import CellResult, Rich

_SCRIPTED = re.compile(r"<script\b|\son\w+\s*=|javascript:|<iframe\b|<object\b|<embed\b", re.IGNORECASE)


@dataclass(frozen=True)
class Library:
    """A browser library outputs load from a CDN, and its pinned copy in node_modules.
    `module` is its AMD name when require.js loads it (paths: {d3: 'https://...'})."""
    address: re.Pattern[str]
    copy: str
    module: str = ""
    global_name: str = ""


LIBRARIES = (
    Library(re.compile(r"https?://[^\"'\s]+/require(?:\.js)?/[\d.]+/require(?:\.min)?\.js"), "requirejs/require.js"),
    Library(re.compile(r"https?://[^\"'\s]+/d3/[\d.]+/d3(?:\.min)?(?:\.js)?"), "d3/dist/d3.min.js", "d3", "d3"),
    Library(re.compile(r"https?://[^\"'\s]+/jquery/[\d.]+/jquery(?:\.min)?(?:\.js)?"),
            "jquery/dist/jquery.min.js", "jquery", "jQuery"),
)
_REQUIRE = LIBRARIES[0]


def interactive_html(outputs: list[Rich]) -> str:
    """The HTML (and JavaScript) a cell displayed, joined into one page, if any of it
    runs script: an output may be split over several displays (BertViz's head_view
    shows the library loader, its frame and its code apart); '' if none runs script."""
    parts = []
    for output in outputs:
        if "text/html" in output.data:
            parts.append(output.data["text/html"])
        if "application/javascript" in output.data:
            parts.append(f"<script>{output.data['application/javascript']}</script>")
    joined = "\n".join(parts)
    return joined if _SCRIPTED.search(joined) else ""


def document(body: str, node_modules: Path | None) -> str:
    """A page for the frame: the output, with known CDN libraries inlined (AMD modules
    loaded first as plain scripts, then named for require.js), so nothing is fetched."""
    head: list[str] = []
    defines: list[str] = []
    for library in LIBRARIES[1:]:
        if library.address.search(body) and node_modules is not None:
            head.append(_inline(node_modules, library))
            body = library.address.sub(library.module, body)  # a path require.js never uses
            defines.append(f"define('{library.module}', [], function () {{ return window.{library.global_name}; }});")
    if node_modules is not None:
        loader = _inline(node_modules, _REQUIRE) + (f"<script>{''.join(defines)}</script>" if defines else "")
        body = re.sub(rf"<script[^>]*src=[\"']{_REQUIRE.address.pattern}[\"'][^>]*>\s*</script>",
                      lambda _: loader, body)
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><style>body{margin:0;"
            "font-family:sans-serif}</style>" + "".join(head) + "</head><body>" + body + _FIT + "</body></html>")


# The output shrinks (never grows) to fit its frame, so nothing of it is cut off however
# tall the slide leaves the frame; outputs that draw late (BertViz, after require.js) too.
# The scale is kept in data-deckrun-scale, for `check`.
_FIT = """<script>(function () {
  var root = document.documentElement, pending = 0;
  function fit() {
    pending = 0;
    root.style.zoom = "";
    var scale = Math.min(1, innerWidth / root.scrollWidth, innerHeight / root.scrollHeight);
    root.style.zoom = scale < 1 ? String(scale) : "";
    root.dataset.deckrunScale = String(scale);
  }
  function soon() { if (!pending) pending = setTimeout(fit, 50); }
  addEventListener("load", fit);
  addEventListener("resize", soon);
  new MutationObserver(soon).observe(document.body, {childList: true, subtree: true, attributes: true});
})();</script>"""


def _inline(node_modules: Path, library: Library) -> str:
    return f"<script>{_read(node_modules / library.copy)}</script>"


@lru_cache(maxsize=8)
def _read(path: Path) -> str:
    # A `</script>` inside the library would end the tag early.
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def still_key(page: str) -> str:
    """The name of a page's still picture in the cache."""
    return hashlib.sha256(page.encode()).hexdigest()


def pages(results: Sequence[CellResult], modules: Path | None) -> list[str]:
    """The frame page of each interactive output among a deck's results."""
    found = (interactive_html([o for o in result.outputs if isinstance(o, Rich)]) for result in results)
    return [document(html, modules) for html in found if html]


def still_pictures(results: Sequence[CellResult], modules: Path | None, cache: Cache,
                   take: Callable[[str, str], bytes]) -> dict[str, bytes]:
    """Still pictures of a deck's interactive outputs: from the cache, else taken now by
    `take(page, key)` (in the browser) and kept in the cache."""
    stills = {}
    for page in pages(results, modules):
        key = still_key(page)
        picture = cache.still(key)
        if picture is None:
            picture = take(page, key)
            cache.store_still(key, picture)
        stills[key] = picture
    return stills

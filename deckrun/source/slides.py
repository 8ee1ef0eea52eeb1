"""A Marp deck's slides as Marp sees them: where each starts and ends, its directives
(classes), and its presenter notes, which are the HTML comments that are not directives.

The rules are Marpit's own (markdown/comment.js, slide.js, heading_divider.js,
directives/parse.js), ported onto markdown-it-py, the Python port of the parser Marp
uses: slides split at top-level rules (`---`) and, with `headingDivider`, before
headings; a comment is a directive comment when its YAML names a directive, a note
otherwise; local directives carry on to later slides, `_spot` ones stay on theirs.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # markdown-it is imported when a deck is first parsed (start-up time)
    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token

GLOBAL_DIRECTIVES = frozenset({
    "headingDivider", "style", "theme", "lang",             # Marpit
    "math", "size",                                          # Marp Core
    "author", "description", "image", "keywords", "title", "url",  # Marp CLI
})
LOCAL_DIRECTIVES = frozenset({
    "backgroundColor", "backgroundImage", "backgroundPosition", "backgroundRepeat",
    "backgroundSize", "class", "color", "footer", "header", "paginate",  # Marpit
    "transition",                                                        # Marp CLI
})
LECTURER_CLASS = "lecturer"
_MAGIC_COMMENTS = (re.compile(r"^prettier-ignore(-(start|end))?$"),
                   re.compile(r"^markdownlint-((disable|enable).*|capture|restore)$"),
                   re.compile(r"^lint (disable|enable|ignore).*$"))
_COMMENT = re.compile(r"<!--+\s*([\s\S]*?)\s*--+>")
_DECKRUN_MARKER = re.compile(r"^deckrun:")  # deckrun's own markers (cells) are not notes


@dataclass(frozen=True)
class Comment:
    line: int           # 0-based line of the markdown where it starts
    end: int            # 0-based line after it (block comments take whole lines)
    markup: str         # as written, `<!-- ... -->`
    content: str        # inside the comment, trimmed
    inline: bool        # inside a paragraph (removed from its line, not as lines)
    directives: dict[str, str]  # the directives it sets; empty for a note

    @property
    def is_note(self) -> bool:
        return not self.directives and not _DECKRUN_MARKER.match(self.content) and \
            not any(m.match(self.content) for m in _MAGIC_COMMENTS)


@dataclass(frozen=True)
class Reference:
    """A file a slide loads, as written (a path or a URL)."""
    url: str
    kind: str       # image, background (Markdown `bg`), html (<img>, <video>...), css (url()),
                    # embed (<iframe>)
    alt: str = ""   # its alt text (an embed's title), Marp's image keywords left out


@dataclass(frozen=True)
class Slide:
    index: int                       # 0-based
    start: int                       # first line, its separator (`---`) included
    end: int                         # the line after it
    separator: bool                  # starts with an explicit `---` (not a heading split)
    opening: int                     # the line after its `---` or dividing heading
    directives: dict[str, str]       # local directives in effect (class, paginate, ...)
    comments: tuple[Comment, ...]
    references: tuple[Reference, ...] = ()  # images and other files it shows

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.directives.get("class", "").split())

    @property
    def lecturer_only(self) -> bool:
        return LECTURER_CLASS in self.classes

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(c.content for c in self.comments if c.is_note)


@dataclass(frozen=True)
class SlideMap:
    lines: tuple[str, ...]
    body: int                        # first line after the front matter
    slides: tuple[Slide, ...]
    globals: dict[str, str] = field(default_factory=dict)
    title: str = ""                  # the first heading's text
    code_lines: frozenset[int] = frozenset()  # lines inside code blocks


@lru_cache(maxsize=64)
def parse_slides(markdown: str) -> SlideMap:
    lines = markdown.split("\n")
    body, front = _front_matter(lines)
    tokens = _parser().parse("\n".join(lines[body:]))
    for token in tokens:  # map to lines of the whole text
        if token.map:
            token.map = [token.map[0] + body, token.map[1] + body]
    comments = _comments(tokens)
    global_values = {**{k: v for k, v in front.items() if k in GLOBAL_DIRECTIVES}}
    for comment, _ in comments:
        global_values.update({k: v for k, v in comment.directives.items() if k in GLOBAL_DIRECTIVES})
    starts = _slide_starts(tokens, body, _heading_levels(global_values.get("headingDivider")))
    slides = _assign(starts, tokens, len(lines), comments, front)
    code = frozenset(n for t in tokens if t.type in ("fence", "code_block") and t.map
                     for n in range(t.map[0], t.map[1]))
    return SlideMap(tuple(lines), body, slides, global_values, _first_heading(tokens), code)


def first_heading(markdown: str) -> str:
    """The text of the deck's first heading ("" if none), parsed no further than needed: a
    heading found in an opening of the text is the whole text's first (what follows a block
    cannot change it, nor what came before it)."""
    lines = markdown.split("\n")
    body, _ = _front_matter(lines)
    size = 8
    while True:
        title = _first_heading(_parser().parse("\n".join(lines[body:body + size])))
        if title or body + size >= len(lines):
            return title
        size *= 4


# ---------------------------------------------------------------- parsing


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.block.ruler.before("html_block", "marpit_comment", _block_comment)
    md.inline.ruler.before("html_inline", "marpit_inline_comment", _inline_comment)
    return md


def _block_comment(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Marpit's block comment rule: a line starting with `<!--` up to the line holding `-->`."""
    pos = state.bMarks[start] + state.tShift[start]
    line = state.src[pos:state.eMarks[start]]
    if not line.startswith("<!--"):
        return False
    if silent:
        return True
    next_line = start + 1
    if "-->" not in line:
        while next_line < end:
            if state.sCount[next_line] < state.blkIndent:
                break
            text = state.src[state.bMarks[next_line] + state.tShift[next_line]:state.eMarks[next_line]]
            next_line += 1
            if "-->" in text:
                break
    state.line = next_line
    token = state.push("marpit_comment", "", 0)
    token.map = [start, next_line]
    token.markup = state.getLines(start, next_line, state.blkIndent, True)
    token.hidden = True
    found = _COMMENT.search(token.markup)
    token.content = found.group(1).strip() if found else ""
    return True


def _inline_comment(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("<!", state.pos) or state.pos + 2 >= state.posMax:
        return False
    found = _COMMENT.match(state.src, state.pos)
    if not found:
        return False
    if not silent:
        token = state.push("marpit_comment", "", 0)
        token.hidden = True
        token.markup = found.group(0)
        token.content = found.group(1).strip()
    state.pos = found.end()
    return True


def _front_matter(lines: list[str]) -> tuple[int, dict[str, str]]:
    if not lines or lines[0].rstrip() != "---":
        return 0, {}
    for end in range(1, len(lines)):
        if lines[end].rstrip() == "---":
            parsed = _yaml("\n".join(lines[1:end]))
            return end + 1, parsed or {}
    return 0, {}


def _yaml(text: str) -> dict[str, str] | None:
    """YAML as Marp reads directives: every scalar a string, values after a directive's
    colon taken loosely (`footer: Week 3: intro` is one string)."""
    try:
        data = yaml.load(_loosen(text), Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


_LOOSE_KEY = re.compile(r"^(_?(?:%s)\s*:)(.+)$" % "|".join(
    sorted(GLOBAL_DIRECTIVES | LOCAL_DIRECTIVES)))


def _loosen(text: str) -> str:
    def quote(found: re.Match[str]) -> str:
        value = found.group(2).strip()
        if not value or value[0] in "[\"'{|>~&*":
            return found.group(0)
        return f'{found.group(1)} {json.dumps(value)}'
    return "\n".join(_LOOSE_KEY.sub(quote, line) for line in text.split("\n"))


def _directives(content: str) -> dict[str, str]:
    parsed = _yaml(content) or {}
    known = {k: v for k, v in parsed.items() if isinstance(k, str) and (
        k in GLOBAL_DIRECTIVES or k in LOCAL_DIRECTIVES or k[1:] in LOCAL_DIRECTIVES and k[0] == "_")}
    return {k: " ".join(v) if isinstance(v, list) else v for k, v in known.items()
            if isinstance(v, (str, list))}


def _comments(tokens: list[Token]) -> list[tuple[Comment, int]]:
    """Every Marpit comment with the index of the token it is in, in document order."""
    found: list[tuple[Comment, int]] = []
    for index, token in enumerate(tokens):
        start, end = token.map or (0, 0)
        if token.type == "marpit_comment":
            found.append((Comment(start, end, token.markup, token.content,
                                  False, _directives(token.content)), index))
        elif token.type == "inline":
            for child in token.children or ():
                if child.type == "marpit_comment":
                    found.append((Comment(start, end, child.markup, child.content,
                                          True, _directives(child.content)), index))
    return found


def _heading_levels(value: str | list[str] | None) -> tuple[int, ...]:
    """The heading levels `headingDivider` splits at: `3` (levels 1 to 3), or a list
    (`[1, 2]`, in the front matter's YAML or a comment's text)."""
    if value is None:
        return ()
    if isinstance(value, str) and value.startswith("["):
        value = (_yaml(f"levels: {value}") or {}).get("levels", [])
    if isinstance(value, list):
        return tuple(int(v) for v in value if str(v).isdigit() and 1 <= int(v) <= 6)
    text = str(value)
    return tuple(range(1, int(text) + 1)) if text.isdigit() and 1 <= int(text) <= 6 else ()


@dataclass(frozen=True)
class _Start:
    token: int       # index of the token that starts the slide
    line: int
    separator: bool
    opening: int     # the line after the separator or heading


def _slide_starts(tokens: list[Token], body: int, heading_levels: tuple[int, ...]) -> list[_Start]:
    starts = [_Start(0, body, False, body)]
    seen_visible = False
    for index, token in enumerate(tokens):
        start, end = token.map or (0, 0)
        if token.type == "heading_open" and int(token.tag[1]) in heading_levels and seen_visible:
            starts.append(_Start(index, start, False, end))
        if token.type == "hr" and token.level == 0:
            starts.append(_Start(index, start, True, end))
        seen_visible = seen_visible or not token.hidden
    return starts


def _assign(starts: list[_Start], tokens: list[Token], total_lines: int,
            comments: list[tuple[Comment, int]], front: dict[str, str]) -> tuple[Slide, ...]:
    """Cut the comments into slides and work out each slide's directives as Marpit does."""
    local = {k: v for k, v in front.items() if k in LOCAL_DIRECTIVES}
    slides = []
    for number, start in enumerate(starts):
        following = starts[number + 1] if number + 1 < len(starts) else None
        next_token = following.token if following else None
        end = following.line if following else total_lines
        mine = tuple(c for c, at in comments
                     if at >= start.token and (next_token is None or at < next_token))
        spot: dict[str, str] = {}
        for comment in mine:
            for key, value in comment.directives.items():
                if key in LOCAL_DIRECTIVES:
                    local[key] = value
                elif key.startswith("_"):
                    spot[key[1:]] = value
        directives = {**local, **spot}
        slides.append(Slide(number, start.line, end, start.separator, start.opening, directives,
                            mine, _references(tokens[start.token:next_token], directives)))
    return tuple(slides)


_MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)")
_HTML_ELEMENT = re.compile(r"<(img|source|video|audio|iframe|embed|object)\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""\b([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+?)["']?\s*\)""")
_IMAGE_KEYWORD = re.compile(
    r"^(bg|fit|contain|cover|auto|vertical|\d+(\.\d+)?%|(w|h|width|height):\S+|(left|right)(:\S+)?|"
    r"(blur|brightness|contrast|drop-shadow|grayscale|hue-rotate|invert|opacity|saturate|sepia)(:\S*)?)$")


def marp_alt(alt: str) -> str:
    """An image's alt text without Marp's keywords (`bg right:40% fit`, `width:300px`)."""
    return " ".join(word for word in alt.split() if not _IMAGE_KEYWORD.match(word))


def _html_references(html: str) -> list[Reference]:
    found = []
    for element in _HTML_ELEMENT.finditer(html):
        tag = element.group(1).lower()
        attributes = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _ATTRIBUTE.finditer(element.group(2))}
        alt = attributes.get("alt") or attributes.get("title") or ""
        for name in ("src", "poster", "data"):
            if attributes.get(name):
                found.append(Reference(attributes[name], "embed" if tag == "iframe" else "html", alt))
    return found + [Reference(url, "css") for url in CSS_URL.findall(html)]


def _references(tokens: list[Token], directives: dict[str, str]) -> tuple[Reference, ...]:
    """What a slide loads: Markdown images (`bg` ones too), `src` in HTML, `url()` in
    styles, and images in its header and footer. Code is not looked into."""
    found: list[Reference] = []
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            found += _html_references(token.content)
        for child in token.children or ():
            if child.type == "image":
                kind = "background" if "bg" in child.content.split() else "image"
                found.append(Reference(str(child.attrs.get("src", "")), kind, marp_alt(child.content)))
            elif child.type == "html_inline":
                found += _html_references(child.content)
    for key in ("header", "footer"):
        text = directives.get(key, "")
        found += [Reference(url, "image", marp_alt(alt)) for alt, url in _MARKDOWN_IMAGE.findall(text)]
        found += _html_references(text)
    found += [Reference(url, "css") for url in CSS_URL.findall(directives.get("backgroundImage", ""))]
    return tuple(dict.fromkeys(ref for ref in found if ref.url))


def _first_heading(tokens: list[Token]) -> str:
    for index, token in enumerate(tokens[:-1]):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            text = "".join(child.content if child.type in ("text", "code_inline") else " "
                           for child in inline.children or ()
                           if child.type in ("text", "code_inline", "softbreak", "hardbreak", "html_inline"))
            return " ".join(text.split())
    return ""

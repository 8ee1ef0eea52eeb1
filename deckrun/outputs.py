"""What running a cell produced: the currency between execution, cache and formatting.

Everything here is plain data that round-trips through JSON (binary MIME data stays
base64, as Jupyter sends it), so a result can be cached and formatted later.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Union


@dataclass(frozen=True)
class OutputKind:
    """One MIME type a cell can display: the template that puts it on a slide and, for
    figures, the extension of the file it is saved as (in the cache and beside the deck)."""
    mime: str
    template: str
    extension: str = ""    # saved as a file of its own
    binary: bool = False   # base64 in Jupyter messages

    def to_bytes(self, content: str) -> bytes:
        return base64.b64decode(content) if self.binary else content.encode()

    def from_bytes(self, raw: bytes) -> str:
        return base64.b64encode(raw).decode() if self.binary else raw.decode()


# Best first: the representation of a MIME bundle that goes on the slide.
OUTPUT_KINDS = (
    OutputKind("text/markdown", "markdown"),
    OutputKind("image/svg+xml", "image", "svg"),
    OutputKind("image/png", "image", "png", binary=True),
    OutputKind("image/jpeg", "image", "jpg", binary=True),
    OutputKind("text/html", "html"),
    OutputKind("text/plain", "text"),
)
FILE_KINDS = {kind.mime: kind for kind in OUTPUT_KINDS if kind.extension}


def best_kind(data: dict[str, str]) -> OutputKind | None:
    return next((kind for kind in OUTPUT_KINDS if kind.mime in data), None)


@dataclass(frozen=True)
class Stream:
    """Text a cell printed; `name` is stdout or stderr."""
    name: str
    text: str


@dataclass(frozen=True)
class Rich:
    """A MIME bundle: the value of the last expression (`result`) or a display (figure,
    DataFrame, Markdown...). `data` maps MIME type to content (base64 for binary)."""
    data: dict[str, str]
    is_result: bool = False


@dataclass(frozen=True)
class Error:
    ename: str
    evalue: str
    traceback: str            # cleaned of ANSI colours
    line: int | None = None   # line within the cell's code where it was raised


Output = Union[Stream, Rich, Error]


@dataclass(frozen=True)
class CellResult:
    outputs: tuple[Output, ...] = ()
    seconds: float = 0.0
    computed: str = ""  # when it ran (UTC, ISO 8601): the outputs' provenance

    @property
    def error(self) -> Error | None:
        return next((o for o in self.outputs if isinstance(o, Error)), None)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "computed": self.computed,
                "outputs": [{"type": type(o).__name__.lower(), **asdict(o)} for o in self.outputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CellResult":
        kinds = {"stream": Stream, "rich": Rich, "error": Error}
        outputs = []
        for item in data["outputs"]:
            fields = dict(item)
            outputs.append(kinds[fields.pop("type")](**fields))
        return cls(tuple(outputs), float(data.get("seconds", 0.0)), str(data.get("computed", "")))


# ---------------------------------------------------------------- cleaning terminal text

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def clean_terminal_text(text: str) -> str:
    """What a terminal would finally show: colours removed, lines rewritten with `\\r`
    (progress bars) reduced to their last state, backspaces applied."""
    text = strip_ansi(text).replace("\r\n", "\n")
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            line = _overwrite(line.split("\r"))
        if "\b" in line:
            line = _apply_backspaces(line)
        lines.append(line.rstrip())
    return "\n".join(lines)


def _overwrite(parts: list[str]) -> str:
    """A `\\r` returns the cursor to the line start; later text overwrites earlier text."""
    screen = ""
    for part in parts:
        screen = part + screen[len(part):]
    return screen


def _apply_backspaces(line: str) -> str:
    kept: list[str] = []
    for char in line:
        if char != "\b":
            kept.append(char)
        elif kept:
            kept.pop()
    return "".join(kept)


def merge_streams(outputs: list[Output]) -> list[Output]:
    """Join consecutive chunks of the same stream (a kernel sends print output in pieces)."""
    merged: list[Output] = []
    for out in outputs:
        last = merged[-1] if merged else None
        if isinstance(out, Stream) and isinstance(last, Stream) and last.name == out.name:
            merged[-1] = Stream(out.name, last.text + out.text)
        else:
            merged.append(out)
    return merged


@dataclass
class OutputCollector:
    """Builds a cell's outputs from kernel messages as they arrive."""
    outputs: list[Output] = field(default_factory=list)

    def stream(self, name: str, text: str) -> None:
        self.outputs.append(Stream(name, text))

    def rich(self, data: dict[str, Any], is_result: bool) -> None:
        self.outputs.append(Rich({k: _as_text(v) for k, v in data.items()}, is_result))

    def error(self, error: Error) -> None:
        self.outputs.append(error)

    def clear(self) -> None:
        self.outputs.clear()

    def result(self, seconds: float) -> CellResult:
        cleaned: list[Output] = []
        for out in merge_streams(self.outputs):
            if isinstance(out, Stream):
                text = clean_terminal_text(out.text).strip("\n")
                if text:
                    cleaned.append(Stream(out.name, text))
            else:
                cleaned.append(out)
        return CellResult(tuple(cleaned), seconds,
                          datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _as_text(value: Any) -> str:
    """MIME values are strings, except JSON types which Jupyter sends as objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(value)
    return json.dumps(value)

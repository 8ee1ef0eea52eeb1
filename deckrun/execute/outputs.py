"""What running a cell produced: the currency between execution, cache and formatting,
and the table of output kinds (MIME type -> template, file extension).

Everything here is plain data that round-trips through JSON (binary MIME data stays
base64, as Jupyter sends it), so a result can be cached and formatted later.
"""
from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
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
    notes: tuple[str, ...] = ()  # what capturing changed (output cut, figure scaled down)
    timed_out: bool = False      # stopped at its time-out (never cached: it may pass next time)
    look: str = ""               # the figure look its figures were drawn with (see drew)

    @property
    def error(self) -> Error | None:
        return next((o for o in self.outputs if isinstance(o, Error)), None)

    @property
    def drew(self) -> bool:
        """Did it draw a figure (whose look is then part of what it shows)?"""
        return any(isinstance(o, Rich) and FILE_KINDS.keys() & o.data.keys() for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "computed": self.computed, "notes": list(self.notes),
                "outputs": [{"type": type(o).__name__.lower(), **asdict(o)} for o in self.outputs],
                **({"look": self.look} if self.look else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CellResult":
        kinds = {"stream": Stream, "rich": Rich, "error": Error}
        outputs = []
        for item in data["outputs"]:
            fields = dict(item)
            outputs.append(kinds[fields.pop("type")](**fields))
        return cls(tuple(outputs), float(data.get("seconds", 0.0)), str(data.get("computed", "")),
                   tuple(data.get("notes", ())), look=str(data.get("look", "")))

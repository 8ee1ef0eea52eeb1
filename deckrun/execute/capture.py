"""Kernel messages -> a cell's outputs, made safe to put on a slide and in the cache:
terminal noise cleaned (colours, progress bars), output kept within limits (a cell that
prints 50 MB gets its first lines and a visible marker), huge figures scaled down or
left out, and the values of secret environment variables masked."""
from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .outputs import FILE_KINDS, CellResult, Error, Output, Rich, Stream

MASK = "****"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY", re.IGNORECASE)
_NOT_SECRET_VALUES = {"", "0", "1", "true", "false", "yes", "no", "on", "off", "none"}


@dataclass(frozen=True)
class OutputLimits:
    """How much of a cell's output is kept (course.yaml or front matter `execute:`)."""
    lines: int = 2000             # of text, all streams together
    megabytes: float = 2.0        # of text, and of any one rich output
    figure_side: int = 4000       # pixels: a larger figure is scaled down
    figure_megapixels: float = 50.0  # a larger one is left out

    @property
    def bytes(self) -> int:
        return int(self.megabytes * 1024 * 1024)


def secret_values(env: dict[str, str], named: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The values to mask: of variables whose name says TOKEN, SECRET, PASSWORD or KEY,
    and of those a course lists under `execute: secrets:`."""
    values = {value for name, value in env.items()
              if (SECRET_NAME.search(name) or name in named) and value.strip().lower() not in _NOT_SECRET_VALUES
              and len(value.strip()) >= 4}
    return tuple(sorted(values, key=len, reverse=True))


@dataclass
class OutputCollector:
    """Builds a cell's outputs from kernel messages as they arrive."""
    limits: OutputLimits = field(default_factory=OutputLimits)
    secrets: tuple[str, ...] = ()
    outputs: list[Output] = field(default_factory=list)
    _kept_bytes: int = 0
    _dropped: dict[str, int] = field(default_factory=lambda: {"lines": 0, "bytes": 0})
    _notes: list[str] = field(default_factory=list)
    _timed_out: bool = False

    def stream(self, name: str, text: str) -> None:
        room = self.limits.bytes - self._kept_bytes
        if len(text) > room:  # past the limit: keep whole lines, count what is dropped
            cut = text.rfind("\n", 0, max(room, 0)) + 1
            if cut == 0 and self._kept_bytes == 0:  # one enormous line: keep its start
                cut = room
            self._dropped["lines"] += text.count("\n", cut)
            self._dropped["bytes"] += len(text) - cut
            text = text[:cut]
        if text:
            self._kept_bytes += len(text)
            self.outputs.append(Stream(name, text))

    def rich(self, data: dict[str, Any], is_result: bool) -> None:
        bundle = {k: _as_text(v) for k, v in data.items()}
        for mime in list(bundle):
            if mime in FILE_KINDS and FILE_KINDS[mime].binary:
                figure = self._figure(mime, bundle[mime])
                if figure is None:
                    del bundle[mime]
                else:
                    bundle[mime] = figure
            elif len(bundle[mime]) > self.limits.bytes:
                self._notes.append(f"a {mime} output of {len(bundle[mime]) / 2**20:.1f} MB was left out "
                                   f"(the limit is {self.limits.megabytes:g} MB: execute: max-output-mb)")
                del bundle[mime]
        if not any(m.startswith(("text/", "image/")) for m in bundle):
            bundle["text/plain"] = "(output left out: too large, see the build's warnings)"
        self.outputs.append(Rich(bundle, is_result))

    def _figure(self, mime: str, content: str) -> str | None:
        """The figure, scaled down if a side is over the limit; None if it is too big."""
        raw = base64.b64decode(content)
        size = image_size(raw)
        if size is None:
            return content  # not a PNG or JPEG we can read: kept as it is
        width, height = size
        if width * height / 1e6 > self.limits.figure_megapixels:
            self._notes.append(f"a figure of {width} x {height} px ({width * height / 1e6:.0f} MP) was "
                               f"left out: over {self.limits.figure_megapixels:g} MP; make it smaller (figsize, dpi)")
            return None
        if max(width, height) <= self.limits.figure_side:
            return content
        from PIL import Image

        with Image.open(io.BytesIO(raw)) as image:
            image.thumbnail((self.limits.figure_side, self.limits.figure_side))
            out = io.BytesIO()
            image.save(out, format=image.format or "PNG")
            self._notes.append(f"a figure of {width} x {height} px was scaled down to "
                               f"{image.size[0]} x {image.size[1]} px")
        return base64.b64encode(out.getvalue()).decode()

    def error(self, error: Error) -> None:
        self.outputs.append(error)

    def shown(self, text: str) -> str:
        """A chunk of printed text as it may be shown while the cell still runs: secrets
        masked, colours gone (progress bars keep their carriage returns)."""
        return self._mask(strip_ansi(text))

    def timed_out(self, seconds: float) -> None:
        """The cell was stopped: an error on its slide (with `error: true`), never cached."""
        self._timed_out = True
        self.error(Error("TimeoutError", f"the cell ran longer than {seconds:g} s "
                                         "(raise it with the 'timeout' option)", ""))

    def clear(self) -> None:
        self.outputs.clear()
        self._kept_bytes = 0

    def result(self, seconds: float) -> CellResult:
        cleaned: list[Output] = []
        lines_left = self.limits.lines
        hidden = self._dropped["lines"]
        for out in merge_streams(self.outputs):
            if isinstance(out, Stream):
                lines = self._mask(clean_terminal_text(out.text).strip("\n")).split("\n")
                if lines_left <= 0:
                    hidden += len(lines)
                    continue
                hidden += max(len(lines) - lines_left, 0)
                text = "\n".join(lines[:lines_left])
                lines_left -= len(lines)
                if text:
                    cleaned.append(Stream(out.name, text))
            elif isinstance(out, Error):
                cleaned.append(Error(out.ename, self._mask(out.evalue), self._mask(out.traceback), out.line))
            else:
                cleaned.append(Rich({k: v if FILE_KINDS.get(k, None) and FILE_KINDS[k].binary else self._mask(v)
                                     for k, v in out.data.items()}, out.is_result))
        notes = list(self._notes)
        if hidden or self._dropped["bytes"]:
            marker = (f"... ({hidden} more line{'s' if hidden != 1 else ''} not kept: the limit is "
                      f"{self.limits.lines} lines and {self.limits.megabytes:g} MB of output a cell)")
            streams = [(i, o) for i, o in enumerate(cleaned) if isinstance(o, Stream)]
            if not streams:
                cleaned.append(Stream("stdout", marker))
            else:
                last, stream = streams[-1]
                cleaned[last] = Stream(stream.name, stream.text + "\n" + marker)
            notes.append(f"output cut to {self.limits.lines} lines / {self.limits.megabytes:g} MB "
                         f"({hidden} lines not kept)")
        return CellResult(tuple(cleaned), seconds, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          tuple(notes), self._timed_out)

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def image_size(raw: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, from its header (nothing is decoded)."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) >= 24:
        return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    if raw.startswith(b"\xff\xd8"):
        at = 2
        while at + 9 < len(raw):
            if raw[at] != 0xFF:
                return None
            marker, length = raw[at + 1], int.from_bytes(raw[at + 2:at + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(raw[at + 7:at + 9], "big"), int.from_bytes(raw[at + 5:at + 7], "big")
            at += 2 + length
    return None


def _as_text(value: Any) -> str:
    """MIME values are strings, except JSON types which Jupyter sends as objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(value)
    return json.dumps(value)


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

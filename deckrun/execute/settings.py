"""How a deck's cells run: `execute:` of course.yaml and the front matter, checked
(DeckSettings), where (here, an installed kernel, a gateway) and what the kernel is given
(KernelSettings)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import DeckError, Location
from ..core.options import BuildOptions
from ..core.project import COURSE_FILE, Project
from ..source.deck import Deck
from .capture import OutputLimits

URL_ENV = "JUPYTER_GATEWAY_URL"


@dataclass(frozen=True)
class Gateway:
    url: str
    kernel_name: str = "python3"


def choose_gateway(setting: Any, kernel_name: Any, option: str | None, where: Location) -> Gateway | None:
    """Where a deck's cells run: `--gateway URL`, else `execute: gateway:` (front matter
    over course.yaml), else $JUPYTER_GATEWAY_URL; none of them: here. `--gateway local`
    runs here whatever the files say."""
    url = option or setting or os.environ.get(URL_ENV) or None
    if url in (None, "local"):
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise DeckError(f"'execute: gateway:' must be an http:// or https:// URL, not {url!r}", where)
    if not isinstance(kernel_name or "", str):
        raise DeckError(f"'execute: kernel:' must be a kernel name such as python3, not {kernel_name!r}", where)
    return Gateway(url.rstrip("/"), kernel_name or "python3")


@dataclass(frozen=True)
class DeckSettings:
    """How a deck's cells run: `execute:` of course.yaml and the front matter, checked."""
    seed: int = 0
    env: dict[str, str] = field(default_factory=dict)  # the kernel's environment variables
    limits: OutputLimits = field(default_factory=OutputLimits)
    secrets: tuple[str, ...] = ()   # more variables whose values are masked in outputs
    gateway: Gateway | None = None  # where the kernel runs (None: here)
    freeze: bool = False            # take recorded outputs whose versions differ (GPU-only decks)
    kernel: str | None = None       # the installed kernelspec it runs in here (None: deckrun's own Python)

    @property
    def own_python(self) -> bool:
        """Do its cells run in deckrun's own interpreter (asked about in this process)?"""
        return self.gateway is None and self.kernel is None

    def for_keys(self) -> dict[str, Any]:
        """What of them changes what cells produce (where they run does not)."""
        return {"seed": self.seed, "env": self.env, "limits": self.limits, "secrets": self.secrets}


# Quiet, reproducible defaults for the kernel; a course or deck can add to them.
KERNEL_ENV = {
    "PYTHONHASHSEED": "0",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}


@dataclass(frozen=True)
class KernelSettings:
    cwd: Path
    snippets_dir: Path
    seed: int = 0
    env: dict[str, str] = field(default_factory=dict)
    limits: OutputLimits = field(default_factory=OutputLimits)
    secrets: tuple[str, ...] = ()  # more variables whose values are masked in outputs
    startup_timeout: float = 60.0
    gateway: Gateway | None = None  # where the kernel runs; None: on this machine
    kernel: str | None = None       # an installed Jupyter kernelspec (here); None: deckrun's own Python

    def kernel_env(self) -> dict[str, str]:
        return {**os.environ, **KERNEL_ENV, **self.env}


def kernel_settings(project: Project, settings: DeckSettings) -> KernelSettings:
    return KernelSettings(project.root, project.snippets_dir, settings.seed, settings.env, settings.limits,
                          settings.secrets, gateway=settings.gateway, kernel=settings.kernel)


def execute_settings(project: Project, deck: Deck, options: BuildOptions) -> DeckSettings:
    """`execute:` from course.yaml, overridden by the deck's front matter: the seed, the
    kernel's environment, output limits, the names of secret variables, the gateway and
    whether recorded outputs are taken whatever computed them (`freeze`)."""
    merged: dict[str, Any] = {}
    env: dict[str, str] = {}
    for source, where in ((project.course.get("execute") or {}, Location(project.root / COURSE_FILE)),
                          (deck.front_matter.get("execute") or {}, Location(deck.path))):
        if not isinstance(source, dict):
            raise DeckError("'execute:' must be a mapping (seed, env, secrets, max-output-lines...)", where)
        unknown = set(source) - set(_EXECUTE_KEYS)
        if unknown:
            raise DeckError(f"unknown 'execute:' setting '{sorted(unknown)[0]}' "
                            f"(known: {', '.join(_EXECUTE_KEYS)})", where)
        if not isinstance(source.get("freeze", False), bool):
            raise DeckError(f"'execute: freeze:' must be true or false, not {source['freeze']!r}", where)
        merged.update({k: v for k, v in source.items() if k != "env"})
        env.update({str(k): str(v) for k, v in (source.get("env") or {}).items()})
    limits = OutputLimits(lines=_positive(merged, "max-output-lines", OutputLimits.lines, deck),
                          megabytes=_positive(merged, "max-output-mb", OutputLimits.megabytes, deck))
    secrets = merged.get("secrets") or []
    if not isinstance(secrets, list) or not all(isinstance(name, str) for name in secrets):
        raise DeckError("'execute: secrets:' must be a list of environment variable names", Location(deck.path))
    # Where cells run is not part of their keys (the kernel's own versions are): a remote
    # result is cached like a local one.
    kernel = merged.get("kernel")
    if kernel is not None and not isinstance(kernel, str):
        raise DeckError(f"'execute: kernel:' must be the name of a Jupyter kernel (jupyter kernelspec list), "
                        f"not {kernel!r}", Location(deck.path))
    gateway = choose_gateway(merged.get("gateway"), kernel, options.gateway, Location(deck.path))
    return DeckSettings(int(merged.get("seed", 0)), env, limits, tuple(secrets), gateway,
                        bool(merged.get("freeze", False)), kernel if gateway is None else None)


_EXECUTE_KEYS = ("seed", "env", "secrets", "max-output-lines", "max-output-mb", "gateway", "kernel", "freeze")


def _positive(settings: dict[str, Any], name: str, default: float, deck: Deck) -> Any:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DeckError(f"'execute: {name}:' must be a positive number, not {value!r}", Location(deck.path))
    return value

"""The Python environment a deck's kernel runs in: its Python version and the installed
distributions (and versions) that provide the modules cells import. Cache keys are made
from it, so a result is judged by the packages that really run the code: a local
kernel's (deckrun starts it with its own interpreter), or a remote kernel's, asked on
the gateway (the same probe, run there). Also the course's lock file, for `status`.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

LOCK_FILE = "requirements.lock"
# Backends transformers runs on: a cell importing one depends on the other's version.
COMPANIONS = {"transformers": ("torch",), "torch": ("transformers",)}


def describe_environment(modules: "list[str]",
                         every: "Callable[[], dict[str, list[str]]] | None" = None) -> "dict[str, Any]":
    """Python's version, and for each module the installed distributions that provide it
    with their versions ({} for the standard library and modules no distribution has).
    `every` gives the module -> distributions map (slow to make: made once, when needed).
    Self-contained (its annotations are strings): a remote kernel runs its source."""
    import importlib.metadata as metadata
    import platform
    import sys

    mapping = None
    found: "dict[str, dict[str, str]]" = {}
    for module in modules:
        if module in sys.stdlib_module_names:
            found[module] = {}
            continue
        try:  # most distributions are named like their module: a direct look-up is cheap
            names = [metadata.distribution(module).metadata["Name"]]
        except metadata.PackageNotFoundError:
            mapping = mapping if mapping is not None else (every or metadata.packages_distributions)()
            names = mapping.get(module, [])
        found[module] = {name.lower().replace("_", "-").replace(".", "-"): metadata.version(name)
                         for name in names}
    return {"python": platform.python_version(), "modules": found}


PROBE_SOURCE = inspect.getsource(describe_environment)


@dataclass(frozen=True)
class Environment:
    """What a kernel has: Python's version and the distributions behind the modules asked
    about (module -> {distribution: version})."""
    python: str
    modules: dict[str, dict[str, str]] = field(default_factory=dict)

    def packages(self, modules: set[str]) -> dict[str, str]:
        """The versions of the distributions the modules come from, and of their companions."""
        found: dict[str, str] = {}
        for module in sorted(modules):
            for distribution, version in self.modules.get(module, {}).items():
                found[distribution] = version
                for companion in COMPANIONS.get(distribution, ()):
                    found.update(self.modules.get(companion, {}))
        return dict(sorted(found.items()))


def wanted_modules(modules: set[str]) -> list[str]:
    """The modules to ask about for `modules`: theirs and their companions'."""
    return sorted(modules | {c for m in modules for c in COMPANIONS.get(m, ())})


# Asks a kernel about modules: the local one in this process, a remote one through it.
Probe = Callable[[list[str]], dict[str, Any]]


@lru_cache(maxsize=1)
def _every_distribution() -> dict[str, list[str]]:
    import importlib.metadata

    return dict(importlib.metadata.packages_distributions())  # scans every installed file list


@lru_cache(maxsize=None)
def _local(module: str) -> tuple[tuple[str, str], ...]:
    return tuple(describe_environment([module], _every_distribution)["modules"][module].items())


def local_probe(modules: list[str]) -> dict[str, Any]:
    """The local kernel's environment is this process's own (see connection.py): asked here,
    once a module."""
    import platform

    return {"python": platform.python_version(), "modules": {m: dict(_local(m)) for m in modules}}


def environment(probe: Probe, modules: set[str]) -> Environment:
    answer = probe(wanted_modules(modules))
    return Environment(str(answer["python"]), {m: dict(d) for m, d in answer["modules"].items()})


# ---------------------------------------------------------------- the lock file

_LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_versions(root: Path) -> dict[str, str]:
    """The versions the course's lock file (requirements.lock, hashed, for every
    platform) gives this machine: {distribution: version}; {} without a lock."""
    from packaging.markers import Marker

    try:
        text = (root / LOCK_FILE).read_text(encoding="utf-8")
    except OSError:
        return {}
    locked = {}
    for line in text.splitlines():
        found = _LOCKED.match(line.strip())
        if found and (found.group(3) is None or Marker(found.group(3)).evaluate()):
            locked[_canonical(found.group(1))] = found.group(2)
    return locked


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")

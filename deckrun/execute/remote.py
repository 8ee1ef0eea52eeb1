"""Cells run on a remote Jupyter kernel: one served over HTTP + WebSocket by Jupyter
Kernel Gateway or Enterprise Gateway (a GPU server, a department's cluster).

Jupyter Server's gateway client speaks the protocol (the optional extra
`deckrun[gateway]`); on top of it this module adds what a build needs: the token on the
WebSocket too (the client sends it on HTTP only), liveness asked of the gateway,
messages read without busy-waiting, the course's files sent to the kernel through the
kernel itself (any gateway works), and errors that say what went wrong.

The remote kernel does not share the lecturer's disk: before the first cell it gets a
fresh working folder holding `snippets/`, `data/` and the files cells declare as
inputs, sent again when they change. Outputs come back as from a local kernel, and are
cached under the same keys (the key says nothing about where a cell ran).
"""
from __future__ import annotations

import base64
import io
import json
import os
import queue
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .capture import secret_values
from ..core.errors import DeckError, Location, ToolError
from .kernel import KERNEL_ENV, Kernel, KernelDied, KernelSettings

URL_ENV, TOKEN_ENV = "JUPYTER_GATEWAY_URL", "JUPYTER_GATEWAY_AUTH_TOKEN"
UPLOAD_LIMIT_MB = 100     # the course's files sent to a remote kernel, at most
CONNECT_TIMEOUT = 10.0    # seconds to reach the gateway
_CHUNK = 4 * 2**20        # bytes of the archive sent per message
_SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".git"}


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


class RemoteKernel(Kernel):
    """A deck's kernel on a Jupyter gateway: the same cells, outputs and errors as a local
    one; started, watched and shut down over the gateway's REST API."""

    def __init__(self, settings: KernelSettings, keep_values: bool = False) -> None:
        super().__init__(settings, keep_values)
        self._files_sent = ""  # a digest of the files the kernel's folder holds
        self._files: tuple[Path, list[Path]] | None = None  # what send_files was last given

    def start(self) -> None:
        gateway = self.settings.gateway
        assert gateway is not None
        from jupyter_core.utils import run_sync

        manager_class = _manager_class()
        _configure(gateway)
        env = self.settings.kernel_env()
        self._secrets = secret_values(env, self.settings.secrets)
        self.manager = manager_class()
        try:
            # Only KERNEL_* variables (and those the gateway allows) reach a remote kernel's
            # environment; the setup cell sets the rest.
            run_sync(self.manager.start_kernel)(kernel_name=gateway.kernel_name, env={})
            self.client = self.manager.client()
            run_sync(self.client.start_channels)()
            run_sync(self.client.wait_for_ready)(timeout=self.settings.startup_timeout)
        except Exception as exc:  # noqa: BLE001 (tornado, websocket and OS errors alike)
            raise _explain(exc, gateway) from None
        self._set_up()

    def _setup_code(self) -> str:
        env = {**KERNEL_ENV, **self.settings.env}
        return _SETUP_REMOTE.format(env=json.dumps(env)) + super()._setup_code().replace(
            repr(str(self.settings.snippets_dir)), "__import__('os').path.abspath('snippets')")

    def _set_up(self) -> None:
        super()._set_up()  # a fresh working folder (after a restart too): the files again
        self._files_sent = ""
        if self._files is not None:
            self.send_files(*self._files)

    def send_files(self, root: Path, files: list[Path]) -> None:
        """The files cells read, into the kernel's working folder (again when changed)."""
        self._files = (root, files)
        members = _members(root, files)
        digest = json.dumps([(name, file.stat().st_size, file.stat().st_mtime_ns) for name, file in members])
        if digest == self._files_sent:
            return
        archive = _archive(members)
        if len(archive) > UPLOAD_LIMIT_MB * 2**20:
            raise DeckError(f"the files to send to the remote kernel (snippets/, data/ and declared inputs) "
                            f"come to {len(archive) / 2**20:.0f} MB, above the {UPLOAD_LIMIT_MB} MB limit",
                            detail="Keep large data on the remote machine and read it from there, "
                                   "or make data/ smaller.")
        code = ["__deckrun_archive = bytearray()"]
        code += [f"__deckrun_archive += __import__('base64').b64decode({base64.b64encode(archive[at:at + _CHUNK]).decode()!r})"
                 for at in range(0, len(archive), _CHUNK)]
        code.append(_UNPACK)
        for part in code:
            result = self._execute(part, timeout=self.settings.startup_timeout, store_history=False)
            if result.error:
                raise ToolError(f"could not send the course's files to the remote kernel: {result.error.evalue}")
        self._files_sent = digest

    def _next_message(self, timeout: float) -> dict:
        """The next iopub message; the gateway's own word that the kernel restarted, died
        or was shut down (culled for being idle) is the kernel's death."""
        assert self.client is not None
        channel = self.client.iopub_channel
        try:
            msg = channel.get(timeout=timeout)  # (its async get_msg busy-waits)
        except queue.Empty:
            if channel.response_router_finished:
                raise KernelDied("the connection to the gateway closed while a cell ran "
                                 f"({self.settings.gateway.url}: the gateway stopped or the network failed)",
                                 detail="The deck's later cells did not run.") from None
            raise
        state = msg["content"].get("execution_state") if msg["msg_type"] == "status" else None
        if state in ("restarting", "dead"):
            raise KernelDied(f"the remote kernel died while running this cell (the gateway reports it {state})",
                             detail="The deck's later cells did not run; the next build starts a fresh kernel.")
        if msg["msg_type"] == "shutdown_reply" and msg["parent_header"].get("session") != self.client.session.session:
            raise KernelDied("the gateway shut the remote kernel down (culled for being idle?)",
                             detail="The next build starts a fresh kernel.")
        return msg

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        try:
            return self.manager is not None and bool(run_sync(self.manager.is_alive)())
        except Exception:  # noqa: BLE001 (the gateway is gone: so is the kernel)
            return False

    def _death(self) -> str:
        return f"the gateway at {self.settings.gateway.url} no longer has it"

    def _interrupt_kernel(self) -> None:
        from jupyter_core.utils import run_sync

        run_sync(self.manager.interrupt_kernel)()

    def _restart_kernel(self) -> None:
        from jupyter_core.utils import run_sync

        run_sync(self.manager.restart_kernel)(now=True)
        run_sync(self.client.wait_for_ready)(timeout=self.settings.startup_timeout)

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            if self.client is not None:
                self.client.stop_channels()
            if self.manager is not None and self.manager.has_kernel:
                run_sync(self.manager.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 (a gateway that is gone has nothing left to stop)
            pass
        self.client = self.manager = None


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


def _configure(gateway: Gateway) -> None:
    """Jupyter Server's gateway client is one configured instance per process."""
    from jupyter_server.gateway.gateway_client import GatewayClient

    client = GatewayClient.instance()
    client.url = gateway.url
    client.ws_url = "ws" + gateway.url[len("http"):]
    client.auth_token = os.environ.get(TOKEN_ENV) or None
    client.connect_timeout = CONNECT_TIMEOUT
    client._connection_args = {}  # (built once from the settings above, then kept)


def _explain(exc: BaseException, gateway: Gateway) -> ToolError:
    """A gateway failure in the lecturer's words."""
    status = getattr(exc, "status_code", None)
    text = str(getattr(exc, "log_message", "") or exc)
    if status in (401, 403) or "Unauthorized" in text or "Forbidden" in text:
        hint = "set it in $" + TOKEN_ENV if not os.environ.get(TOKEN_ENV) else "check $" + TOKEN_ENV
        return ToolError(f"the Jupyter gateway at {gateway.url} refused the token ({hint})")
    if status == 404:
        return ToolError(f"no Jupyter gateway answers at {gateway.url} (404: is the URL right?)")
    if status in (503, 599) or isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return ToolError(f"cannot reach the Jupyter gateway at {gateway.url}: {_reason(text)}")
    return ToolError(f"the Jupyter gateway at {gateway.url} could not start a '{gateway.kernel_name}' "
                     f"kernel: {_reason(text)}")


def _reason(text: str) -> str:
    return " ".join(text.split())[:300] or "no answer"


def _manager_class() -> type:
    """GatewayKernelManager with two fixes: its client sends the token on the WebSocket
    (else a gateway with a token answers 401), and `is_alive` asks the gateway (upstream
    it looks for a local process, and wait_for_ready fails on a slow kernel)."""
    global _MANAGER
    if _MANAGER is not None:
        return _MANAGER
    try:
        import websocket
        from jupyter_client.asynchronous.client import AsyncKernelClient
        from jupyter_core.utils import ensure_async
        from jupyter_server.gateway.gateway_client import GatewayClient
        from jupyter_server.gateway.managers import GatewayKernelClient, GatewayKernelManager
        from jupyter_server.utils import url_path_join
        from tornado.escape import url_escape
        from traitlets import Type
    except ImportError as exc:
        raise ToolError("running cells on a Jupyter gateway needs Jupyter Server's gateway client: "
                        f"pip install 'deckrun[gateway]' ({exc})") from None
    from threading import Thread

    class TokenGatewayKernelClient(GatewayKernelClient):
        async def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
            client = GatewayClient.instance()
            url = url_path_join(client.ws_url or "", client.kernels_endpoint, url_escape(self.kernel_id), "channels")
            self.channel_socket = websocket.create_connection(
                url, timeout=client.KERNEL_LAUNCH_TIMEOUT, enable_multithread=True,
                header=client.load_connection_args().get("headers", {}),
                sslopt={"ca_certs": client.ca_certs, "certfile": client.client_cert, "keyfile": client.client_key})
            await ensure_async(AsyncKernelClient.start_channels(
                self, shell=shell, iopub=iopub, stdin=stdin, hb=hb, control=control))
            self.response_router = Thread(target=self._route_responses, daemon=True)
            self.response_router.start()

    class RemoteKernelManager(GatewayKernelManager):
        client_factory = Type(TokenGatewayKernelClient, klass=GatewayKernelClient)

        async def _async_is_alive(self) -> bool:
            return self.has_kernel and await self.refresh_model() is not None  # 404: gone

    _MANAGER = RemoteKernelManager
    return _MANAGER


_MANAGER: type | None = None

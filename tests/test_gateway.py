"""Cells run on a real Jupyter Kernel Gateway on 127.0.0.1, with a token, working in an
unrelated folder: the course's files must be sent, outputs and cache are as local."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from helpers.browser import Browser
from helpers.course import REPO, has_kernel_child, install_courselib, only_deck, run_build
from helpers.live import READY, cell_of, run_live, wait_output
from helpers.serving import Watching

LIVE = """# Live on a gateway

```python run
base = 40
```

---

## Using it

```python run
print("answer", base + 2)
```

---

## Later

```python run
base = 0
```
"""

pytestmark = pytest.mark.slow  # builds through the real kernel, Marp CLI and Chromium

TOKEN = "test-token-3f9a"

REMOTE = """---
marp: true
---

# Remote

```python run
import os, helpers
print(helpers.shout("from the gateway"))
print("parent", os.getppid())
print("in course folder:", os.getcwd() == {root!r})
```

```python run
#| inputs: data/numbers.csv
rows = open("data/numbers.csv").read().split()[1:]
print("total", sum(int(r) for r in rows))
```

```python run
#| fig-alt: "A line."
import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
plt.show()
```
"""

DIES = """# Dies

```python run
import os
os._exit(3)
```
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(home: Path, **env: str) -> tuple[str, subprocess.Popen]:
    """`jupyter kernelgateway` with a token, in a folder of its own (and `env` for its
    kernels): its URL and process."""
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), **env,
           "KG_ENV_PROCESS_WHITELIST": ",".join(env)}  # (its kernels get PATH and only these)
    proc = subprocess.Popen([sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
                             f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={TOKEN}",
                             "--JupyterWebsocketPersonality.list_kernels=True"],
                            cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            kernels(url)
            return url, proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("the kernel gateway did not start")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    url, proc = start_gateway(tmp_path_factory.mktemp("gateway-home"))
    yield url, proc
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(autouse=True)
def no_kernel_left(gateway):
    """Every test leaves the shared gateway with the kernels it found (a kernel shut down
    goes from the gateway's list soon after)."""
    url, _ = gateway
    before = {kernel["id"] for kernel in kernels(url)}
    yield
    deadline = time.monotonic() + 15
    while (left := {kernel["id"] for kernel in kernels(url)} - before) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not left, "a kernel was left running on the gateway"


def kernels(url: str) -> list[dict]:
    request = urllib.request.Request(url + "/api/kernels", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def remote_env(token: str = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_GATEWAY_URL"}
    return {**env, "JUPYTER_GATEWAY_AUTH_TOKEN": token}


@pytest.fixture
def remote_course(course: Path) -> Path:
    only_deck(course, "remote.md", REMOTE.format(root=str(course)))
    return course


def test_a_deck_runs_in_the_gateways_kernel(gateway, remote_course):
    url, proc = gateway
    built = run_build(remote_course, "--html", "--gateway", url, env=remote_env())
    assert built.returncode == 0, built.stdout + built.stderr
    markdown = (remote_course / "build" / "remote.md").read_text()
    assert "FROM THE GATEWAY!" in markdown          # a snippet module, sent with snippets/
    assert "total 12" in markdown                   # a declared data file, sent with data/
    assert "in course folder: False" in markdown    # it ran elsewhere, in a folder of its own
    parent = int(markdown.split("parent ")[1].split()[0])
    assert parent == proc.pid                       # in a process the gateway started
    assert list((remote_course / "build" / "remote_files").glob("*.png"))  # the figure came back
    # (and the kernel was shut down after: no_kernel_left)
    # The same keys as a local run: the cache serves a build that may not run code.
    local = run_build(remote_course, "--html", "--frozen", "--gateway", "local")
    assert local.returncode == 0, local.stdout + local.stderr


VERSIONED = """# Which courselib?

```python run
import courselib
print("courselib", courselib.__version__)
```
"""


def test_a_remote_kernel_is_judged_by_its_own_packages(remote_course, tmp_path):

    install_courselib(tmp_path / "remote-packages", "3.0")  # what the gateway's kernels have
    install_courselib(tmp_path / "local-packages", "1.0")   # and this machine
    (tmp_path / "home").mkdir()
    url, proc = start_gateway(tmp_path / "home", PYTHONPATH=str(tmp_path / "remote-packages"))
    try:
        (remote_course / "slides" / "remote.md").write_text(VERSIONED)
        env = {**remote_env(), "PYTHONPATH": str(tmp_path / "local-packages")}
        built = run_build(remote_course, "--html", "--gateway", url, env=env)
        assert built.returncode == 0, built.stdout + built.stderr
        assert "courselib 3.0" in (remote_course / "build" / "remote.md").read_text()
        manifest = json.loads((remote_course / "_freeze" / "decks" / "remote.json").read_text())
        assert manifest["cells"][0]["packages"] == {"courselib": "3.0"}
        status = run_build(remote_course, "status", "--gateway", url, env=env)
        assert "1 cached, 0 stale" in status.stdout, status.stdout + status.stderr
        here = run_build(remote_course, "status", "--gateway", "local", env=env)
        assert "package version changed: courselib 3.0 -> 1.0" in here.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # The gateway is gone: --frozen takes what it computed without asking it.
    frozen = run_build(remote_course, "--html", "--frozen", "--gateway", url, env=env)
    assert frozen.returncode == 0, frozen.stdout + frozen.stderr
    assert ("1 cell taken from the cache as computed with courselib 3.0 (the remote kernel was not asked; "
            "--frozen)") in frozen.stderr


STUBBORN = """# Stubborn

```python run
#| timeout: 2
#| error: true
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the interrupt is not heard: restarted
time.sleep(60)
```

```python run
import helpers
print(helpers.shout("after the restart"))
```
"""


def test_a_remote_cell_that_ignores_its_interrupt_gets_a_restarted_kernel_with_the_files(gateway, remote_course):
    url, _ = gateway
    (remote_course / "slides" / "remote.md").write_text(STUBBORN)
    built = run_build(remote_course, "--html", "--gateway", url, env=remote_env())
    assert built.returncode == 0, built.stdout + built.stderr
    markdown = (remote_course / "build" / "remote.md").read_text()
    assert "the cell ran longer than 2 s" in markdown
    assert "AFTER THE RESTART!" in markdown  # snippets/ was sent to the new kernel


WARM = """# Warm

```python run
import helpers
loads = globals().get("loads", 0) + 1
```

```python run
print(helpers.shout("count"), loads)
```
"""


def test_watch_keeps_a_warm_remote_kernel_and_reruns_an_edited_cell_in_it(gateway, remote_course):
    url, _ = gateway
    (remote_course / "slides" / "remote.md").write_text(WARM)
    before = {kernel["id"] for kernel in kernels(url)}
    watching = Watching(remote_course, "--gateway", url, env=remote_env())
    try:
        assert "COUNT! 1" in (remote_course / "build" / "remote.md").read_text()
        [warm] = [kernel for kernel in kernels(url) if kernel["id"] not in before]
        watching.edit("slides/remote.md", 'shout("count")', 'shout("count again")')
        watching.expect("reload", until=lambda data: "remote" in data["decks"])
        watching.settle()
        # The same remote kernel ran only the edited cell: the first one was not replayed.
        assert "COUNT AGAIN! 1" in (remote_course / "build" / "remote.md").read_text()
        assert {k["id"] for k in kernels(url)} - before == {warm["id"]}
    finally:
        watching.proc.send_signal(signal.SIGINT)
        assert watching.proc.wait(timeout=60) == 0
    # (and shut down when the watcher stopped: no_kernel_left)


def test_a_changed_data_file_is_sent_again_and_jobs_run_remotely(gateway, remote_course):
    url, _ = gateway
    (remote_course / "slides" / "dies.md").write_text(DIES)
    shutil.copy(remote_course / "slides" / "remote.md", remote_course / "slides" / "again.md")
    (remote_course / "data" / "numbers.csv").write_text("n\n1\n2\n")
    built = run_build(remote_course, "--html", "--jobs", "3", "--gateway", url, env=remote_env())
    assert built.returncode == 1
    assert "total 3" in (remote_course / "build" / "again.md").read_text()
    assert "total 3" in (remote_course / "build" / "remote.md").read_text()
    assert "slides/dies.md" in built.stderr and "remote kernel died" in built.stderr, built.stderr


def test_a_wrong_token_is_named(gateway, remote_course):
    url, _ = gateway
    started = time.monotonic()
    built = run_build(remote_course, "--html", "--gateway", url, env=remote_env("not-the-token"))
    assert built.returncode == 1
    assert time.monotonic() - started < 30
    assert f"the Jupyter gateway at {url} refused the token" in built.stderr, built.stderr


def test_an_unreachable_gateway_is_named(remote_course):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    built = run_build(remote_course, "--html", env={**remote_env(), "JUPYTER_GATEWAY_URL": url})
    assert built.returncode == 1
    assert time.monotonic() - started < 30
    assert f"cannot reach the Jupyter gateway at {url}" in built.stderr, built.stderr
    cells = remote_course / "_freeze" / "cells"
    assert not cells.exists() or not any(cells.rglob("*.json"))


def test_a_gateway_that_stops_mid_cell_fails_the_deck(tmp_path, remote_course):
    url, proc = start_gateway(tmp_path)
    kids: list[psutil.Process] = []
    try:
        (remote_course / "slides" / "remote.md").write_text(
            "# Slow\n\n```python run\nimport time\ntime.sleep(60)\n```\n")
        build = subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(remote_course), "--html",
                                  "--gateway", url], cwd=remote_course, env=remote_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not kernels(url):
            time.sleep(0.2)
        time.sleep(3)  # the cell is running
        kids = psutil.Process(proc.pid).children(recursive=True)
        started = time.monotonic()
        proc.kill()
        _, err = build.communicate(timeout=60)
        assert build.returncode == 1
        assert time.monotonic() - started < 30
        assert "slides/remote.md" in err and "gateway" in err, err
    finally:
        proc.kill()
        for kid in kids:  # the gateway's kernels may already have gone with it
            with contextlib.suppress(psutil.NoSuchProcess):
                kid.kill()


def test_presenting_runs_live_cells_in_the_remote_kernel(gateway, remote_course):
    url, proc = gateway
    (remote_course / "slides" / "remote.md").unlink()
    (remote_course / "slides" / "live.md").write_text(LIVE)
    uses = cell_of(LIVE.split("\n"), 'print("answer", base + 2)')
    assert run_build(remote_course, "--html", "--gateway", url, env=remote_env()).returncode == 0
    with Watching(remote_course, "--gateway", url, env=remote_env(), command="present") as presenting, \
            Browser() as browser:
        browser.open(presenting.url + "live.html#2")
        browser.wait(READY, timeout=120)
        assert has_kernel_child(proc.pid)  # the deck's kernel is the gateway's
        run_live(browser, uses, 'import os\nprint("answer", base + 1, os.getppid())')
        text = wait_output(browser, uses, "answer 41")
        assert str(proc.pid) in text  # printed by the kernel the gateway started
        # its slide's own state there too (a later slide sets base)
        run_live(browser, uses, 'print("answer", base + 2)')
        assert "answer 42" in wait_output(browser, uses, "answer 42")
    # (its kernel was shut down with the presentation: no_kernel_left)

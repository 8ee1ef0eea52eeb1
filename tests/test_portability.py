"""The package as Windows would load it: every module imports without POSIX-only modules,
and the course lock (msvcrt's locking there) keeps a second process waiting. Run here by
loading the dependencies first, then deckrun again with sys.platform "win32", fcntl gone
and an msvcrt whose locking does what Windows' does (byte-range locks, OSError when
taken). mypy checks the same code paths for win32 in CI (.ci/run)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

AS_WINDOWS = textwrap.dedent("""
    import fcntl, importlib, pkgutil, sys, types

    import deckrun
    names = [m.name for m in pkgutil.walk_packages(deckrun.__path__, "deckrun.")
             if ".starter" not in m.name]
    for name in names:  # the dependencies, loaded as this system needs
        importlib.import_module(name)
    for name in [n for n in sys.modules if n == "deckrun" or n.startswith("deckrun.")]:
        del sys.modules[name]

    msvcrt = types.ModuleType("msvcrt")
    msvcrt.LK_UNLCK, msvcrt.LK_LOCK, msvcrt.LK_NBLCK = 0, 1, 2
    def locking(fd, mode, count):
        fcntl.lockf(fd, fcntl.LOCK_UN if mode == msvcrt.LK_UNLCK else fcntl.LOCK_EX | fcntl.LOCK_NB, count)
    msvcrt.locking = locking
    sys.modules["msvcrt"] = msvcrt
    for posix_only in ("fcntl", "resource", "termios", "pwd", "grp"):
        sys.modules[posix_only] = None  # importing one now fails, as on Windows
    sys.platform = "win32"

    for name in ["deckrun", *names]:
        importlib.import_module(name)
    print(f"imported {len(names)} modules", flush=True)
""")

HOLD = AS_WINDOWS + textwrap.dedent("""
    from pathlib import Path
    from deckrun.core.files import file_lock
    with file_lock(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
""")

WAIT = AS_WINDOWS + textwrap.dedent("""
    from pathlib import Path
    from deckrun.core.files import file_lock
    with file_lock(Path(sys.argv[1]), waiting=lambda: print("waiting", flush=True)):
        print("got it", flush=True)
""")


def as_windows(script: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def test_every_module_imports_as_on_windows():
    proc = as_windows(AS_WINDOWS)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert int(out.split()[1]) > 60  # (every module, not an early stop)


def test_the_course_lock_keeps_a_second_process_waiting_on_windows(tmp_path):
    lock = tmp_path / "build" / ".lock"
    holder = as_windows(HOLD, str(lock), stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().startswith("imported")
        assert holder.stdout.readline() == "held\n"
        waiter = as_windows(WAIT, str(lock))
        assert waiter.stdout is not None
        assert waiter.stdout.readline().startswith("imported")
        assert waiter.stdout.readline() == "waiting\n"  # not "got it": the lock is held
        holder.stdin.write("\n")
        holder.stdin.flush()
        out, err = waiter.communicate(timeout=30)
        assert out == "got it\n", err
    finally:
        holder.kill()
        holder.wait()

"""Real faults for tests: a small file system that fills up, and a user who is not root.

Both need root (a tmpfs mount; a system user to switch to, since root ignores file modes). Without
root the tests skip with the reason, unless CI asks for them (CLASSPULSE_REQUIRE_ROOT=1), when
they fail instead. Mark such tests `root`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ROOT_ENV = "CLASSPULSE_REQUIRE_ROOT"
TEST_USER = "classpulse-test"


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail when CI requires these tests (CLASSPULSE_REQUIRE_ROOT=1)."""
    if os.environ.get(REQUIRE_ROOT_ENV) == "1":
        pytest.fail(f"root test required ({REQUIRE_ROOT_ENV}=1) but {reason}")
    pytest.skip(reason)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --- a small file system ---------------------------------------------------------------------


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (made if need be) for the block; unmounted after."""
    if not is_root():
        unavailable("mounting a small file system needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(folder)], capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, name: str = "filler") -> Path:
    """Fill the file system of `folder` with one file until no byte is left; the file."""
    filler = folder / name
    with open(filler, "ab", buffering=0) as out:
        for size in (1 << 16, 512, 1):  # big writes, then what is left byte by byte
            try:
                while out.write(b"\0" * size):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


# --- a user who is not root -------------------------------------------------------------------


@dataclass(frozen=True)
class OtherUser:
    """The user tests run as where file modes must count: not root."""

    name: str
    uid: int
    gid: int

    def own(self, *paths: Path) -> None:
        """Give paths to this user (as root)."""
        for path in paths:
            os.chown(path, self.uid, self.gid)


def other_user() -> OtherUser:
    """A user that is not root: `classpulse-test` (created when missing) when running as root, else
    whoever runs the tests."""
    import pwd

    if not is_root():
        me = pwd.getpwuid(os.geteuid())
        return OtherUser(me.pw_name, me.pw_uid, me.pw_gid)
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                               TEST_USER], capture_output=True, text=True)  # fmt: skip
        if made.returncode != 0 and "already exists" not in made.stderr:
            unavailable(f"cannot create the user {TEST_USER}: {made.stderr.strip()}")
        entry = pwd.getpwnam(TEST_USER)
    return OtherUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True)
class Ran:
    """What a command run as the test user did."""

    returncode: int
    stdout: str
    stderr: str
    how: str  # "runuser" (a fresh interpreter) or "fork" (this interpreter, its uid switched)


@contextlib.contextmanager
def reachable_folder() -> Iterator[Path]:
    """A new temporary folder the other user can reach (pytest's own, under root's 0700 base,
    is not); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="classpulse-faults-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _become(user: OtherUser) -> None:
    if is_root():
        os.setgroups([])
        os.setgid(user.gid)
        os.setuid(user.uid)


def _runuser_works(user: OtherUser) -> bool:
    """Whether the test user can start this interpreter (it may sit in root's private home)."""
    if not is_root():
        return True
    if shutil.which("runuser") is None:
        return False
    probe = subprocess.run(["runuser", "-u", user.name, "--", sys.executable, "-c", "import sqlalchemy"],
                           capture_output=True, text=True, cwd="/")  # fmt: skip
    return probe.returncode == 0


def run_module_as(
    user: OtherUser, module: str, args: Sequence[str], *, cwd: Path, cli: Callable[[], Any],
    stdin: str | None = None, timeout_s: float = 240,
) -> Ran:  # fmt: skip
    """`python -m module args` as the test user: a fresh interpreter through runuser when that user
    can start it, else this process forked with its uid switched, running `cli` (the module's click
    group, imported before the switch) with the same arguments and its output captured."""
    if _runuser_works(user):
        prefix = ["runuser", "-u", user.name, "--"] if is_root() else []
        env = {**os.environ, "PYTHONPATH": str(cwd)}
        done = subprocess.run([*prefix, sys.executable, "-m", module, *args], cwd=cwd, env=env,
                              input=stdin or "", capture_output=True, text=True,
                              timeout=timeout_s)  # fmt: skip
        return Ran(done.returncode, done.stdout, done.stderr, "runuser")
    group = cli()  # imported here, as root: the child may not read the interpreter's own files
    with tempfile.TemporaryDirectory() as folder:
        out, err, inp = Path(folder) / "out", Path(folder) / "err", Path(folder) / "in"
        inp.write_text(stdin or "")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                with open(out, "w") as o, open(err, "w") as e, open(inp) as i:
                    os.dup2(i.fileno(), 0)
                    os.dup2(o.fileno(), 1)
                    os.dup2(e.fileno(), 2)
                    # the child's own streams, not pytest's captures, as a fresh interpreter has
                    sys.stdin = open(0, closefd=False)  # noqa: SIM115
                    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
                    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                    logging.root.handlers.clear()
                    os.chdir(cwd)
                    _become(user)
                    try:
                        group.main(list(args), prog_name=f"python -m {module}", standalone_mode=True)
                        code = 0
                    except SystemExit as exc:
                        code = exc.code if isinstance(exc.code, int) else 1
                    except BaseException:
                        import traceback

                        traceback.print_exc()
                        code = 1
                    sys.stdout.flush()
                    sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return Ran(os.waitstatus_to_exitcode(status), out.read_text(), err.read_text(), "fork")


def call_as(user: OtherUser, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a child process running as the test user; its result, or the exception it
    raised, re-raised here as RuntimeError('<type>: <message>')."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            try:
                _become(user)
                result = ("ok", fn(*args))
            except BaseException as exc:
                result = ("error", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(result, out)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise RuntimeError(value)
    return value

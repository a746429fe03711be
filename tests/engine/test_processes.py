"""The process module against real processes: alive by pid and start time, a detached child that
outlives its parent, the graceful stop then the kill, the engine's side of the stop, and cameras.

The Windows and macOS branches cannot run here: their tests check what those branches choose
(creation flags, signals, the camera backend), not what the systems then do (docs/engine.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import cv2
import psutil
import pytest

from engine import processes
from engine.processes import ProcessRef

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, **kwargs)


def _wait(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.02)


@pytest.fixture
def sleeper():
    child = _python("import time; time.sleep(60)")
    yield child
    child.kill()
    child.wait()


# --- alive ------------------------------------------------------------------------------------


def test_a_running_process_is_alive_by_pid_and_by_its_start_time(sleeper):
    ref = processes.process_ref(sleeper.pid)
    assert ref.started_s == psutil.Process(sleeper.pid).create_time()
    assert processes.is_alive(sleeper.pid) and processes.is_alive(ref.pid, ref.started_s)
    assert processes.is_alive(ref.pid, ref.started_s - 2)  # a clock step of seconds: still that process
    assert not processes.is_alive(ref.pid, ref.started_s - 60)  # the pid now names another process
    assert processes.is_alive(*processes.this_process().__dict__.values())


def test_an_exited_process_is_dead_and_has_no_ref():
    child = _python("pass")
    child.wait()
    assert not processes.is_alive(child.pid) and processes.process_ref(child.pid) is None


def test_a_zombie_is_dead_and_our_own_is_reaped():
    child = _python("pass")
    _wait(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE)
    assert not processes.is_alive(child.pid)
    assert processes.process_ref(child.pid) is None  # reaped: no such process any more


# --- spawn ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "options"),
    [
        ("linux", {"start_new_session": True}),
        ("darwin", {"start_new_session": True}),
        ("win32", {"creationflags": 0x00000200 | 0x00000008}),  # CREATE_NEW_PROCESS_GROUP | DETACHED_PROCESS
    ],
)
def test_a_detached_child_gets_its_own_session_or_process_group_without_a_console(platform, options):
    assert processes.detach_options(platform) == options


def test_a_spawned_engine_reads_its_stdin_logs_to_its_file_and_outlives_its_parent(tmp_path):
    log = tmp_path / "child.log"
    parent = _python(f"""
        import sys
        from pathlib import Path
        from engine import processes
        child = processes.spawn_detached(
            [sys.executable, "-c", "import sys, time; print('got', input(), flush=True); time.sleep(60)"],
            log_path=Path({str(log)!r}), cwd=Path({str(tmp_path)!r}), env={{"PATH": "/usr/bin:/bin"}})
        child.stdin.write("hello\\n"); child.stdin.close()
        print(child.pid, flush=True)
    """, stdout=subprocess.PIPE, text=True)  # fmt: skip
    out, _ = parent.communicate(timeout=30)
    pid = int(out.strip())
    try:
        assert parent.returncode == 0 and processes.is_alive(pid)  # the parent is gone, the child runs on
        assert os.getsid(pid) == pid  # a session of its own: the parent's signals do not reach it
        _wait(lambda: log.read_text() == "got hello\n")
    finally:
        psutil.Process(pid).kill()
    _wait(lambda: not processes.is_alive(pid))


# --- stop -----------------------------------------------------------------------------------

ENGINE_LIKE = """
    import sys, threading
    from pathlib import Path
    from engine import processes
    stop = threading.Event()
    processes.watch_stop_file(Path(sys.argv[1]), stop, poll_s=0.05)
    processes.on_stop_signals(stop.set)
    print("ready", flush=True)
    stop.wait(60)
    Path(sys.argv[2]).write_text("flushed")
"""


def _engine_like(tmp_path: Path, *, stubborn: bool = False) -> tuple[subprocess.Popen, ProcessRef]:
    code = ENGINE_LIKE.replace("stop.wait(60)", "import time; time.sleep(60)") if stubborn else ENGINE_LIKE
    if stubborn:
        code = code.replace("processes.on_stop_signals(stop.set)",
                            "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)")  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(tmp_path / "stop"),
                              str(tmp_path / "done")], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout.readline().strip() == "ready"
    return child, processes.process_ref(child.pid)


def test_the_graceful_stop_is_a_stop_file_the_process_reads_and_ends_on(tmp_path):
    child, ref = _engine_like(tmp_path)
    assert processes.stop_process(ref, tmp_path / "stop", grace_s=10)
    assert (tmp_path / "done").read_text() == "flushed"  # it ended by itself, having finished
    assert child.wait(5) == 0


def test_a_process_that_ignores_its_stop_file_is_kept_or_else_killed_after_the_grace(tmp_path):
    child, ref = _engine_like(tmp_path, stubborn=True)
    assert not processes.stop_process(ref, tmp_path / "stop", grace_s=0.3, force=False)
    assert processes.is_alive(ref.pid, ref.started_s) and (tmp_path / "stop").exists()
    t0 = time.monotonic()
    assert processes.stop_process(ref, tmp_path / "stop", grace_s=0.3, kill_wait_s=2)  # SIGTERM ignored
    assert time.monotonic() - t0 < 5 and not processes.is_alive(ref.pid, ref.started_s)
    assert not (tmp_path / "done").exists()  # killed: it never got to finish
    child.wait(5)


def test_sigterm_or_ctrl_c_is_a_stop_too(tmp_path):
    child, ref = _engine_like(tmp_path)
    psutil.Process(ref.pid).terminate()  # what `kill` or a terminal's Ctrl-C sends on POSIX
    assert child.wait(10) == 0 and (tmp_path / "done").read_text() == "flushed"


def test_a_pid_given_to_another_process_is_not_stopped(tmp_path, sleeper):
    stale = ProcessRef(sleeper.pid, processes.process_ref(sleeper.pid).started_s - 60)
    assert processes.stop_process(stale, tmp_path / "stop", grace_s=0.1)
    assert sleeper.poll() is None and not (tmp_path / "stop").exists()


def test_the_stop_watcher_sets_the_event_once_the_file_appears_and_ends_with_it(tmp_path):
    stop = threading.Event()
    watcher = processes.watch_stop_file(tmp_path / "stop", stop, poll_s=0.02)
    time.sleep(0.1)
    assert not stop.is_set()
    processes.request_stop(tmp_path / "stop")
    watcher.join(2)
    assert stop.is_set() and not watcher.is_alive()


@pytest.mark.parametrize(
    ("platform", "names"),
    [("linux", ("SIGINT", "SIGTERM")), ("darwin", ("SIGINT", "SIGTERM")),
     ("win32", ("SIGINT", "SIGTERM", "SIGBREAK"))],
)  # fmt: skip
def test_the_stop_signals_of_each_system(platform, names):
    assert processes.stop_signal_names(platform) == names


def test_signal_handlers_are_set_only_from_the_main_thread():
    answers = []
    thread = threading.Thread(target=lambda: answers.append(processes.on_stop_signals(lambda: None)))
    thread.start()
    thread.join()
    assert answers == [False]


# --- cameras --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "backend"),
    [("win32", cv2.CAP_DSHOW), ("darwin", cv2.CAP_AVFOUNDATION), ("linux", cv2.CAP_V4L2),
     ("freebsd14", cv2.CAP_V4L2)],
)  # fmt: skip
def test_cameras_are_probed_by_index_with_each_systems_backend(platform, backend):
    asked = []

    def opens(index: int, chosen: int) -> bool:  # two cameras, at 0 and 2
        asked.append((index, chosen))
        return index in (0, 2)

    assert processes.list_cameras(4, platform=platform, opens=opens) == [0, 2]
    assert asked == [(i, backend) for i in range(4)]


def test_the_camera_probe_gives_up_in_bounded_time_with_what_it_found_and_never_piles_up():
    driver = threading.Event()

    def opens(index: int, backend: int) -> bool:
        if index == 1:
            driver.wait(10)  # a driver that hangs
        return True

    t0 = time.monotonic()
    assert processes.list_cameras(4, timeout_s=0.5, opens=opens) == [0]
    assert time.monotonic() - t0 < 2
    assert processes.list_cameras(4, timeout_s=0.5, opens=lambda i, b: True) == []  # no second thread
    driver.set()  # the driver answers at last: the next probe runs again
    deadline = time.monotonic() + 5
    while processes.list_cameras(2, timeout_s=0.5, opens=lambda i, b: True) != [0, 1]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_this_machines_cameras_are_listed_quietly_and_quickly(capfd):
    t0 = time.monotonic()
    found = processes.list_cameras()
    assert all(isinstance(i, int) for i in found) and time.monotonic() - t0 < processes.CAMERA_PROBE_S + 1
    assert capfd.readouterr().err == ""  # OpenCV's warnings for missing indexes are silenced


def test_on_windows_the_launcher_runs_the_server_as_a_child_and_returns_its_status():
    code = [sys.executable, "-c", "import sys; sys.exit(3)"]
    assert processes.become(code, platform="win32") == 3


def test_on_posix_the_launcher_becomes_the_server_itself(tmp_path):
    script = ("import os, sys; from engine import processes; "
              "processes.become([sys.executable, '-c', 'import os; print(os.getpid())'], platform='linux')")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    out, _ = parent.communicate(timeout=60)
    assert parent.returncode == 0
    assert int(out.strip()) == parent.pid  # the same process: exec, not a child

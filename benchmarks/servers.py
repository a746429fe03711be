"""What the browser benchmarks run: the real dashboard server (`streamlit run streamlit_app.py` on
a free loopback port against a given database, its output in a log file, stopped and waited for at
the end) and Debian's Chromium with the flags they launch it with."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, driven by Playwright
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


class ServerError(RuntimeError):
    """The server did not start; the message says where its log is."""


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_s(self) -> float:
        """CPU seconds the server (with its children) has used so far."""
        try:
            proc = psutil.Process(self.process.pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        except psutil.Error:
            return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_server(
    db_url: str, data_dir: Path, env: Mapping[str, str] | None = None, start_timeout_s: float = 90
) -> Iterator[Served]:
    """The dashboard (with the join routes) on 127.0.0.1, its data folder `data_dir`."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    environ = dict(os.environ, CLASSPULSE_DB_URL=db_url, CLASSPULSE_DATA_DIR=str(data_dir),
                   CLASSPULSE_TIMEZONE="UTC", **(env or {}))  # fmt: skip
    command = [sys.executable, "-m", *streamlit_argv(port)]
    log_path = data_dir / "streamlit.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_healthy(process, served.url, log_path, start_timeout_s)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def streamlit_argv(port: int) -> list[str]:
    """`streamlit run streamlit_app.py` headless on 127.0.0.1:port (after `python -m`)."""
    return ["streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip


def wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path,
                 timeout_s: float) -> None:  # fmt: skip
    """Return once the server at `url` answers its health check; ServerError when it exits or
    does not answer within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise ServerError(f"the dashboard server did not start; see {log_path}")

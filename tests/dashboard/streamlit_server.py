"""A real `streamlit run` process for tests: start it, wait for health, read where it listens, stop it."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_command(port: int) -> list[str]:
    """`streamlit run streamlit_app.py` headless on 127.0.0.1:port, without file watcher or usage stats."""
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.headless", "true",
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip


@contextmanager
def running_streamlit(
    command: Sequence[str], port: int, env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (a streamlit run line) until /_stcore/health answers on 127.0.0.1:port."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_healthy(process, f"http://127.0.0.1:{port}/_stcore/health", log_path)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serving_dashboard(tmp_path: Path, env: Mapping[str, str], **settings: str) -> Iterator[str]:
    """The dashboard (`dashboard_command`) on a free port, its URL, with `env` and the CLASSPULSE_*
    `settings` (no STREAMLIT_* variable of the developer's); an engine it started in
    CLASSPULSE_DATA_DIR is stopped before the server is."""
    from dashboard import control

    server_env = {k: v for k, v in env.items() if not k.startswith("STREAMLIT_")}
    server_env.update(settings)
    port = free_port()
    with running_streamlit(dashboard_command(port), port, server_env, tmp_path / "streamlit.log"):
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            data_dir = server_env.get("CLASSPULSE_DATA_DIR")
            handle = None if data_dir is None else control.find_engine(Path(data_dir))
            if handle is not None:
                control.stop_engine(handle, timeout_s=20)


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 90  # only stops a server that never comes up
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"streamlit did not start: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)


def _decode_address(hex_address: str) -> str:
    """/proc/net/tcp's address: IPv4 as one little-endian word, IPv6 as four."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` listens on, read from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address, port = local.split(":")
                found.add((_decode_address(address), int(port, 16)))
    return found

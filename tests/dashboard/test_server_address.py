"""Where the real server listens under `make run` and the project's config, read from the process.

The address comes from the running streamlit's own sockets (/proc/PID/fd and /proc/PID/net/tcp*),
not from its log line. The same server refuses a WebSocket whose Host is not this machine's
(DNS rebinding: a web page whose name was re-pointed at 127.0.0.1).
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboard.streamlit_server import ROOT, free_port, listening_addresses, running_streamlit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc"),
]


def make_run_command(*variables: str) -> list[str]:
    """The line `make run VARIABLES...` runs (the launcher, which becomes `streamlit run`), as make
    would run it with this Python."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "run", f"PY={sys.executable}", *variables],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    text = dry.stdout.replace("\\\n", " ")  # a recipe line continued with a backslash is one command
    lines = [line for line in text.splitlines() if " -m dashboard.command run " in line]
    assert len(lines) == 1, dry.stdout
    return shlex.split(lines[0])


def server_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    return dict(
        env,
        STREAMLIT_SERVER_PORT=str(port),  # the one thing added to make's line
        STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
        CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'server.db'}",
        CLASSPULSE_DATA_DIR=str(tmp_path / "data"),
    )


def test_make_run_command_names_loopback_and_no_other_address() -> None:
    command = make_run_command()
    assert command[command.index("--address") + 1] == "127.0.0.1"
    assert command.count("--address") == 1


def test_make_run_listens_on_127_0_0_1_only(tmp_path: Path) -> None:
    port = free_port()
    command = make_run_command()
    with running_streamlit(command, port, server_env(tmp_path, port), tmp_path / "log") as server:
        assert listening_addresses(server.pid) == {("127.0.0.1", port)}


def test_plain_streamlit_run_listens_on_127_0_0_1_from_the_config_file(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
               "--server.headless", "true"]  # fmt: skip
    with running_streamlit(command, port, server_env(tmp_path, port), tmp_path / "log") as server:
        assert listening_addresses(server.pid) == {("127.0.0.1", port)}


def _websocket_status(port: int, host_header: str) -> str:
    """The status line the server answers a WebSocket handshake with, for a given Host header."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: streamlit\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request.encode())
        reply = b""
        while b"\r\n" not in reply:
            chunk = conn.recv(1024)
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0].decode()


def test_a_websocket_for_a_foreign_host_name_is_refused(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
               "--server.headless", "true"]  # fmt: skip
    with running_streamlit(command, port, server_env(tmp_path, port), tmp_path / "log"):
        assert _websocket_status(port, f"127.0.0.1:{port}").startswith("HTTP/1.1 101")
        assert _websocket_status(port, f"localhost:{port}").startswith("HTTP/1.1 101")
        assert _websocket_status(port, f"rebound.evil.example:{port}").startswith("HTTP/1.1 403")


def test_make_run_hosts_lets_the_school_name_for_the_server_in(tmp_path: Path) -> None:
    port = free_port()
    command = make_run_command("HOSTS=classpulse.school.lan")
    with running_streamlit(command, port, server_env(tmp_path, port), tmp_path / "log"):
        assert _websocket_status(port, f"classpulse.school.lan:{port}").startswith("HTTP/1.1 101")
        assert _websocket_status(port, f"127.0.0.1:{port}").startswith("HTTP/1.1 101")
        assert _websocket_status(port, f"rebound.evil.example:{port}").startswith("HTTP/1.1 403")

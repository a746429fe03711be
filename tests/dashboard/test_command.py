"""The `classpulse` command: what it starts, and the command as `pip install .` installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from dashboard.command import CommandError, streamlit_command
from models.assets import asset_path
from tests.dashboard.streamlit_server import ROOT, free_port

APP = Path("/opt/cp/streamlit_app.py")


def _flags(command: list[str], name: str) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command) if part == name]


def test_run_listens_on_loopback_alone_by_default() -> None:
    command = streamlit_command(APP, address="127.0.0.1", python="py")
    assert command[:5] == ["py", "-m", "streamlit", "run", str(APP)]
    assert _flags(command, "--server.address") == ["127.0.0.1"]
    assert _flags(command, "--server.allowedHosts") == []
    assert _flags(command, "--server.headless") == ["true"]
    assert _flags(command, "--browser.gatherUsageStats") == ["false"]


def test_named_hosts_are_allowed_beside_the_loopback_names() -> None:
    command = streamlit_command(APP, address="0.0.0.0", port=8600, hosts=("cp.school.lan", "localhost"))
    assert _flags(command, "--server.allowedHosts") == ["localhost", "127.0.0.1", "::1", "cp.school.lan"]
    assert _flags(command, "--server.port") == ["8600"]


def test_https_takes_a_certificate_and_its_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("c")
    key.write_text("k")
    command = streamlit_command(APP, address="127.0.0.1", ssl_cert=cert, ssl_key=key)
    assert _flags(command, "--server.sslCertFile") == [str(cert)]
    assert _flags(command, "--server.sslKeyFile") == [str(key)]


@pytest.mark.parametrize(
    ("cert", "key", "said"),
    [("cert.pem", None, "needs both"), (None, "key.pem", "needs both"), ("cert.pem", "gone.pem", "is not a file")],
)
def test_half_an_https_setup_is_one_line(tmp_path: Path, cert: str | None, key: str | None, said: str) -> None:
    (tmp_path / "cert.pem").write_text("c")
    (tmp_path / "key.pem").write_text("k")
    with pytest.raises(CommandError, match=said):
        streamlit_command(APP, address="127.0.0.1", ssl_cert=cert and tmp_path / cert,
                          ssl_key=key and tmp_path / key)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ClassPulse as `pip install .` lays it out (its own folder, not this checkout), no dependencies
    again: they are this interpreter's."""
    source, target = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("installed")
    for name in ("pyproject.toml", "README.md", "requirements.txt", "streamlit_app.py"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("engine", "storage", "models", "dashboard"):  # a build leaves build/ beside them
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, cwd=target)  # fmt: skip
    return target


def _env(installed: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "CLASSPULSE_DB"))}
    env.update(PYTHONPATH=str(installed), CLASSPULSE_DATA_DIR=str(tmp_path / "data"))
    return env


@pytest.mark.slow
def test_the_installed_command_lists_its_commands(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(installed / "bin" / "classpulse"), "--help"], capture_output=True, text=True,
                         cwd=tmp_path, env=_env(installed, tmp_path), check=True).stdout  # fmt: skip
    for name in ("run", "engine", "accounts", "assets"):
        assert f"  {name} " in out


@pytest.mark.slow
def test_the_installed_engine_reads_a_photo(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(installed / "bin" / "classpulse"), "engine", "predict", str(asset_path("single_face.jpg")), "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=_env(installed, tmp_path), timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    faces = json.loads(out.stdout)["faces"]
    assert len(faces) == 1
    assert sum(faces[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_the_installed_command_serves_the_installed_dashboard_on_loopback(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(installed / "bin" / "classpulse"), "run", "--no-assets", "--port", str(port)],
        cwd=tmp_path, env=_env(installed, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.5)
        server = psutil.Process(process.pid)  # the command became the server (Windows: its child)
        assert str(installed / "streamlit_app.py") in server.cmdline()
        listening = {(c.laddr.ip, c.laddr.port) for c in server.net_connections("tcp") if c.status == "LISTEN"}
        assert listening == {("127.0.0.1", port)}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200
    finally:
        process.terminate()
        process.wait(timeout=20)

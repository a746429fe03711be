"""HTTPS: the self-signed certificate for a trial, and the real server serving the dashboard and the
join routes over TLS with it."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from dashboard.certificates import CertificateError, make_self_signed, trust_instructions
from tests.dashboard.streamlit_server import ROOT, free_port


def test_the_certificate_names_each_host_and_address_and_its_key_is_private(tmp_path: Path) -> None:
    made = make_self_signed(("classpulse.school.lan", "192.168.1.20"), tmp_path / "tls",
                            now=datetime(2026, 12, 7, tzinfo=UTC))
    cert = x509.load_pem_x509_certificate(made.cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["classpulse.school.lan"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.168.1.20"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 398  # browsers' ceiling
    assert stat.S_IMODE(made.key_path.stat().st_mode) == 0o600
    said = trust_instructions(made)
    assert made.sha256_fingerprint in said and "--ssl-cert" in said and "https://classpulse.school.lan" in said


@pytest.mark.parametrize("host", ["", "two words", "https://x", "user@host"])
def test_a_name_that_cannot_be_in_a_certificate_is_one_line(tmp_path: Path, host: str) -> None:
    with pytest.raises(CertificateError, match="not a host name or an IP address"):
        make_self_signed((host,), tmp_path)


@pytest.mark.slow
def test_the_server_serves_the_dashboard_and_the_join_routes_over_https(tmp_path: Path) -> None:
    made = make_self_signed(("localhost", "127.0.0.1"), tmp_path / "tls")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "CLASSPULSE_"))}
    env.update(CLASSPULSE_DATA_DIR=str(tmp_path / "data"), CLASSPULSE_ENGINE_STANDBY="0")
    command = [sys.executable, "-m", "dashboard.command", "run", "--no-assets", "--port", str(port),
               "--ssl-cert", str(made.cert_path), "--ssl-key", str(made.key_path)]
    trusting = ssl.create_default_context(cafile=str(made.cert_path))  # as a device that installed it
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/_stcore/health", timeout=2,
                                            context=trusting) as reply:
                    assert reply.status == 200
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
        with urllib.request.urlopen(f"https://localhost:{port}/", context=trusting, timeout=5) as page:
            assert page.status == 200
        try:  # the join API answers over the same TLS port: an unknown code is a 404 in JSON
            urllib.request.urlopen(f"https://localhost:{port}/join/api/ABCDEFGHJK", context=trusting, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and "error" in json.loads(exc.read())
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # untrusted
            urllib.request.urlopen(f"https://localhost:{port}/", context=ssl.create_default_context(), timeout=5)
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP on that port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=20)

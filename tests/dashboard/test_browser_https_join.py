"""A student joins over HTTPS from a real Chromium: the server (`classpulse run --ssl-cert/--ssl-key`)
serves the dashboard and the student page with a self-signed certificate made in the test for a
school's host name, and that browser trusts it (its key pinned, as a school that installed the
certificate on its devices). Over HTTPS on a name that is not this computer's, the page is a secure
context: the camera works and the student's samples are stored."""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dashboard.certificates import make_self_signed
from tests.dashboard.join.student_kit import (
    FACE_VIDEOS,
    fake_camera_args,
    join_page,
    observations,
    open_lesson,
    playwright_session,
    student_browser,
    wait_for_text,
    write_fake_camera,
)
from tests.dashboard.streamlit_server import ROOT, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HOST = "classpulse.school.test"


def spki_pin(cert_pem: bytes) -> str:
    """Chromium's --ignore-certificate-errors-spki-list value for a certificate: its key's SHA-256."""
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_a_student_joins_over_https_with_a_self_signed_certificate_their_browser_trusts(tmp_path: Path, asset) -> None:
    made = make_self_signed((HOST,), tmp_path / "tls")
    db_url = f"sqlite:///{tmp_path / 'https.db'}"
    lesson = open_lesson(db_url, rate_hz=2.0)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "CLASSPULSE_"))}
    env.update(CLASSPULSE_DB_URL=db_url, CLASSPULSE_DATA_DIR=str(tmp_path / "data"), CLASSPULSE_ENGINE_STANDBY="0")
    command = [sys.executable, "-m", "dashboard.command", "run", "--no-assets", "--port", str(port),
               "--host", HOST, "--ssl-cert", str(made.cert_path), "--ssl-key", str(made.key_path)]
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    trusting = ssl.create_default_context(cafile=str(made.cert_path))
    trusting.check_hostname = False  # the test reaches it by address; the browser checks the name
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/_stcore/health", timeout=2, context=trusting)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
        camera = write_fake_camera(asset(FACE_VIDEOS[0]), tmp_path / "face.y4m")
        with (
            playwright_session() as pw,
            student_browser(pw, *fake_camera_args(camera), f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
                            f"--ignore-certificate-errors-spki-list={spki_pin(made.cert_path.read_bytes())}") as browser,
        ):
            page, number = join_page(browser, f"https://{HOST}:{port}/join/{lesson.code}")
            assert page.evaluate("window.isSecureContext") is True
            assert page.evaluate("location.protocol") == "https:"
            wait_for_text(page, "#counts", "sent ", 30)
            deadline = time.monotonic() + 40
            while len(observations(db_url, lesson.lesson_id).get(number, [])) < 4:
                assert time.monotonic() < deadline, "no samples stored over HTTPS"
                time.sleep(0.5)
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # untrusted elsewhere
            urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=ssl.create_default_context(), timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "Traceback" not in (tmp_path / "server.log").read_text()

"""`python -m engine run` never shows a stream's secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_an_unreachable_stream_is_reported_without_its_password_or_token(tmp_path):
    password, token = "p@ss/w0rd", "tok3n-SECRET"
    url = f"rtsp://cam:{password}@127.0.0.1:1/live?token={token}&channel=1"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--quiet", "--attention-only", "--source", url,
         "--lesson", "x", "--db", f"sqlite:///{tmp_path / 'lesson.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert errors == ["Error: cannot open stream rtsp://cam:***@127.0.0.1:1/live?token=***&channel=1; "
                      "check that it is connected and not in use"]  # fmt: skip
    for secret in (password, "w0rd", token):
        assert secret not in done.stdout + done.stderr

"""`python -m engine run` refuses numbers that are not numbers, and never shows a stream's secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.__main__ import cli

ROOT = Path(__file__).resolve().parents[2]


def run_with(*options: str):
    return CliRunner().invoke(cli, ["run", "--source", "demo", "--lesson", "t", *options])


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (["--rate", "nan"], "Error: Invalid value for '--rate': 'nan' is not a finite number from 0.2 to 30"),
        (["--rate", "inf"], "Error: Invalid value for '--rate': 'inf' is not a finite number from 0.2 to 30"),
        (["--rate", "0"], "Error: Invalid value for '--rate': '0' is not a finite number from 0.2 to 30"),
        (["--rate", "31"], "Error: Invalid value for '--rate': '31' is not a finite number from 0.2 to 30"),
        (["--rate", "fast"], "Error: Invalid value for '--rate': 'fast' is not a number"),
        (["--max-seconds", "inf"],
         "Error: Invalid value for '--max-seconds': 'inf' is not a finite number of at least 0"),
        (["--max-seconds", "nan"],
         "Error: Invalid value for '--max-seconds': 'nan' is not a finite number of at least 0"),
        (["--max-seconds", "-1"],
         "Error: Invalid value for '--max-seconds': '-1' is not a finite number of at least 0"),
    ],
)
def test_a_rate_or_duration_that_is_not_a_finite_number_in_range_is_one_line(options, line):
    result = run_with(*options)
    assert result.exit_code == 2
    assert [ln for ln in result.output.splitlines() if ln.startswith("Error:")] == [line]
    assert "Traceback" not in result.output


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

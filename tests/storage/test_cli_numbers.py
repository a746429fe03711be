"""Numbers on the storage command line: nan, infinity and negatives are one line, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from storage.__main__ import cli
from storage.db import dispose_engines, open_database
from storage.lessons import purge_older_than


@pytest.mark.parametrize("days", ["nan", "inf", "-inf", "-1", "soon"])
def test_purge_refuses_a_number_that_is_not_a_finite_day_count(db_url: str, days: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db_url, "purge", "--older-than", days])
    dispose_engines()
    assert result.exit_code == 2
    assert "Invalid value for '--older-than'" in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(
        result.exception, SystemExit)


@pytest.mark.parametrize("days", [float("nan"), float("inf"), -0.5])
def test_purge_older_than_refuses_non_finite_days(db_url: str, days: float) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        purge_older_than(open_database(db_url), days, datetime.now(UTC))

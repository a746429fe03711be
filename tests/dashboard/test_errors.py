"""An unreachable database: one clear message on the page, no traceback; pages without it still work."""

from __future__ import annotations

import pytest


@pytest.fixture
def unreachable_url(tmp_path) -> str:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    return f"sqlite:///{blocker / 'classpulse.db'}"


@pytest.mark.parametrize("page", ["live", "lessons", "export", "privacy"])
def test_unreachable_database_shows_one_clear_message(app, unreachable_url, page):
    at = app(unreachable_url, page)
    assert len(at.error) == 1
    assert at.error[0].value.startswith(
        "The database cannot be opened: cannot create the database folder"
    )
    assert not at.exception
    assert not at.title  # the page itself did not run


def test_photo_page_works_without_the_database(app, unreachable_url):
    at = app(unreachable_url, "photo")
    assert at.title[0].value == "Analyse a photo"
    assert not at.error


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("cannot reach postgresql://ms:pa55@db.lan/cp\nDETAIL: more", "cannot reach postgresql://ms:***@db.lan/cp"),
        ("stream rtsp://cam/live?token=abc lost", "stream rtsp://cam/live?token=*** lost"),
        ("plain words", "plain words"),
    ],
)  # fmt: skip
def test_an_error_line_shown_has_its_urls_masked(message, shown):
    from dashboard.errors import one_line

    assert one_line(RuntimeError(message)) == shown

"""A teacher's time zone, alert level and default class are kept in the database: chosen in one
browser session (a real AppTest run of the app on a real SQLite file), found in the next."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import control
from dashboard.auth import hash_password
from storage.accounts import save_account
from storage.db import open_database
from storage.teacher_settings import DisplaySettings, load_settings, save_settings
from tests.dashboard.conftest import LIVE_NOW, log_in_on_form
from tests.dashboard.engine_standin import standin

PASSWORD = "a long enough test passphrase"


def test_a_zone_and_alert_level_chosen_in_one_session_are_there_in_a_new_one(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    first = app(url, "privacy")
    first.selectbox(key="privacy_timezone").set_value("Europe/Berlin").run()
    first.slider(key="privacy_alert_level").set_value(25).run()
    assert not first.exception
    assert load_settings(open_database(url), None) == DisplaySettings("Europe/Berlin", 25.0, None)

    second = app(url, "privacy")  # a new browser session on the same database
    assert second.selectbox(key="privacy_timezone").value == "Europe/Berlin"
    assert second.slider(key="privacy_alert_level").value == 25
    assert "Times in Europe/Berlin" in second.sidebar.caption[0].value
    assert second.session_state["cp_alert_level"] == 25.0


def test_without_stored_choices_the_environment_decides_and_stored_ones_win_over_it(
    app, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("CLASSPULSE_TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("CLASSPULSE_ALERT_LEVEL", "35")
    at = app(url, "privacy")
    assert at.selectbox(key="privacy_timezone").value == "Asia/Tokyo"
    assert at.slider(key="privacy_alert_level").value == 35
    save_settings(open_database(url), None, DisplaySettings(timezone="America/Chicago"), at=LIVE_NOW)
    at = app(url, "privacy")
    assert at.selectbox(key="privacy_timezone").value == "America/Chicago"
    assert at.slider(key="privacy_alert_level").value == 35  # not chosen: still the environment's


def test_a_stored_zone_this_machine_does_not_know_falls_back_to_the_default(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    save_settings(open_database(url), None, DisplaySettings(timezone="Mars/Olympus"), at=LIVE_NOW)
    at = app(url, "privacy")
    assert at.selectbox(key="privacy_timezone").value == "UTC"
    assert not at.exception and not at.error


def test_the_class_a_lesson_was_started_for_is_the_forms_class_next_time(
    app, tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    standin(monkeypatch)  # a small process in the engine's place, stopped as the engine is
    at = app(url, "live")
    assert at.text_input(key="live_group").value == ""
    at.text_input(key="live_group").input("9B Physics").run()
    at.radio(key="live_source").set_value("demo").run()
    at.button(key="live_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    handle = control.load_handle(tmp_path / "data")
    try:
        assert handle.launch.group_name == "9B Physics"
        assert load_settings(open_database(url), None).default_class == "9B Physics"
        at.button(key="live_stop").click().run()
    finally:
        control.stop_engine(handle, timeout_s=10)
    again = app(url, "live")  # a new session: the class is offered
    assert again.text_input(key="live_group").value == "9B Physics"


def test_the_demo_button_does_not_change_the_default_class(app, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    standin(monkeypatch)  # a small process in the engine's place, stopped as the engine is
    at = app(url, "live")
    at.button(key="live_demo_start").click().run()
    handle = control.load_handle(tmp_path / "data")
    try:
        assert handle.launch.group_name == "Demo class"
        assert load_settings(open_database(url), None).default_class is None
    finally:
        control.stop_engine(handle, timeout_s=10)


@pytest.fixture
def school(tmp_path, monkeypatch, bind_address):
    """A shared server (bound off loopback) with two teachers' accounts; log_in(name, page)."""
    url = f"sqlite:///{tmp_path / 'school.db'}"
    engine = open_database(url)
    for username in ("ms.lee", "mr.khan"):
        save_account(engine, username, hash_password(PASSWORD), "teacher", datetime.now(UTC))
    monkeypatch.setenv("CLASSPULSE_DB_URL", url)
    bind_address("0.0.0.0")

    def log_in(username: str, page: str) -> AppTest:
        return log_in_on_form(username, PASSWORD, page)

    return url, log_in


def test_each_account_keeps_its_own_choices(school):
    url, log_in = school
    lee = log_in("ms.lee", "privacy")
    lee.selectbox(key="privacy_timezone").set_value("Europe/Berlin").run()
    khan = log_in("mr.khan", "privacy")
    assert khan.selectbox(key="privacy_timezone").value == "UTC"
    khan.slider(key="privacy_alert_level").set_value(60).run()
    assert log_in("ms.lee", "privacy").selectbox(key="privacy_timezone").value == "Europe/Berlin"
    assert log_in("ms.lee", "privacy").slider(key="privacy_alert_level").value == 40
    assert load_settings(open_database(url), "mr.khan") == DisplaySettings(None, 60.0, None)
    assert load_settings(open_database(url), None) == DisplaySettings()  # no local user's row

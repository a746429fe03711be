"""A teacher's display settings are kept per account, across sessions, with defaults left as None."""

from __future__ import annotations

import pytest

from storage.teacher_settings import DisplaySettings, load_settings, save_settings, update_settings
from tests.storage.conftest import T0


def test_settings_never_chosen_are_all_defaults(engine) -> None:
    assert load_settings(engine, "ana") == DisplaySettings()


def test_settings_are_kept_per_teacher(engine) -> None:
    save_settings(engine, "Ana", DisplaySettings("Europe/Paris", 55.0, "7A"), at=T0)
    save_settings(engine, None, DisplaySettings(timezone="America/Chicago"), at=T0)
    assert load_settings(engine, "ana") == DisplaySettings("Europe/Paris", 55.0, "7A")
    assert load_settings(engine, None) == DisplaySettings(timezone="America/Chicago")
    assert load_settings(engine, "bo") == DisplaySettings()


def test_changing_one_setting_keeps_the_others(engine) -> None:
    save_settings(engine, "ana", DisplaySettings("Europe/Paris", 55.0, "7A"), at=T0)
    update_settings(engine, "ana", at=T0, alert_level=30.0)
    assert load_settings(engine, "ana") == DisplaySettings("Europe/Paris", 30.0, "7A")


def test_an_alert_level_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 100, got 120"):
        DisplaySettings(alert_level=120.0)

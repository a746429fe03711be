"""Dashboard settings from CLASSPULSE_*: the sources an administrator allows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.config import DashboardSettings


@pytest.mark.parametrize(
    ("raw", "dirs"),
    [
        (None, ()),
        ("", ()),
        ("/srv/media", (Path("/srv/media"),)),
        (f"/srv/a{os.pathsep} /srv/b {os.pathsep}{os.pathsep}", (Path("/srv/a"), Path("/srv/b"))),
    ],
)
def test_media_folders_are_none_unless_set(raw, dirs):
    environ = {} if raw is None else {"CLASSPULSE_MEDIA_DIRS": raw}
    assert DashboardSettings.from_env(environ).media_dirs == dirs


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [(None, False), ("", False), ("0", False), ("no", False), ("1", True), ("yes", True)],
)
def test_stream_urls_are_off_unless_the_administrator_allows_them(raw, allowed):
    environ = {} if raw is None else {"CLASSPULSE_ALLOW_STREAMS": raw}
    assert DashboardSettings.from_env(environ).allow_streams is allowed


@pytest.mark.parametrize(("raw", "limit"), [(None, 50), ("64", 64), ("500", 100), ("many", 50)])
def test_the_forms_face_limit_follows_the_engines_variable(raw, limit):
    environ = {} if raw is None else {"CLASSPULSE_MAX_FACES": raw}
    assert DashboardSettings.from_env(environ).max_faces == limit


def test_the_default_class_comes_from_the_environment_until_a_teacher_chooses_one():
    assert DashboardSettings.from_env({}).default_class == ""
    assert DashboardSettings.from_env({"CLASSPULSE_DEFAULT_CLASS": " 9B "}).default_class == "9B"


@pytest.mark.parametrize(("raw", "warm"), [(None, True), ("", True), ("1", True), ("0", False), ("no", False)])
def test_a_warm_engine_waits_for_the_start_unless_turned_off(raw, warm):
    environ = {} if raw is None else {"CLASSPULSE_ENGINE_STANDBY": raw}
    assert DashboardSettings.from_env(environ).engine_standby is warm


@pytest.mark.parametrize(
    ("raw", "data_dir", "db_url"),
    [
        ({}, Path("data"), "sqlite:///data/classpulse.db"),
        ({"CLASSPULSE_DATA_DIR": "/srv/cp"}, Path("/srv/cp"), "sqlite:////srv/cp/classpulse.db"),
        ({"CLASSPULSE_DATA_DIR": "/srv/cp", "CLASSPULSE_DB_URL": "sqlite:////db/x.db"},
         Path("/srv/cp"), "sqlite:////db/x.db"),
    ],
)
def test_the_database_lives_in_the_data_folder_unless_its_url_is_given(raw, data_dir, db_url):
    settings = DashboardSettings.from_env(raw)
    assert (settings.data_dir, settings.db_url) == (data_dir, db_url)

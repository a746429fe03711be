"""The server's long-lived objects are kept out of the garbage collector's full passes, which
Streamlit runs after every script run (every refresh of every open Live page)."""

from __future__ import annotations

import gc

import streamlit as st


def test_the_first_run_freezes_what_the_process_keeps(app, tmp_path):
    st.cache_resource.clear()  # as in a new server process
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app(f"sqlite:///{tmp_path / 'gc.db'}", "lessons")
    assert gc.get_freeze_count() > 100_000  # the dashboard's, Streamlit's, pandas' and plotly's objects

"""ClassPulse dashboard entry point: `streamlit run streamlit_app.py`.

Run as a page script (each session's run, `__name__ == "__main__"`), it sets up what every page
shares (settings, the login gate, the database check, the sidebar) and hands over to the page the
teacher chose; one file per page in dashboard/app_pages/. Bound to anything but a loopback address,
the gate serves no page until someone logs in (docs/security.md).

Imported as a module (`streamlit run` finds `app` here and serves it with uvicorn), it is the
server: Streamlit's pages plus the join routes students' browsers use, on one port (docs/join.md).
"""

import gc

import streamlit as st

from dashboard import control, loaders, login, state
from dashboard.config import DashboardSettings
from dashboard.errors import friendly_errors
from storage.db import StorageError, safe_url

PAGES_WITHOUT_DATABASE = {"Analyse a photo", "Home"}
LIVE_PAGE = "Live lesson"
HOME_PAGE = "Home"  # "/": it opens the Live page


def dashboard_pages() -> list[st.Page]:
    """The pages, each at its own address (/live, /lessons, ...); the home page opens the Live page."""
    live = st.Page("dashboard/app_pages/live.py", title=LIVE_PAGE, icon=":material/sensors:", url_path="live")

    def home() -> None:  # "/" opens the Live page at its own address, so /live opens it as well
        st.switch_page(live)

    return [
        st.Page(home, title=HOME_PAGE, url_path="home", default=True, visibility="hidden"),
        live,
        st.Page(
            "dashboard/app_pages/lessons.py",
            title="Lessons",
            icon=":material/history:",
            url_path="lessons",
        ),
        st.Page(
            "dashboard/app_pages/export.py",
            title="Export",
            icon=":material/download:",
            url_path="export",
        ),
        st.Page(
            "dashboard/app_pages/photo.py",
            title="Analyse a photo",
            icon=":material/photo_camera:",
            url_path="photo",
        ),
        st.Page(
            "dashboard/app_pages/privacy.py",
            title="Privacy & settings",
            icon=":material/shield:",
            url_path="privacy",
        ),
    ]


@st.cache_resource(show_spinner=False)
def freeze_startup_objects() -> int:
    """Once per server, after the first run has imported everything: move the objects that live as
    long as the process (modules, models, libraries: about 350,000) out of the garbage collector's
    sight. Streamlit collects all generations after every run (`runner.postScriptGC`), every 2 s of
    every open Live page; over those objects that took 200-450 ms a run. Garbage made later is
    collected as before."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def main() -> None:
    """One run of the dashboard's pages for one session."""
    st.set_page_config(page_title="ClassPulse", page_icon=":bar_chart:", layout="wide")

    state.init(DashboardSettings.from_env())
    settings = state.settings()
    viewer = login.require_viewer(
        st.get_option("server.address"), settings.db_url, settings.oidc_domains, login.THROTTLE
    )
    state.set_viewer(viewer.lesson_viewer())  # every page reads only the lessons this viewer may see

    page = st.navigation(dashboard_pages())

    database_error = None
    if page.title not in PAGES_WITHOUT_DATABASE:
        try:
            loaders.database(settings.db_url)
        except StorageError as exc:
            database_error = exc
        else:
            state.load_stored(settings.db_url)  # the teacher's own zone, alert level and class
            settings = state.settings()
    if page.title not in (LIVE_PAGE, HOME_PAGE):
        st.session_state.pop(state.FINISHED_LESSON, None)  # "has ended" is news for that visit only

    with st.sidebar:
        st.caption(f"Times in {settings.timezone} · database {safe_url(settings.db_url)}")
        running = control.find_engine(settings.data_dir)
        if running is not None and state.viewer().may_see(running.launch.owner):
            st.success(f"Engine running: {running.launch.title}", icon=":material/sensors:")
        login.account_box(viewer)

    if database_error is not None:
        st.error(f"The database cannot be opened: {database_error}", icon=":material/error:")
        st.caption(
            "Check CLASSPULSE_DB_URL (or that the data/ folder is writable), then reload the page."
        )
        st.stop()
    if page.title not in PAGES_WITHOUT_DATABASE:
        loaders.settle_dead_engines(settings.db_url, settings.data_dir)  # never `running` once dead
    control.sweep_uploads(settings.data_dir)  # videos left by a crash or a restart

    try:
        with friendly_errors():
            page.run()
    finally:
        freeze_startup_objects()


if __name__ == "__main__":
    main()
else:
    from dashboard.join.mount import server_routes

    app = st.App("streamlit_app.py", routes=server_routes())

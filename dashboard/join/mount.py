"""The routes the server serves beside Streamlit's pages, on the same port: the join API, the
student page and its files (`st.App("streamlit_app.py", routes=server_routes())`).

Built once per server process, when `streamlit run` imports the entry file to find its app. The
join API needs only the database; the student page's files need the browser libraries and models of
`make assets`: without them the API still answers, the page says in one line what the teacher must
do, and the server's log says it too.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.routing import BaseRoute

from dashboard.join.assets_routes import join_asset_routes, library_urls
from dashboard.join.page import StudentPage
from dashboard.join.routes import JoinServerSettings, join_routes
from models.assets import AssetError
from storage.db import resolve_url

log = logging.getLogger(__name__)


def server_routes(
    settings: JoinServerSettings | None = None, assets_root: Path | None = None
) -> list[BaseRoute]:
    """Every extra route of the ClassPulse server, for the database the dashboard uses
    (`assets_root`: the asset cache, default the user's)."""
    settings = settings or JoinServerSettings(db_url=resolve_url(None))
    try:
        files = join_asset_routes(assets_root)
        page = StudentPage(library_urls())
    except AssetError as exc:
        log.warning("students cannot join from their browser until the assets are fetched: %s", exc)
        files, page = [], StudentPage(None)
    # The page's own paths (/join/notice, /join/page.json) before the join routes' /join/{code}.
    return [*page.routes(), *join_routes(settings, student_page=page.page), *files]

"""The routes the server serves beside Streamlit's pages, on the same port: the join API, the
student page and its files (`st.App("streamlit_app.py", routes=server_routes())`).

Built once per server process, when `streamlit run` imports the entry file to find its app. The
join API needs only the database; the student page's files need the browser libraries and models of
`make assets`: without them the API still answers, and the page says one line in the server's log.
"""

from __future__ import annotations

import logging

from starlette.routing import BaseRoute

from dashboard.join.assets_routes import join_asset_routes
from dashboard.join.routes import JoinServerSettings, join_routes
from models.assets import AssetError
from storage.db import resolve_url

log = logging.getLogger(__name__)


def server_routes(settings: JoinServerSettings | None = None) -> list[BaseRoute]:
    """Every extra route of the ClassPulse server, for the database the dashboard uses."""
    settings = settings or JoinServerSettings(db_url=resolve_url(None))
    routes = join_routes(settings)
    try:
        routes += join_asset_routes()
    except AssetError as exc:
        log.warning("students cannot join from their browser until the assets are fetched: %s", exc)
    return routes

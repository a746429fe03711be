"""Students join a lesson from their own browser: the page's routes and static files, the join
API's routes, payload and ingest.

`join_routes(JoinServerSettings(...))` gives the Starlette routes to mount beside Streamlit's
(`st.App("streamlit_app.py", routes=...)`); see docs/join.md.
"""

from dashboard.join.routes import STUDENT_PAGE_PATH, JoinServerSettings, join_routes

__all__ = ["STUDENT_PAGE_PATH", "JoinServerSettings", "join_routes"]

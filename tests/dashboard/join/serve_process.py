"""One join server in a process of its own (`python -m tests.dashboard.join.serve_process PORT`):
what a second ClassPulse server on the same database is, for the two-server test. The database URL
comes from CLASSPULSE_DB_URL, as on a real server."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette

from dashboard.join.routes import JoinServerSettings, join_routes
from storage.db import resolve_url

if __name__ == "__main__":
    app = Starlette(routes=join_routes(JoinServerSettings(db_url=resolve_url(None))))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

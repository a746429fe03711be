"""The student's page: GET /join/{code}, its settings and the public student notice.

The page is one static HTML file (static/student.html), the same bytes for every well-formed code:
its script reads the code from the address and asks the join API about it, so nothing a visitor
sends is ever written into HTML. It is served with the join files' content security policy (which
also stops MediaPipe's usage-log posts to Google) and `no-store`. The settings it needs from the
server (where the libraries are, the sample's fields, the expression labels) come from
GET /join/page.json; the notice is GET /join/notice. Without the browser libraries (`make assets`
not run) the page is a one-line explanation instead (503).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dashboard.join.assets_routes import CONTENT_SECURITY_POLICY, STATIC_DIR, STATIC_URL
from dashboard.join.notice import NOTICE_PATH, NOTICE_TITLE, notice_html_body
from dashboard.join.payload import (
    MAX_BATCH_BYTES,
    MAX_SAMPLES_PER_BATCH,
    OFFLINE_BUFFER_S,
    SAMPLE_FIELDS,
)
from dashboard.join.routes import API_PREFIX
from storage.db import StorageError
from storage.join import normalise_code
from storage.lessons import retention_days_from_env
from storage.records import EXPRESSIONS

log = logging.getLogger(__name__)

PAGE_FILE = STATIC_DIR / "student.html"
PAGE_CONFIG_PATH = "/join/page.json"
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the address holds the join code
}
NOT_A_LINK = "This is not a ClassPulse join link: check the link your teacher gave you."
ASSETS_MISSING = ("This page cannot run yet: the ClassPulse server is missing the files it needs. "
                  "Tell your teacher to run `make assets` on the server (docs/join.md).")  # fmt: skip


def page_config(urls: Mapping[str, str]) -> dict[str, Any]:
    """What the page reads from the server before anything else (GET /join/page.json)."""
    return {
        "api": API_PREFIX,
        "urls": dict(urls),
        "notice": NOTICE_PATH,
        "vocabulary": list(EXPRESSIONS),
        "sample_fields": [{"field": f, "type": t, "meaning": m} for f, t, m in SAMPLE_FIELDS],
        "max_samples": MAX_SAMPLES_PER_BATCH,
        "max_bytes": MAX_BATCH_BYTES,
        "offline_buffer_s": OFFLINE_BUFFER_S,
    }


def simple_page(title: str, body_html: str) -> str:
    """A small page in the student page's style; `body_html` must already be escaped."""
    return (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="stylesheet" href="{STATIC_URL}/student.css"></head>\n'
        f"<body><main>\n{body_html}\n</main></body>\n</html>\n"
    )


def _retention_days() -> float | None:
    try:
        return retention_days_from_env()
    except StorageError as exc:  # the Privacy page says what is wrong; the notice stays honest
        log.warning("the student notice cannot state a retention period: %s", exc)
        return None


class StudentPage:
    """The page's endpoints; `urls` is `library_urls()`, or None when the libraries are missing."""

    def __init__(self, urls: Mapping[str, str] | None, page_file: Path = PAGE_FILE) -> None:
        self.config = None if urls is None else page_config(urls)
        self.html = page_file.read_bytes()

    def routes(self) -> list[BaseRoute]:
        """The settings and the notice; mount them before the join routes' /join/{code}."""
        return [
            Route(PAGE_CONFIG_PATH, self.settings, methods=["GET"]),
            Route(NOTICE_PATH, self.notice, methods=["GET"]),
        ]

    async def page(self, request: Request) -> Response:
        """GET /join/{code}: the page, the same for every well-formed code."""
        if normalise_code(request.path_params.get("code", "")) is None:
            body = simple_page("ClassPulse", f"<p>{html.escape(NOT_A_LINK)}</p>")
            return HTMLResponse(body, 404, headers=HEADERS)
        if self.config is None:
            body = simple_page("ClassPulse", f'<p role="alert">{html.escape(ASSETS_MISSING)}</p>')
            return HTMLResponse(body, 503, headers=HEADERS)
        return Response(self.html, 200, headers=HEADERS, media_type="text/html; charset=utf-8")

    async def settings(self, request: Request) -> Response:
        """GET /join/page.json: where the libraries are and what a sample holds."""
        if self.config is None:
            return JSONResponse({"error": ASSETS_MISSING}, 503, headers=HEADERS)
        return JSONResponse(self.config, headers=HEADERS)

    async def notice(self, request: Request) -> Response:
        """GET /join/notice: the notice for students, with the retention period set now."""
        return HTMLResponse(simple_page(NOTICE_TITLE, notice_html_body(_retention_days())),
                            headers=HEADERS)  # fmt: skip

"""The student page's files over HTTP: our ES modules, the pinned browser libraries and the two models.

`join_asset_routes()` returns Starlette routes for `st.App(..., routes=[...])` (Streamlit 1.67 runs on
Starlette: one server, one port). Each prefix serves one folder and, for the libraries and models,
only the files named at install, with the MIME types browsers insist on (application/wasm for
streaming compilation, text/javascript for ES modules) and a cache policy: versioned library URLs are
immutable, our own modules and the models are revalidated (ETag / Last-Modified). Anything else,
a path outside the folders included, is a 404.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from models.assets import AssetError, asset_path, cache_dir
from models.web_assets import ONNXRUNTIME_WEB, TASKS_VISION, NpmPackage, web_package_dir
from models.web_model import WebModelError, read_web_model_config, web_model_paths

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/join/static"
LIB_URL = "/join/lib"
FACE_MODEL_URL = "/join/model/face"
EXPRESSION_MODEL_URL = "/join/model/expression"
FACE_MODEL = "face_landmarker.task"

MEDIA_TYPES: dict[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".task": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# For every file served here, and for the student page that loads them: scripts, WASM, models and
# requests from this server only. It also stops MediaPipe's web bundle from posting usage logs to
# Google (it does so on close and every 60 s, with no option to turn it off): nothing leaves but the
# page's own requests. 'wasm-unsafe-eval' lets WebAssembly compile; no JavaScript eval is allowed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; "
                           "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
                           "style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                           "form-action 'self'")
IMMUTABLE = "public, max-age=31536000, immutable"  # the URL names the exact version
REVALIDATE = "no-cache"  # kept, but checked with the server (304 when unchanged) before each use


class JoinFiles(StaticFiles):
    """One folder's files of known types (only `allowed` ones, when given), with our MIME types and
    cache policy; a path that leaves the folder is refused by StaticFiles' own check (404)."""

    def __init__(self, directory: Path, cache_control: str, allowed: frozenset[str] | None = None) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.cache_control = cache_control
        self.allowed = allowed

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at `path` (normalised by StaticFiles), or 404 for an unknown type or file."""
        relative = path.replace(os.sep, "/")
        if (os.path.splitext(relative)[1] not in MEDIA_TYPES
                or (self.allowed is not None and relative not in self.allowed)):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        """StaticFiles' response (304 when unchanged) with our MIME type and cache headers."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code != 304:
            response.headers["content-type"] = MEDIA_TYPES[os.path.splitext(str(full_path))[1]]
        response.headers["cache-control"] = self.cache_control
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        return response


def library_url(package: NpmPackage) -> str:
    """The URL prefix of one pinned library: its version is in the path, so it is cached for good."""
    return f"{LIB_URL}/{package.folder}"


def library_urls() -> dict[str, str]:
    """Where the page finds its libraries and models (the keys dashboard/join/static/libraries.js reads)."""
    onnx_path, json_path = web_model_paths()
    tasks, ort = library_url(TASKS_VISION), library_url(ONNXRUNTIME_WEB)
    return {
        "static": f"{STATIC_URL}/",
        "tasks_vision_module": f"{tasks}/vision_bundle.mjs",
        "tasks_vision_wasm": f"{tasks}/wasm",
        "onnxruntime_module": f"{ort}/dist/ort.wasm.min.mjs",
        "onnxruntime_wasm": f"{ort}/dist/",
        "face_model": f"{FACE_MODEL_URL}/{FACE_MODEL}",
        "expression_model": f"{EXPRESSION_MODEL_URL}/{onnx_path.name}",
        "expression_config": f"{EXPRESSION_MODEL_URL}/{json_path.name}",
    }


def join_asset_routes(root: Path | None = None) -> list[BaseRoute]:
    """The routes serving the student page's files from the asset cache (`root`, default the user's).

    Raises AssetError (one line, saying to run `make assets`) when a library or model is missing.
    """
    root = root or cache_dir()
    face_model = asset_path(FACE_MODEL, root)
    try:
        read_web_model_config(root)
    except WebModelError as exc:
        raise AssetError(str(exc)) from exc
    onnx_path, json_path = web_model_paths(root)
    routes: list[BaseRoute] = [Mount(STATIC_URL, app=JoinFiles(STATIC_DIR, REVALIDATE))]
    for package in (TASKS_VISION, ONNXRUNTIME_WEB):
        folder = web_package_dir(package, root)
        routes.append(Mount(library_url(package), app=JoinFiles(folder, IMMUTABLE, frozenset(package.files))))
    routes.append(Mount(FACE_MODEL_URL, app=JoinFiles(face_model.parent, REVALIDATE, frozenset({FACE_MODEL}))))
    routes.append(Mount(EXPRESSION_MODEL_URL, app=JoinFiles(onnx_path.parent, REVALIDATE,
                                                            frozenset({onnx_path.name, json_path.name}))))
    return routes

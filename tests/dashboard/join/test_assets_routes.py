"""The join asset routes over HTTP: each file with its MIME type and cache policy, nothing outside them."""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from dashboard.join.assets_routes import (
    CONTENT_SECURITY_POLICY,
    IMMUTABLE,
    REVALIDATE,
    join_asset_routes,
    library_urls,
)
from models.assets import AssetError, cache_dir
from models.web_assets import ONNXRUNTIME_WEB, TASKS_VISION, package_dir
from tests.dashboard.join.kit import serving


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The routes over the user's asset cache (`make assets`), served by uvicorn on loopback."""
    try:
        app = Starlette(routes=join_asset_routes())
    except AssetError as exc:
        pytest.fail(str(exc))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as http:
        yield http


@pytest.mark.parametrize(("key", "media_type", "cache_control"), [
    ("tasks_vision_module", "text/javascript; charset=utf-8", IMMUTABLE),
    ("onnxruntime_module", "text/javascript; charset=utf-8", IMMUTABLE),
    ("face_model", "application/octet-stream", REVALIDATE),
    ("expression_model", "application/octet-stream", REVALIDATE),
    ("expression_config", "application/json", REVALIDATE),
])
def test_each_page_url_is_served_with_its_type_and_cache_policy(client, key, media_type, cache_control) -> None:
    response = client.get(library_urls()[key])
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["cache-control"] == cache_control
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("url", [
    f"{library_urls()['tasks_vision_wasm']}/vision_wasm_internal.wasm",
    f"{library_urls()['tasks_vision_wasm']}/vision_wasm_nosimd_internal.wasm",
    f"{library_urls()['onnxruntime_wasm']}ort-wasm-simd-threaded.wasm",
])
def test_webassembly_is_served_as_application_wasm(client, url) -> None:
    response = client.get(url)
    assert (response.status_code, response.headers["content-type"]) == (200, "application/wasm")
    assert response.content[:4] == b"\0asm"


@pytest.mark.parametrize("module", ["measures.js", "expression.js", "libraries.js"])
def test_our_modules_are_served_as_javascript_and_revalidated(client, module) -> None:
    response = client.get(f"/join/static/{module}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == REVALIDATE
    again = client.get(f"/join/static/{module}", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_served_library_is_the_extracted_file(client) -> None:
    served = client.get(library_urls()["onnxruntime_module"]).content
    assert served == (package_dir(ONNXRUNTIME_WEB) / "dist" / "ort.wasm.min.mjs").read_bytes()


@pytest.mark.parametrize("url", [
    "/join/lib/tasks-vision-1.1.0/manifest.json",  # in the folder, but not a file the page needs
    "/join/lib/tasks-vision-1.1.0/package.json",
    "/join/lib/tasks-vision-1.0.0/vision_bundle.mjs",  # another version
    "/join/model/face/emotion_model.hdf5",  # beside the face model in the cache
    "/join/model/face/minixception_fer2013.pt",
    "/join/model/expression/onnxruntime-web-1.31.1/dist/ort.wasm.min.mjs",
    "/join/static/",
    "/join/static/__init__.py",
    "/join/static/%2e%2e/assets_routes.py",
    "/join/static/..%2fassets_routes.py",
    "/join/static/%2e%2e/%2e%2e/%2e%2e/models/web_assets.py",
    "/join/model/face/%2e%2e/%2e%2e/.ssh/id_rsa",
])
def test_anything_else_is_not_found(client, url) -> None:
    assert client.get(url).status_code == 404


def _raw_get(base_url: str, path: str) -> int:
    """The status for a request line carrying `path` exactly as written (no client normalises it)."""
    host = urlsplit(base_url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_plain_path_is_served_to_the_raw_client(base_url) -> None:
    assert _raw_get(base_url, "/join/static/measures.js") == 200


@pytest.mark.parametrize("path", [
    "/join/static/../../../tests/dashboard/join/harness/parity.js",  # a real .js file outside the folder
    "/join/static/../assets_routes.py",
    "/join/static/../../../models/web_assets.py",
    "/join/lib/tasks-vision-1.1.0/../onnxruntime-web-1.31.1/manifest.json",
    "/join/lib/tasks-vision-1.1.0/wasm/../../../minixception-fer2013.onnx",
    "/join/model/face/../web/minixception-fer2013.onnx",
])
def test_a_dot_dot_path_never_leaves_its_folder(base_url, path) -> None:
    assert _raw_get(base_url, path) == 404


def test_only_get_and_head_are_answered(client) -> None:
    url = library_urls()["expression_config"]
    assert client.head(url).status_code == 200
    assert client.post(url, content=b"{}").status_code == 405


def test_missing_assets_say_to_run_make_assets(tmp_path) -> None:
    with pytest.raises(AssetError, match="face_landmarker.task is missing .*`make assets`"):
        join_asset_routes(tmp_path)
    (tmp_path / "face_landmarker.task").write_bytes((cache_dir() / "face_landmarker.task").read_bytes())
    with pytest.raises(AssetError, match="expression model is missing or unreadable .*`make assets`"):
        join_asset_routes(tmp_path)


def test_a_damaged_library_says_to_run_make_assets(tmp_path) -> None:
    shutil.copy(cache_dir() / "face_landmarker.task", tmp_path)
    shutil.copytree(cache_dir() / "web", tmp_path / "web")
    assert join_asset_routes(tmp_path)
    (package_dir(TASKS_VISION, tmp_path) / "wasm" / "vision_wasm_internal.wasm").write_bytes(b"\0asm")
    with pytest.raises(AssetError, match=r"tasks-vision 1\.1\.0 is missing or damaged .*`make assets`"):
        join_asset_routes(tmp_path)

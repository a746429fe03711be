"""The student page's browser libraries: pinned npm tarballs, verified, extracted file by file, offline after.

A local "registry" (http.server on loopback, laid out as the npm registry's tarball URLs) serves the
real pinned tarballs, or a wrong one, so the download path runs for real without the internet.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.assets import AssetError, cache_dir
from models.web_assets import (
    MANIFEST,
    ONNXRUNTIME_WEB,
    REGISTRY_ENV,
    TASKS_VISION,
    WEB_PACKAGES,
    fetch_web_assets,
    is_extracted,
    package_dir,
    web_package_dir,
)

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


@pytest.fixture(scope="session")
def real_tarballs() -> dict[str, Path]:
    """The pinned tarballs as `make assets` keeps them in the user's cache (fetched there if absent)."""
    try:
        fetch_web_assets()
    except AssetError as exc:
        pytest.fail(str(exc))
    return {p.name: cache_dir() / "npm" / f"{p.folder}.tgz" for p in WEB_PACKAGES}


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """A static HTTP server for `folder` on a free loopback port, for the block; its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture()
def registry(tmp_path, real_tarballs, monkeypatch) -> Iterator[Path]:
    """A local registry serving the real tarballs at npm's URLs; $CLASSPULSE_NPM_REGISTRY points at it."""
    folder = tmp_path / "registry"
    for package in WEB_PACKAGES:
        dest = folder / package.name / "-" / f"{package.folder}.tgz"
        dest.parent.mkdir(parents=True)
        shutil.copyfile(real_tarballs[package.name], dest)
    with _serve(folder) as url:
        monkeypatch.setenv(REGISTRY_ENV, url)
        yield folder


def test_every_package_pins_version_size_sha256_licence_and_files() -> None:
    for package in WEB_PACKAGES:
        assert package.version.count(".") == 2 and package.size > 0 and package.licence and package.files
        assert len(package.sha256) == 64 and int(package.sha256, 16) >= 0
    assert TASKS_VISION.tarball_url() == (
        "https://registry.npmjs.org/@mediapipe/tasks-vision/-/tasks-vision-1.1.0.tgz")
    assert ONNXRUNTIME_WEB.tarball_url("https://mirror.school/") == (
        "https://mirror.school/onnxruntime-web/-/onnxruntime-web-1.31.1.tgz")


def test_fetch_downloads_verifies_and_extracts_only_the_named_files(tmp_path, registry) -> None:
    root = tmp_path / "cache"
    folders = fetch_web_assets(root)
    for package, folder in zip(WEB_PACKAGES, folders, strict=True):
        assert folder == package_dir(package, root)
        extracted = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert extracted == {*package.files, MANIFEST}
        manifest = json.loads((folder / MANIFEST).read_text())
        assert manifest["tarball_sha256"] == package.sha256
        for rel, (size, digest) in manifest["files"].items():
            data = (folder / rel).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest)
        assert (root / "npm" / f"{package.folder}.tgz").stat().st_size == package.size


def test_a_second_fetch_is_a_no_op_without_the_network(tmp_path, registry, monkeypatch) -> None:
    root = tmp_path / "cache"
    fetch_web_assets(root)
    stamps = {p: p.stat().st_mtime_ns for p in (root / "web").rglob("*") if p.is_file()}
    monkeypatch.setenv(REGISTRY_ENV, UNREACHABLE)
    fetch_web_assets(root)
    assert {p: p.stat().st_mtime_ns for p in (root / "web").rglob("*") if p.is_file()} == stamps


def test_a_damaged_file_is_extracted_again_from_the_kept_tarball(tmp_path, registry, monkeypatch) -> None:
    root = tmp_path / "cache"
    fetch_web_assets(root)
    wasm = package_dir(TASKS_VISION, root) / "wasm" / "vision_wasm_internal.wasm"
    wasm.write_bytes(b"\0asm damaged")
    assert not is_extracted(TASKS_VISION, root) and is_extracted(ONNXRUNTIME_WEB, root)
    monkeypatch.setenv(REGISTRY_ENV, UNREACHABLE)
    fetch_web_assets(root)
    assert is_extracted(TASKS_VISION, root)


def test_a_tarball_with_other_content_is_refused_and_not_kept(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "registry"
    fake = folder / TASKS_VISION.name / "-" / f"{TASKS_VISION.folder}.tgz"
    fake.parent.mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/vision_bundle.mjs")
        info.size = 12
        tar.addfile(info, io.BytesIO(b"export {};\n\n"))
    fake.write_bytes(buffer.getvalue())
    root = tmp_path / "cache"
    with _serve(folder) as url:
        monkeypatch.setenv(REGISTRY_ENV, url)
        with pytest.raises(AssetError, match=r"checksum mismatch for @mediapipe/tasks-vision 1\.1\.0"):
            fetch_web_assets(root)
    assert not list((root / "npm").iterdir())  # nothing unverified is kept
    assert not package_dir(TASKS_VISION, root).exists()


def test_offline_without_a_tarball_names_the_library_and_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(REGISTRY_ENV, UNREACHABLE)
    with pytest.raises(AssetError, match=r"could not download @mediapipe/tasks-vision 1\.1\.0 .*`make assets`"):
        fetch_web_assets(tmp_path / "cache")


def test_a_missing_library_says_to_run_make_assets(tmp_path) -> None:
    with pytest.raises(AssetError, match=r"onnxruntime-web 1\.31\.1 is missing or damaged .*`make assets`"):
        web_package_dir(ONNXRUNTIME_WEB, tmp_path)

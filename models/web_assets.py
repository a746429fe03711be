"""The student page's browser libraries: npm tarballs fetched by exact version and SHA-256, served by us.

No CDN, ever: each package names its exact version, the SHA-256 and size of its tarball on the npm
registry, and the files the page needs from it. `fetch_web_assets()` downloads each tarball once into
the cache (`npm/`), checks it, extracts only those files into `web/<name>-<version>/` with a manifest
of their sizes and SHA-256s, and is a no-op when every file is already there and intact. Plain HTTPS
(httpx): a teacher's machine needs no npm.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from models.assets import AssetError, cache_dir, sha256_of

log = logging.getLogger(__name__)

NPM_REGISTRY = "https://registry.npmjs.org"
# A school's own npm mirror, if it has one (like pip's PIP_INDEX_URL); the tarballs are checked alike.
REGISTRY_ENV = "CLASSPULSE_NPM_REGISTRY"
MANIFEST = "manifest.json"
_FIX = "run `make assets` (or `python -m models fetch-assets`) with access to the npm registry"


@dataclass(frozen=True, slots=True)
class NpmPackage:
    """One pinned npm tarball and the files of it that the student page loads."""

    name: str
    version: str
    size: int
    sha256: str
    licence: str
    files: tuple[str, ...]  # paths inside the tarball's package/ folder

    @property
    def folder(self) -> str:
        """The cache folder (and URL segment) of this version: e.g. tasks-vision-1.1.0."""
        return f"{self.name.rsplit('/', 1)[-1]}-{self.version}"

    def tarball_url(self, registry: str = NPM_REGISTRY) -> str:
        """The registry's tarball address: <registry>/<name>/-/<basename>-<version>.tgz."""
        return f"{registry.rstrip('/')}/{self.name}/-/{self.folder}.tgz"


# MediaPipe's web tasks, as in its own samples: the ES module bundle and the WASM runtime it loads
# (FilesetResolver picks the SIMD build, the no-SIMD one on old browsers, the _module one on request).
TASKS_VISION = NpmPackage(
    "@mediapipe/tasks-vision", "1.1.0", 11_967_669,
    "46fc3d3d13fa5de631915929d045be2f74bb32e909d7a5b3a322b28976f54165",
    "Apache-2.0 (Google MediaPipe)",
    ("vision_bundle.mjs",
     "wasm/vision_wasm_internal.js", "wasm/vision_wasm_internal.wasm",
     "wasm/vision_wasm_nosimd_internal.js", "wasm/vision_wasm_nosimd_internal.wasm",
     "wasm/vision_wasm_module_internal.js", "wasm/vision_wasm_module_internal.wasm"),
)
# ONNX Runtime Web, plain WASM backend only (no WebGL/WebGPU/WebNN): the ES module and its runtime.
ONNXRUNTIME_WEB = NpmPackage(
    "onnxruntime-web", "1.31.1", 34_586_352,
    "bdccdb9fbb9ab537247c0c734e9b1d2b1b338b4f2a09faa58f0dc1cfa27c312c",
    "MIT (Microsoft ONNX Runtime)",
    ("dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"),
)
WEB_PACKAGES: tuple[NpmPackage, ...] = (TASKS_VISION, ONNXRUNTIME_WEB)


def registry_url() -> str:
    """The npm registry to fetch from: $CLASSPULSE_NPM_REGISTRY, or the public one."""
    return os.environ.get(REGISTRY_ENV) or NPM_REGISTRY


def package_dir(package: NpmPackage, root: Path | None = None) -> Path:
    """Where a package's extracted files live in the asset cache."""
    return (root or cache_dir()) / "web" / package.folder


def _manifest(package: NpmPackage, folder: Path) -> dict[str, list] | None:
    """The extraction manifest {path: [size, sha256]}, None unless it is this pinned tarball's."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("tarball_sha256") != package.sha256
            or not isinstance(data.get("files"), dict) or sorted(data["files"]) != sorted(package.files)):
        return None
    return data["files"]


def is_extracted(package: NpmPackage, root: Path | None = None, *, verify: bool = True) -> bool:
    """Whether every file of the package is in the cache as extracted (sizes; SHA-256s when `verify`)."""
    folder = package_dir(package, root)
    files = _manifest(package, folder)
    if files is None:
        return False
    for rel, entry in files.items():
        path = folder / rel
        if not (isinstance(entry, list) and len(entry) == 2 and path.is_file()
                and path.stat().st_size == entry[0] and (not verify or sha256_of(path) == entry[1])):
            return False
    return True


def web_package_dir(package: NpmPackage, root: Path | None = None) -> Path:
    """The folder of an extracted package (sizes checked); AssetError with the fix when it is not there."""
    if not is_extracted(package, root, verify=False):
        raise AssetError(f"the browser library {package.name} {package.version} is missing or damaged in "
                         f"{package_dir(package, root)}; {_FIX}")
    return package_dir(package, root)


def _download(package: NpmPackage, dest: Path) -> None:
    """Stream the tarball to `dest`, refusing it unless its size and SHA-256 are the pinned ones."""
    url = package.tarball_url(registry_url())
    partial = dest.with_name(dest.name + ".part")
    digest, size = hashlib.sha256(), 0
    log.info("downloading %s", url)
    try:
        with httpx.stream("GET", url, timeout=60.0, follow_redirects=True) as response:
            response.raise_for_status()
            with partial.open("wb") as fh:
                for chunk in response.iter_bytes(1 << 16):
                    digest.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
    except (httpx.HTTPError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise AssetError(f"could not download {package.name} {package.version} from {url} ({exc}); "
                         f"check the network or {REGISTRY_ENV}, then {_FIX}") from exc
    if size != package.size or digest.hexdigest() != package.sha256:
        partial.unlink(missing_ok=True)
        raise AssetError(
            f"checksum mismatch for {package.name} {package.version} from {url}: expected sha256 "
            f"{package.sha256} ({package.size} bytes), got {digest.hexdigest()} ({size} bytes); the "
            "tarball differs from the pinned one, so it was not used")
    partial.replace(dest)


def _tarball(package: NpmPackage, root: Path) -> Path:
    """The verified tarball in the cache's npm/ folder, downloaded when absent or damaged."""
    folder = root / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{package.folder}.tgz"
    if path.is_file() and path.stat().st_size == package.size and sha256_of(path) == package.sha256:
        return path
    path.unlink(missing_ok=True)
    _download(package, path)
    return path


def _extract(package: NpmPackage, tarball: Path, dest: Path) -> None:
    """Write the package's named files (and nothing else) under `dest`, then their manifest."""
    files: dict[str, list] = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for rel in package.files:
                member = tar.extractfile(f"package/{rel}")
                if member is None:
                    raise KeyError(rel)
                data = member.read()
                target = dest / rel  # our own path: a member's name never chooses where it is written
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".part")
                partial.write_bytes(data)
                partial.replace(target)
                files[rel] = [len(data), hashlib.sha256(data).hexdigest()]
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        tarball.unlink(missing_ok=True)
        raise AssetError(f"{tarball.name} is damaged or lacks a file the page needs ({exc}); {_FIX}") from exc
    manifest = {"package": package.name, "version": package.version, "tarball_sha256": package.sha256,
                "licence": package.licence, "files": files}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def fetch_web_assets(root: Path | None = None) -> list[Path]:
    """Download, verify and extract each pinned browser library into the cache; skip intact ones."""
    root = root or cache_dir()
    folders: list[Path] = []
    for package in WEB_PACKAGES:
        dest = package_dir(package, root)
        if not is_extracted(package, root):
            (dest / MANIFEST).unlink(missing_ok=True)  # a half-done extraction never reads as done
            _extract(package, _tarball(package, root), dest)
            log.info("verified %s %s (%d files)", package.name, package.version, len(package.files))
        folders.append(dest)
    return folders

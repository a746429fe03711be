"""Shared fixtures: the real converted mini-Xception (needs `python -m models fetch-assets`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.assets import AssetError

# A narrow paper CNN so that training tests stay within seconds on two CPU cores.
SMALL_PAPERCNN = {"widths": (8, 16, 16), "hidden": (32, 16), "dropout": 0.1}


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


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated Kaggle-format fer2013.csv: 12 training, 4 validation and 4 test images per class."""
    from tests.models.fer_synthetic import write_fer_csv

    return write_fer_csv(tmp_path_factory.mktemp("fer") / "fer2013.csv",
                         {"Training": 12, "PublicTest": 4, "PrivateTest": 4})


@pytest.fixture(scope="session")
def csv_run(fer_csv: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 2-epoch papercnn run (narrow widths) on `fer_csv`, trained once per session."""
    from models.train import TrainSettings, train

    settings = TrainSettings(arch="papercnn", data=fer_csv, out=tmp_path_factory.mktemp("run"), epochs=2,
                             batch_size=16, lr=3e-3, seed=0, model_kwargs=SMALL_PAPERCNN, progress=False)
    return settings, train(settings)

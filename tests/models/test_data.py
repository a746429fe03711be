"""FER-2013 loading in both layouts, and one clear error naming the bad row of a malformed CSV."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from models.__main__ import cli
from models.data import DatasetError, load_fer2013
from tests.models.fer_synthetic import write_fer_csv, write_fer_folders

GOOD_PIXELS = " ".join(["128"] * 2304)


def _csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_rows_go_to_train_val_and_test_by_usage(tmp_path: Path) -> None:
    path = write_fer_csv(tmp_path / "fer.csv", {"Training": 3, "PublicTest": 2, "PrivateTest": 1})
    splits = load_fer2013(path)
    assert {s: len(v) for s, v in splits.items()} == {"train": 21, "val": 14, "test": 7}
    assert splits["train"].images.shape == (21, 48, 48) and splits["train"].images.dtype == np.uint8
    assert np.bincount(splits["test"].labels).tolist() == [1] * 7


def test_csv_pixels_are_read_row_major(tmp_path: Path) -> None:
    pixels = " ".join(str(i % 256) for i in range(2304))
    faces = load_fer2013(_csv(tmp_path, "emotion,pixels,Usage", f"3,{pixels},Training"))["train"]
    assert faces.labels.tolist() == [3]
    assert faces.images[0, 0, :3].tolist() == [0, 1, 2] and faces.images[0, 1, 0] == 48


def test_folders_give_train_a_fixed_validation_holdout_and_test(tmp_path: Path) -> None:
    root = write_fer_folders(tmp_path / "fer", {"train": 10, "test": 2})
    splits = load_fer2013(root)
    assert {s: len(v) for s, v in splits.items()} == {"train": 63, "val": 7, "test": 14}
    again = load_fer2013(root)
    np.testing.assert_array_equal(again["val"].images, splits["val"].images)


def test_folder_with_an_unknown_class_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train" / "bored").mkdir(parents=True)
    with pytest.raises(DatasetError, match="bored"):
        load_fer2013(tmp_path)


@pytest.mark.parametrize(("lines", "message"), [
    (["label,pixels,Usage", f"0,{GOOD_PIXELS},Training"],
     "fer2013.csv: columns are label,pixels,Usage; expected emotion,pixels,Usage (Kaggle fer2013.csv)"),
    (["emotion,pixels,Usage", f"0,{GOOD_PIXELS},Training", f"1,{' '.join(['1'] * 2303)},Training"],
     "fer2013.csv row 2 (line 3): pixels has 2303 values, expected 2304 (48×48)"),
    (["emotion,pixels,Usage", f"0,{' '.join(['7'] * 2303)} x9,PublicTest"],
     "fer2013.csv row 1 (line 2): pixels has a non-numeric value 'x9'"),
    (["emotion,pixels,Usage", f"happy,{GOOD_PIXELS},Training"],
     "fer2013.csv row 1 (line 2): emotion 'happy' is not an integer"),
    (["emotion,pixels,Usage", f"9,{GOOD_PIXELS},Training"],
     "fer2013.csv row 1 (line 2): emotion 9 is outside 0..6"),
    (["emotion,pixels,Usage", f"0,{' '.join(['300'] * 2304)},Training"],
     "fer2013.csv row 1 (line 2): pixels has values outside 0..255"),
    (["emotion,pixels,Usage", f"0,{GOOD_PIXELS},Training", f"0,{GOOD_PIXELS},Training,extra"],
     "fer2013.csv row 2 (line 3): 4 fields, expected 3 (emotion,pixels,Usage)"),
    (["emotion,pixels,Usage", f"0,{GOOD_PIXELS},Validation"],
     "fer2013.csv row 1 (line 2): Usage 'Validation' is not one of Training, PublicTest, PrivateTest"),
])
def test_malformed_csv_raises_one_line_naming_the_row(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        load_fer2013(_csv(tmp_path, *lines))
    assert str(info.value) == message


def test_train_command_turns_a_malformed_csv_into_one_error_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "emotion,pixels,Usage", f"0,{' '.join(['1'] * 10)},Training")
    result = CliRunner().invoke(cli, ["train", "--arch", "papercnn", "--data", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: fer2013.csv row 1 (line 2): pixels has 10 values, expected 2304 (48×48)"]


def test_missing_dataset_names_both_layouts(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="fer2013.csv or a folder"):
        load_fer2013(tmp_path / "nowhere")

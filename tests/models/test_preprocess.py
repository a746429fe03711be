"""Preprocessing steps on literal arrays, and the pipeline a config selects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.config import ModelConfig
from models.preprocess import (
    compensate_light,
    equalise_histogram,
    prepare_crop,
    prepare_crops,
    resize,
    smooth_gaussian,
    stretch_contrast,
    to_grey,
    to_input_tensor,
)

U8 = np.uint8


@pytest.mark.parametrize(("image", "expected"), [
    (np.array([[7, 9]], U8), [[7, 9]]),
    (np.array([[[7], [9]]], U8), [[7, 9]]),
    (np.array([[[255, 0, 0], [0, 0, 255]]], U8), [[29, 76]]),       # BGR: blue weighs 0.114, red 0.299
    (np.array([[[0, 255, 0, 10]]], U8), [[150]]),                   # BGRA: alpha ignored
])
def test_to_grey_accepts_grey_and_bgr(image: np.ndarray, expected: list[list[int]]) -> None:
    assert to_grey(image).tolist() == expected


def test_to_grey_rejects_float_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        to_grey(np.zeros((2, 2), np.float32))


def test_histogram_equalisation_spreads_two_levels_to_the_ends() -> None:
    grey = np.array([[100, 100], [101, 101]], U8)
    assert equalise_histogram(grey).tolist() == [[0, 0], [255, 255]]


def test_gaussian_smoothing_spreads_a_spike_and_keeps_a_flat_image() -> None:
    spike = np.zeros((5, 5), U8)
    spike[2, 2] = 160
    out = smooth_gaussian(spike)
    assert out[2, 2] < 160 and out[2, 1] > 0 and out[0, 0] == 0
    assert out[2, 1] == out[1, 2] == out[2, 3] == out[3, 2]
    assert smooth_gaussian(np.full((4, 4), 77, U8)).tolist() == [[77] * 4] * 4


def test_light_compensation_brings_the_brightest_pixels_to_white() -> None:
    grey = np.array([[10, 20], [40, 100]], U8)
    assert compensate_light(grey, top_fraction=0.25).tolist() == [[26, 51], [102, 255]]


def test_light_compensation_removes_a_colour_cast_per_channel() -> None:
    bgr = np.array([[[50, 100, 200], [10, 20, 40]]], U8)
    assert compensate_light(bgr, top_fraction=0.5).tolist() == [[[255, 255, 255], [51, 51, 51]]]


def test_light_compensation_leaves_a_black_image_black() -> None:
    assert compensate_light(np.zeros((3, 3), U8)).tolist() == [[0] * 3] * 3


def test_contrast_stretch_maps_the_range_onto_0_255() -> None:
    grey = np.array([[40, 60], [120, 120]], U8)
    assert stretch_contrast(grey, 0, 100).tolist() == [[0, 64], [255, 255]]


def test_contrast_stretch_leaves_a_flat_image_alone() -> None:
    assert stretch_contrast(np.full((2, 2), 9, U8)).tolist() == [[9, 9], [9, 9]]


def test_resize_is_a_no_op_at_the_target_size_and_averages_when_shrinking() -> None:
    grey = np.array([[0, 100], [200, 100]], U8)
    assert resize(grey, (2, 2)) is grey
    assert resize(grey, (1, 1), "area").tolist() == [[100]]


def test_prepare_crop_applies_the_selected_steps_in_canonical_order() -> None:
    crop = np.array([[100, 100, 101, 101]] * 4, U8)
    assert prepare_crop(crop, (), (4, 4)).tolist() == crop.tolist()
    assert prepare_crop(crop, ("equalise",), (4, 4)).tolist() == [[0, 0, 255, 255]] * 4


def test_prepare_crop_refuses_unknown_steps() -> None:
    with pytest.raises(ValueError, match="sharpen"):
        prepare_crop(np.zeros((4, 4), U8), ("sharpen",))


def test_prepare_crops_resizes_mixed_grey_and_bgr_crops_to_the_config_size() -> None:
    cfg = ModelConfig(arch="x", name="x", input_size=(1, 2, 2), preprocess=())
    batch = prepare_crops([np.full((6, 4), 30, U8), np.full((3, 5, 3), 200, U8)], cfg)
    assert batch.shape == (2, 2, 2) and batch.dtype == U8
    assert batch[:, 0, 0].tolist() == [30, 200]


@pytest.mark.parametrize(("mean", "std", "expected"), [(0.5, 0.5, [-1.0, 1.0]), (0.0, 1.0, [0.0, 1.0])])
def test_input_tensor_scales_with_the_config(mean: float, std: float, expected: list[float]) -> None:
    cfg = ModelConfig(arch="x", name="x", input_size=(1, 1, 2), mean=mean, std=std)
    x = to_input_tensor(np.array([[[0, 255]]], U8), cfg)
    assert x.shape == (1, 1, 1, 2) and x.dtype == torch.float32
    assert x.flatten().tolist() == expected

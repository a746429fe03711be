"""The browser-cost study's pure parts: what counts as the page's download, and its report."""

from __future__ import annotations

from benchmarks.browser_cost import _groups, markdown

DOWNLOADS = {
    "/bench/": 176, "/bench/cost.js": 2107,  # the benchmark's own page: not the student's download
    "/join/static/measures.js": 7702, "/join/static/expression.js": 9752,
    "/join/lib/tasks-vision-1.1.0/vision_bundle.mjs": 156135,
    "/join/lib/tasks-vision-1.1.0/wasm/vision_wasm_internal.wasm": 12997248,
    "/join/model/face/face_landmarker.task": 3758596,
    "/join/lib/onnxruntime-web-1.31.1/dist/ort-wasm-simd-threaded.wasm": 14848852,
    "/join/model/expression/minixception-fer2013.onnx": 314112,
}
INFO = {"measured_at": "2026-01-01T00:00:00+00:00", "git_commit": "abc1234", "cpu": "test CPU", "cpus_usable": 2,
        "load_avg_1m": 0.5, "python": "3.11.7", "versions": {"numpy": "2.4.6"}}


def test_the_download_is_grouped_by_part_of_the_page_without_the_benchmarks_own_files() -> None:
    groups = _groups(DOWNLOADS)
    assert groups == {
        "ClassPulse modules": {"files": 2, "bytes": 17454},
        "MediaPipe tasks-vision 1.1.0": {"files": 2, "bytes": 13153383},
        "FaceLandmarker model (face_landmarker.task)": {"files": 1, "bytes": 3758596},
        "onnxruntime-web 1.31.1": {"files": 1, "bytes": 14848852},
        "expression CNN (ONNX + config)": {"files": 1, "bytes": 314112},
    }


def test_the_report_names_each_step_and_totals_the_first_load() -> None:
    step = {"median_ms": 1.0, "p90_ms": 2.0, "samples": 10}
    data = {"chromium": "156", "frames": 12, "with_a_face": 9, "warm_up": 3,
            "load_ms": {"landmarker": 900, "expression_model": 500},
            "steps": {k: step for k in ("landmarks_ms", "measures_ms", "crop_ms", "cnn_ms")},
            "sample_ms": {"median_ms": 4.0, "p90_ms": 8.0, "samples": 10}, "download_groups": _groups(DOWNLOADS)}
    text = markdown(data, INFO)
    assert "| **one sample** | 4.0 | 8.0 |" in text
    assert "| **first load** | 7 | 32.09 |" in text
    assert "FaceLandmarker (VIDEO mode)" in text and "expression CNN (onnxruntime-web)" in text

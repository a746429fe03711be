"""A teacher's Live page in Chromium, timed: each refresh of its live card, from the browser's
request (a `rerun_script` message on the page's WebSocket) to the server's `script_finished`.

python -m benchmarks.live_watch --url URL --seconds S --json PATH

Run in a process of its own beside a load (so the load's event loop does not delay the frames'
timestamps). The messages are read with Streamlit's own protobuf classes. Writes the refresh
times (ms), the gaps between finished refreshes (s), what the card showed last and the CPU
seconds its Chromium used meanwhile.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click
import numpy as np
import psutil
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.servers import CHROMIUM, CHROMIUM_ARGS

log = logging.getLogger(__name__)


class RefreshClock:
    """Pairs each rerun request the page sends with the next `script_finished` it receives."""

    def __init__(self) -> None:
        self.asked_at: float | None = None
        self.render_ms: list[float] = []
        self.finished_at: list[float] = []

    def sent(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes):
            msg = BackMsg()
            msg.ParseFromString(payload)
            if msg.WhichOneof("type") == "rerun_script":
                self.asked_at = time.perf_counter()

    def received(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes):
            msg = ForwardMsg()
            msg.ParseFromString(payload)
            if msg.WhichOneof("type") == "script_finished" and self.asked_at is not None:
                now = time.perf_counter()
                self.render_ms.append((now - self.asked_at) * 1000)
                self.finished_at.append(now)
                self.asked_at = None

    def figures(self, skip: int) -> dict:
        """After the first `skip` refreshes (the page's opening): count, p50/p95/max ms, gaps."""
        ms = self.render_ms[skip:]
        gaps = (
            np.diff(self.finished_at[skip:]) if len(self.finished_at) > skip + 1 else np.array([])
        )
        pct = lambda a, q: float(np.percentile(a, q)) if len(a) else float("nan")  # noqa: E731
        return {"refreshes": len(ms), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95),
                "max_ms": max(ms, default=float("nan")), "gap_p50_s": pct(gaps, 50),
                "gap_max_s": float(gaps.max()) if len(gaps) else float("nan")}  # fmt: skip


def _chromium_cpu_s() -> float:
    """CPU seconds used so far by this process's Chromium (its processes still running)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def watch(url: str, seconds: float, ready_text: str) -> dict:
    """Open `url`/live, wait for `ready_text` on the page, then time its refreshes for `seconds`."""
    from playwright.sync_api import sync_playwright

    clock = RefreshClock()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def on_socket(ws) -> None:  # noqa: ANN001
            ws.on("framesent", clock.sent)
            ws.on("framereceived", clock.received)

        page.on("websocket", on_socket)
        page.goto(f"{url.rstrip('/')}/live")
        page.get_by_text(ready_text).first.wait_for(timeout=120_000)
        skip = len(clock.render_ms)
        cpu_before = _chromium_cpu_s()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            page.wait_for_timeout(500)
        shown = page.get_by_test_id("stMetric").all_inner_texts()
        cpu_s = _chromium_cpu_s() - cpu_before  # read before its processes end
        browser.close()
    return {**clock.figures(skip), "metrics_shown": shown, "chromium_cpu_s": round(cpu_s, 1),
            "timed_s": seconds}  # fmt: skip


@click.command()
@click.option("--url", required=True, help="The dashboard's URL.")
@click.option("--seconds", type=float, required=True, help="How long to time its refreshes.")
@click.option(
    "--ready-text",
    default="Students",
    show_default=True,
    help="What the page shows once its live card is up.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(url: str, seconds: float, ready_text: str, json_path: Path) -> None:
    """Time a Live page's refreshes for `seconds` and write them as JSON."""
    logging.basicConfig(level=logging.WARNING)
    json_path.write_text(json.dumps(watch(url, seconds, ready_text), indent=2))


if __name__ == "__main__":
    main()

"""`python -m benchmarks.soak_trace OUT INTERVAL_S MODULE [ARGS...]`: run MODULE as `python -m` would,
under tracemalloc, and write where Python memory grew since the first interval to OUT every
INTERVAL_S seconds and at exit (the soak's --trace; the product itself imports nothing of this).

tracemalloc sees only Python's allocations (not MediaPipe's or torch's C++ heaps, nor SQLite's page
cache) and costs time and memory itself: RSS read under it is not the soak's figure.
"""

from __future__ import annotations

import atexit
import runpy
import sys
import threading
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

FRAMES = 8  # traceback depth kept per allocation
TOP = 25  # lines written per report


class GrowthWriter(threading.Thread):
    """Every interval, the top growth (by line) against the snapshot taken one interval in."""

    def __init__(self, out: Path, interval_s: float) -> None:
        super().__init__(name="soak-trace", daemon=True)
        self.out, self.interval_s = out, interval_s
        self.baseline: tracemalloc.Snapshot | None = None
        self.lock = threading.Lock()

    def run(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.write()

    def write(self) -> None:
        with self.lock:
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__),
                 tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])
            if self.baseline is None:
                self.baseline = snapshot
                return
            stats = snapshot.compare_to(self.baseline, "lineno")
            current, peak = tracemalloc.get_traced_memory()
            lines = [f"== {datetime.now(UTC).isoformat(timespec='seconds')} traced "
                     f"{current / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB); growth since baseline:"]
            lines += [str(stat) for stat in stats[:TOP]]
            with self.out.open("a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n\n")


def main() -> None:
    out, interval_s, module = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    tracemalloc.start(FRAMES)
    writer = GrowthWriter(out, interval_s)
    writer.start()
    atexit.register(writer.write)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

"""GUI timings (a plain script, not a test). Run under a virtual X server:

    xvfb-run -a python3 benchmarks/bench_gui.py

Prints: process start -> interactive window (first frame drawn, event loop idle), and
depth change -> finished safety update, excluding and including the frame render.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("THIGHMAP_SETTINGS_DIR", tempfile.mkdtemp(prefix="thighmap-bench-"))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from thighmap.gui.app import MainWindow  # noqa: E402


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    t_import = time.perf_counter() - T0
    w = MainWindow(offer_recovery=False)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    w.scene.render_now()
    app.processEvents()
    t_ready = time.perf_counter() - T0
    print(f"imports (Qt, VTK, thighmap):          {t_import:6.2f} s")
    print(
        f"process start -> interactive window:  {t_ready:6.2f} s "
        f"(window built in {w.timings['window_built_s']:.2f} s, first frame "
        f"{w.scene.last_frame_s * 1000:.0f} ms)"
    )

    tube = w.core.reference_atlas.tube("sciatic_nerve")
    nerve = np.asarray(tube.centres_mm[len(tube.centres_mm) // 2], float)
    w.handle_skin_pick(nerve + np.array([0.0, 120.0, 0.0]))
    w.on_tip_dragged(nerve)
    app.processEvents()
    w.scene.render_now()
    no_render: list[float] = []
    with_render: list[float] = []
    check: list[float] = []
    for k in range(20):
        depth = 10.0 + k * 2.0
        t = time.perf_counter()
        w.set_depth(depth)
        t1 = time.perf_counter()
        w.scene.render_now()
        t2 = time.perf_counter()
        no_render.append(t1 - t)
        with_render.append(t2 - t)
        check.append(w.timings["check_s"])
    med = statistics.median
    print(
        f"depth change -> safety update (no frame): median {med(no_render) * 1000:6.1f} ms, "
        f"max {max(no_render) * 1000:6.1f} ms  (core check median {med(check) * 1000:.1f} ms)"
    )
    print(
        f"depth change -> update + frame drawn:     median {med(with_render) * 1000:6.1f} ms, "
        f"max {max(with_render) * 1000:6.1f} ms"
    )
    print(f"final status: {w.safety.status}")
    w.undo.setClean()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Label layout timings (a plain script, not a test):

    python3 benchmarks/bench_labels.py            # the layout alone (viz.labels)
    xvfb-run -a python3 benchmarks/bench_labels.py --window   # also in the window

Prints the time of one layout of n labels (random anchors in a 600 x 730 view, the
3D view's size in a 1280x800 window, three needles), and with --window the time of
``Scene3D.place_labels`` with every label and three needles on, from behind and below.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

from thighmap.viz.labels import layout_labels


def layout_alone() -> None:
    rng = np.random.default_rng(7)
    viewport = (0.0, 0.0, 600.0, 730.0)
    for n in (10, 40, 80):
        times, placed = [], 0
        for _ in range(20):
            anchors = rng.uniform((200, 100), (400, 650), (n, 2))
            sizes = np.column_stack([rng.uniform(40, 110, n), np.full(n, 16.0)])
            prio = rng.integers(0, 4, n)
            keep = np.arange(n) < 3
            needles = rng.uniform((200, 100), (400, 650), (3, 2, 2))
            t = time.perf_counter()
            out = layout_labels(
                anchors, sizes, viewport, prio, keep=keep, needles_px=needles, avoid_px=(200, 80, 400, 670)
            )
            times.append(time.perf_counter() - t)
            placed += int(out.placed.sum())
        print(
            f"layout of {n:3d} labels: median {statistics.median(times) * 1000:6.1f} ms, "
            f"max {max(times) * 1000:6.1f} ms, {placed / 20:.1f} placed on average"
        )


def in_window() -> None:
    os.environ.setdefault("THIGHMAP_SETTINGS_DIR", tempfile.mkdtemp(prefix="thighmap-bench-"))
    from PySide6.QtWidgets import QApplication

    from thighmap.gui.app import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    w = MainWindow(offer_recovery=False)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    for key in ("labels", "landmarks", "tp_labels"):
        w.layers.set_checked(key, True)
    for tp in ("st_nct_mid", "bfl_nct_mid", "sm_lower_third"):
        w.add_from_trigger_point(tp)
    for view in ("posterior", "axial_from_below"):
        w.scene.camera(view)
        w.scene.render_now()
        times = []
        for _ in range(10):
            t = time.perf_counter()
            w.scene.place_labels()
            times.append(time.perf_counter() - t)
        shown, dropped = len(w.scene.label_rects), len(w.scene.labels_dropped)
        print(
            f"window, {view}: place_labels median {statistics.median(times) * 1000:6.1f} ms "
            f"({shown} labels shown, {dropped} dropped)"
        )
    w.undo.setClean()
    w.close()


if __name__ == "__main__":
    layout_alone()
    if "--window" in sys.argv:
        in_window()

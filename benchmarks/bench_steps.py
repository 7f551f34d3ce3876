"""Demonstration-step and search timings (a plain script, not a test). Under a virtual X
server:

    xvfb-run -a python3 benchmarks/bench_steps.py

Prints: applying a recorded step to the window (layers, labels, needles, outline; no
frame), between two different steps and for the same step again; one frame of the view;
one search over the atlas's structures.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("THIGHMAP_SETTINGS_DIR", tempfile.mkdtemp(prefix="thighmap-bench-"))

from PySide6.QtWidgets import QApplication

from thighmap.anatomy.search import search_structures
from thighmap.gui.app import MainWindow
from thighmap.gui.steps import apply_step


def _median_ms(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    w = MainWindow(offer_recovery=False)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    w.add_from_trigger_point("st_nct_mid")
    a = w.record_step("A")
    w.layers.set_checked("labels", False)
    w.layers.set_checked("skin", False)
    w.scene.camera("lateral")
    b = w.record_step("B")
    ms = _median_ms(lambda k: apply_step(w, (a, b)[k % 2]), 10)
    print(f"apply a step, two different steps: {ms:.0f} ms")
    print(f"apply a step, the same step again: {_median_ms(lambda k: apply_step(w, b), 10):.0f} ms")
    print(f"one frame of the view: {_median_ms(lambda k: w.scene.render_now(), 5):.0f} ms")
    structures = list(w.scene.atlas.structures.values())
    queries = ["hamstrings", "peroneal", "SM", "popliteal", "vessels", "xyzzy"]
    ms = _median_ms(lambda k: search_structures(structures, queries[k % len(queries)]), 600)
    print(f"one search over {len(structures)} structures: {ms:.2f} ms")
    w.undo.setClean()
    w.close()


if __name__ == "__main__":
    main()

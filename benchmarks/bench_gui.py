"""GUI timings (a plain script, not a test). Run under a virtual X server:

    xvfb-run -a python3 benchmarks/bench_gui.py

Prints: process start -> the first frame of the 3D view drawn, and -> interactive window
(shown, pending events handled, a frame drawn on request, event loop idle);
depth change, angle change and tip drag -> finished safety update (the edit: check,
needles, panels), and separately the frame drawn after it; with the cross-section panel
shown, the edit, and the cross-section's re-cut it schedules for when the event loop is
idle (coalesced: one per pause, not one per edit); the time to compute and draw each
skin map.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

# warm includes Python's bytecode cache, as an installed package has it: with
# PYTHONDONTWRITEBYTECODE set, every run would compile thighmap's sources again
sys.dont_write_bytecode = False
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
    frames: list[float] = []  # when each frame of the 3D view was finished
    w.pl.ren_win.AddObserver("EndEvent", lambda *_: frames.append(time.perf_counter() - T0))
    w.show()
    app.processEvents()
    w.scene.render_now()
    app.processEvents()
    t_ready = time.perf_counter() - T0
    print(f"imports (Qt, VTK, thighmap):          {t_import:6.2f} s")
    print(
        f"process start -> first frame drawn:   {frames[0]:6.2f} s "
        f"({len(frames)} frames drawn by 'interactive')"
    )
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
    med = statistics.median

    def edits(label: str, edit: object, n: int) -> None:
        """``n`` edits: the update (no frame) and the frame drawn after each, apart."""
        update: list[float] = []
        frame: list[float] = []
        check: list[float] = []
        for k in range(n):
            t = time.perf_counter()
            edit(k)  # type: ignore[operator]
            t1 = time.perf_counter()
            w.scene.render_now()
            t2 = time.perf_counter()
            update.append(t1 - t)
            frame.append(t2 - t1)
            check.append(w.timings["check_s"])
        print(
            f"{label} -> safety update (no frame): median {med(update) * 1000:6.1f} ms, "
            f"max {max(update) * 1000:6.1f} ms  (core check median {med(check) * 1000:.1f} ms)"
        )
        print(
            f"{label} -> frame drawn after it:   median {med(frame) * 1000:6.1f} ms, "
            f"max {max(frame) * 1000:6.1f} ms"
        )

    edits("depth change", lambda k: w.set_depth(10.0 + k * 2.0), 20)
    edits("angle change", lambda k: w.set_angles(10.0 + k, 15.0 * k), 20)
    tip = w.doc.selected_needle().tip_mm  # type: ignore[union-attr]
    edits("tip drag    ", lambda k: w.on_tip_dragged(tip + np.array([0.0, 0.5 * k, 1.0 * k])), 20)
    w.set_depth(40.0)
    print(f"final status: {w.safety.status}")

    # the same with the cross-section panel on screen: an edit schedules its re-cut for
    # when the event loop is idle (one re-cut for a burst of edits), measured apart
    w.docks["Cross-section"].show()
    app.processEvents()
    w.section.recompute()
    edit_s: list[float] = []
    recut_s: list[float] = []
    for k in range(10):
        t = time.perf_counter()
        w.set_depth(12.0 + k * 3.0)
        t1 = time.perf_counter()
        w.section.recompute()  # what the idle timer does
        t2 = time.perf_counter()
        edit_s.append(t1 - t)
        recut_s.append(t2 - t1)
        w.scene.render_now()
        app.processEvents()
    print(
        f"depth change, cross-section shown -> safety update: median {med(edit_s) * 1000:6.1f} ms, "
        f"max {max(edit_s) * 1000:6.1f} ms"
    )
    print(
        f"  then the cross-section re-cut (at idle):          median {med(recut_s) * 1000:6.1f} ms, "
        f"max {max(recut_s) * 1000:6.1f} ms"
    )
    w.docks["Cross-section"].hide()

    # skin maps (computed by the core, then drawn)
    w.needles.tp_combo.setCurrentIndex(max(w.needles.tp_combo.findData("bfl_nct_mid"), 0))
    for label, show in (
        ("approach map", w.maps.show_approach_to_trigger_point),
        ("depth map", w.maps.show_depth_map),
    ):
        t = time.perf_counter()
        show()
        w.scene.render_now()
        total = time.perf_counter() - t
        print(f"{label}: computed in {w.timings['map_s'] * 1000:6.1f} ms, drawn in {total * 1000:6.1f} ms")
    w.undo.setClean()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

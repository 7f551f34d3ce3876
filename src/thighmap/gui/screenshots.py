"""Regenerate the documentation screenshots of the main window.

    xvfb-run -a python3 -m thighmap.gui.screenshots docs/screenshots

Drives the real window through its public intentions (pick, aim, depth) and grabs the
whole window at 1280x800.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication

from thighmap.atomic import write_atomic

SIZE = (1280, 800)


def _save(pixmap: QPixmap, path: Path) -> None:
    """The PNG of ``pixmap``, written through :func:`thighmap.atomic.write_atomic`."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        raise OSError(f"{path}: the screenshot could not be encoded as PNG")
    write_atomic(path, bytes(buffer.data().data()))


def _settle(app: QApplication, window: object) -> None:
    for _ in range(3):
        app.processEvents()
    window.scene.render_now()  # type: ignore[attr-defined]
    app.processEvents()


def main(out_dir: str) -> int:
    os.environ.setdefault("THIGHMAP_SETTINGS_DIR", tempfile.mkdtemp(prefix="thighmap-shots-"))
    from thighmap.gui.app import MainWindow

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    w = MainWindow(offer_recovery=False)
    w.resize(*SIZE)
    w.show()
    _settle(app, w)
    _save(w.grab(), out / "01-start.png")

    # a safe needle: semitendinosus trigger point technique if there is one, else a
    # shallow perpendicular needle on the posteromedial thigh
    atlas = w.core.reference_atlas
    tps = [t for t in atlas.trigger_points.values() if t.muscle == "semitendinosus"]
    if tps:
        w.add_from_trigger_point(tps[0].id)
    else:
        w.handle_skin_pick(np.array([-30.0, 120.0, 200.0]))
    w.scene.camera("lateral")
    w.scene.camera("posterior")
    _settle(app, w)
    _save(w.grab(), out / "02-safe-needle.png")

    # a danger needle: aimed at the sciatic nerve at mid-thigh, seen from the side
    tube = atlas.tube("sciatic_nerve")
    nerve = np.asarray(tube.centres_mm[len(tube.centres_mm) // 2], float)
    w.handle_skin_pick(nerve + np.array([0.0, 120.0, 0.0]))
    w.on_tip_dragged(nerve)
    needle = w.doc.selected_needle()
    assert needle is not None
    w.set_depth(float(np.linalg.norm(nerve - needle.entry_mm)) - 2.0)
    w.scene.camera("medial")
    _settle(app, w)
    _save(w.grab(), out / "03-danger-needle.png")

    w.docks["Cross-section"].show()
    w.resizeDocks([w.docks["Cross-section"]], [330], Qt.Orientation.Vertical)
    w.section.recompute()
    _settle(app, w)
    _save(w.grab(), out / "04-cross-section.png")
    w.docks["Cross-section"].hide()

    # the approach map to the lateral mid-thigh trigger point, with a needle at its best entry
    w.needles.tp_combo.setCurrentIndex(max(w.needles.tp_combo.findData("bfl_nct_mid"), 0))
    w.maps.show_approach_to_trigger_point()
    w.maps.place_needle_at_best_entry()
    w.scene.camera("posterior")
    _settle(app, w)
    _save(w.grab(), out / "05-approach-map.png")

    w.maps.show_depth_map()
    _settle(app, w)
    _save(w.grab(), out / "06-depth-map.png")
    # the map's value under the resting mouse (the status bar; the tooltip is its own window)
    skin = w.core.model(w.plan).outer_skin().vertices
    band = skin[np.abs(skin[:, 2] - 60.0) < 4.0]
    w.mouse.hover_at(*w.scene.display_point(band[np.argmax(band[:, 1])]))
    _settle(app, w)
    _save(w.grab(), out / "08-map-value.png")
    w.maps.clear_map()

    # the measuring tool: from the back of semitendinosus to the back of biceps femoris
    w.view.set_visible("needles", False)
    w.measuring.set_active(True)
    for sid, z in (("semitendinosus", 250.0), ("biceps_femoris_long_head", 150.0)):
        v = atlas.mesh(sid).vertices
        band = v[np.abs(v[:, 2] - z) < 5.0]
        w.measuring.pick(*w.scene.display_point(band[np.argmax(band[:, 1])]))
    _settle(app, w)
    _save(w.grab(), out / "09-measure.png")
    w.measuring.set_active(False)

    # a trigger point's referral region shaded on the skin
    w.show_info("trigger_point", "st_nct_mid")
    _settle(app, w)
    _save(w.grab(), out / "10-referral.png")
    w.referral.show_for(None)
    w.view.set_visible("needles", True)

    # a two-step demonstration, presented full screen
    w.scene.camera("posterior")
    w.record_step("The hamstrings from behind", "Semitendinosus lies medial, biceps femoris lateral.")
    w.layers.set_checked("skin", False)
    w.layers.set_checked("subcutaneous_fat", False)
    w.scene.camera("lateral")
    w.record_step(
        "The sciatic nerve",
        "Deep to the long head of biceps femoris, on adductor magnus: the danger zone a deep "
        "needle in the back of the thigh must respect.",
    )
    w.presenter.start()
    w.presenter.show_step(1)
    import time

    t0 = time.perf_counter()
    while w.presenter._move is not None and time.perf_counter() - t0 < 10:
        app.processEvents()
    _settle(app, w)
    _save(w.grab(), out / "07-presentation.png")
    w.presenter.stop()
    w.undo.setClean()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))

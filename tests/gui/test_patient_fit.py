"""The patient dialog moves the plan's needles with the fit (one undo step) and every view
shows the re-checked needle: the 3D label, the Safety panel and the cross-section."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from thighmap.gui.dialogs import PatientDialog
from thighmap.planning import PatientProfile
from thighmap.safety.engine import model_for_patient

ON_SKIN_MM = 0.01


def _fill_patient_dialog(values: dict[str, float], seen: list[str]) -> None:
    """Answer the modal patient dialog the way a user would: tick, type, OK."""
    dlg = QApplication.activeModalWidget()
    if not isinstance(dlg, PatientDialog):  # not up yet
        QTimer.singleShot(20, lambda: _fill_patient_dialog(values, seen))
        return
    seen.append(dlg.windowTitle())
    for key, value in values.items():
        dlg.use[key].setChecked(True)
        dlg.spin[key].setValue(value)
    dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def _skin_distance(model, point) -> float:  # type: ignore[no-untyped-def]
    q, _n = model.skin_surface_frame(np.asarray(point, float))
    return float(np.linalg.norm(q - point))


def _label_max_safe(window, nid: str) -> str:  # type: ignore[no-untyped-def]
    """The text the 3D view draws in the needle's label (read from the VTK actor)."""
    actor = window.pl.actors.get(f"nlabel:{nid}")
    return "" if actor is None else str(actor.GetInput())


def test_patient_dialog_moves_needles_with_the_fit(window, session, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    atlas = session.reference_atlas
    # a trigger-point needle, and one placed on the skin and aimed deep (max safe depth
    # shorter than the needle, so the 3D label shows it)
    tp = window.add_from_trigger_point("bfl_nct_mid")
    ref = model_for_patient(None, atlas)
    entry, _normal = ref.skin_surface_frame(np.array([0.0, 90.0, 200.0]))
    placed = window.handle_skin_pick(entry)
    assert tp is not None and placed is not None
    window.set_depth(45.0)
    before = {n.id: n for n in window.plan.needles}
    assert window.doc.reports[placed.id].max_safe_depth_mm < placed.needle_length_mm
    window.docks["Cross-section"].show()
    steps = window.undo.count()

    values = {"thigh_length_mm": 380.0, "mid_thigh_circumference_mm": 430.0, "subcutaneous_fat_mm": 8.0}
    seen: list[str] = []
    QTimer.singleShot(0, lambda: _fill_patient_dialog(values, seen))
    window.edit_patient()
    assert seen == ["Patient profile"]
    profile = PatientProfile(**values)
    assert window.plan.patient == profile
    assert window.undo.count() == steps + 1  # one undoable step

    fitted = model_for_patient(profile, atlas)
    for nid, old in before.items():
        new = window.plan.needle(nid)
        assert _skin_distance(fitted, new.entry_mm) < ON_SKIN_MM, nid
        assert np.linalg.norm(new.entry_mm - old.entry_mm) > 1.0, nid  # it did move
    # the trigger-point needle ends at the fitted site
    site = fitted.atlas.trigger_points["bfl_nct_mid"].position_mm
    assert np.allclose(window.plan.needle(tp.id).tip_mm, site, atol=1e-3)

    # the 3D label, the Safety panel and the check agree on the new max safe depth
    window.select_needle(placed.id)
    report = window.doc.reports[placed.id]
    assert report.max_safe_depth_mm < window.plan.needle(placed.id).needle_length_mm
    expected = f"max safe {report.max_safe_depth_mm:.1f} mm"
    assert expected in _label_max_safe(window, placed.id)
    assert window.safety.max_safe.text().startswith(f"{report.max_safe_depth_mm:.1f} mm")
    fresh = fitted.check_needle(window.plan.needle(placed.id))
    assert abs(fresh.max_safe_depth_mm - report.max_safe_depth_mm) < 1e-9
    # the cross-section is redrawn on the fitted atlas with the moved needle
    qtbot.waitUntil(
        lambda: (
            window.section.drawn_for is not None
            and window.section.drawn_for[0] is window.core.atlas(window.plan)
            and window.section.drawn_for[1] is window.plan.needle(placed.id)
        ),
        timeout=5000,
    )
    # the user's view of it
    window.scene.render_now()
    window.grab().save(str(tmp_path / "fitted-small.png"))

    # undo puts every needle (and the patient) back
    window.undo.undo()
    assert window.plan.patient is None
    for nid, old in before.items():
        assert window.plan.needle(nid) == old
    window.select_needle(placed.id)
    back = window.doc.reports[placed.id]
    assert f"max safe {back.max_safe_depth_mm:.1f} mm" in _label_max_safe(window, placed.id)
    assert window.safety.max_safe.text().startswith(f"{back.max_safe_depth_mm:.1f} mm")


def test_approach_maps_follow_the_fit(window, session) -> None:  # type: ignore[no-untyped-def]
    """A map to a needle's tip or to a trigger point is redrawn to where it moved."""
    needle = window.add_from_trigger_point("bfl_nct_mid")
    assert needle is not None
    window.act_map_tip.trigger()
    assert np.allclose(window.maps.approach.target_mm, needle.tip_mm)
    profile = PatientProfile(thigh_length_mm=380, mid_thigh_circumference_mm=430, subcutaneous_fat_mm=8)
    assert window.set_patient(profile)
    moved = window.plan.needle(needle.id)
    assert np.linalg.norm(moved.tip_mm - needle.tip_mm) > 5.0
    assert np.allclose(window.maps.approach.target_mm, moved.tip_mm)

    window.needles.tp_combo.setCurrentIndex(window.needles.tp_combo.findData("st_nct_proximal"))
    window.act_map_tp.trigger()
    window.undo.undo()  # back to the reference adult: the map goes back with the site
    site = session.reference_atlas.trigger_points["st_nct_proximal"].position_mm
    assert np.allclose(window.maps.approach.target_mm, site)

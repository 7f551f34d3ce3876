"""End-to-end tests of the desktop window (pytest-qt, under pytest-xvfb)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

import thighmap
from thighmap.gui import storage
from thighmap.gui.dialogs import LICENCES, about_html
from thighmap.planning import Needle, Plan, save_plan
from thighmap.viz import scene

from .conftest import engine_or_skip, point_above_nerve

pytestmark = pytest.mark.gui


def _capture_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def critical(_parent, title, text, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(critical))
    return seen


def test_start_state(window) -> None:  # type: ignore[no-untyped-def]
    assert window.scene.atlas is not None
    assert "skin" in window.scene.atlas_actors
    assert window.scene.atlas_actors["skin"].prop.opacity < 0.5  # translucent skin
    assert window.safety.badge.text() == "NO NEEDLE"
    assert "untitled plan" in window.windowTitle()


def test_render_is_not_blank_and_shows_anatomy(window) -> None:  # type: ignore[no-untyped-def]
    window.scene.render_now()
    img = np.asarray(window.pl.screenshot(None, return_img=True), dtype=float)[..., :3]
    assert img.std() > 15.0, "the 3D view looks blank"
    assert img.mean() > 20.0, "the 3D view looks black"
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    muscle = (r > g + 35) & (r > b + 35)  # shaded muscle red/brown
    nerve = (r > 150) & (g > 120) & (b < 90)  # yellow nerve
    assert muscle.mean() > 0.02, "no muscle colour in the view"
    assert nerve.sum() > 30, "no nerve colour in the view"


def test_layers_visibility_and_show_only(window) -> None:  # type: ignore[no-untyped-def]
    window.layers.set_checked("femur", False)
    assert not window.scene.atlas_actors["femur"].GetVisibility()
    window.show_only("sciatic_nerve")
    visible = [s for s, a in window.scene.atlas_actors.items() if a.GetVisibility()]
    assert visible == ["sciatic_nerve"]
    window.show_only("")
    assert all(a.GetVisibility() for a in window.scene.atlas_actors.values())


def test_info_card_for_muscle_and_danger_structure(window) -> None:  # type: ignore[no-untyped-def]
    window.show_info("structure", "semitendinosus")
    text = window.info.toPlainText()
    assert "Semitendinosus" in text and "Innervation" in text and "Origin" in text
    window.show_info("structure", "sciatic_nerve")
    text = window.info.toPlainText()
    assert "Caution margin" in text and "Uncertainty source" in text


def test_about_box_says_not_a_medical_device() -> None:
    text = about_html()
    assert thighmap.NOT_A_MEDICAL_DEVICE.split(",")[0] in text
    assert thighmap.__version__ in text
    for name, licence in LICENCES:
        assert name in text and licence in text


def test_corrupt_file_shows_error_and_keeps_work(window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    errors = _capture_errors(monkeypatch)
    before = window.plan
    bad = tmp_path / "bad.thighplan.json"
    bad.write_text('{"format": "thighmap-plan", "version": 1, "needles": [', encoding="utf-8")
    assert window.open_plan(bad) is False
    assert window.plan is before
    assert len(errors) == 1
    _title, text = errors[0]
    assert "bad.thighplan.json" in text and "not valid JSON" in text
    wrong = tmp_path / "wrong.thighplan.json"
    wrong.write_text(json.dumps({"format": "thighmap-plan", "version": 7, "needles": []}))
    assert window.open_plan(wrong) is False
    assert "version" in errors[-1][1]


def test_excepthook_logs_and_shows(monkeypatch, settings_dir) -> None:  # type: ignore[no-untyped-def]
    shown: list[str] = []
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    storage.setup_logging()
    storage.install_excepthook(lambda summary, details: shown.append(summary))
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert shown == ["RuntimeError: boom in a slot"]
    log = (Path(storage.data_dir()) / storage.LOG_NAME).read_text(encoding="utf-8")
    assert "boom in a slot" in log


def test_recovery_is_offered_and_restores(qtbot, session, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from thighmap.gui.app import MainWindow

    plan_path = tmp_path / "p.thighplan.json"
    needle = Needle("n1", [30.0, 60.0, 200.0], [0.0, -1.0, 0.0], 10.0, 50.0, 0.25)
    save_plan(Plan(needles=[needle]), plan_path)
    changed = Plan(needles=[needle.with_changes(depth_mm=22.0)])
    import os
    import time

    storage.write_recovery(changed, str(plan_path))
    old = time.time() - 100
    os.utime(plan_path, (old, old))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    w = MainWindow(session=session, offer_recovery=False)
    qtbot.addWidget(w)
    assert w.offer_recovery() is True
    assert w.plan.needles[0].depth_mm == 22.0
    assert w.plan_path == str(plan_path)
    assert w.isWindowModified() or not w.undo.isClean()
    w.undo.setClean()
    w.close()
    storage.clear_recovery()
    assert storage.recovery_candidate() is None


# ----------------------------------------------------------------- needs the safety engine
def test_place_entry_aim_and_depth_to_caution_then_danger(window, session) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    skin_guess, nerve = point_above_nerve(session)
    needle = window.handle_skin_pick(skin_guess)
    assert needle is not None and window.selected == needle.id
    assert window.plan.needles[0].entry_mm[1] < skin_guess[1]  # snapped onto the skin
    # aim at the nerve with the tip handle, then walk the depth from shallow to deep
    window.on_tip_dragged(nerve)
    n = window.selected_needle()
    assert n is not None
    seen: list[str] = []
    depth = 3.0
    while depth <= n.needle_length_mm:
        window.set_depth(depth)
        status = window.safety.status
        if not seen or seen[-1] != status:
            seen.append(status)
            assert window.safety.badge.text() == status.upper()
            assert window.safety.badge_colour() == scene.STATUS_COLOURS[status]
        depth += 1.0
    assert "caution" in seen and "danger" in seen, seen
    assert seen.index("caution") < seen.index("danger")
    report = window.reports[n.id]
    assert "DANGER" in window.safety.sentence.text()
    assert report.nearest_danger is not None
    assert "fb:line" in window.scene.needle_actors  # closest-point line is drawn
    # undo takes the whole depth walk back in one step (merged commands)
    deep = window.selected_needle().depth_mm
    window.undo.undo()
    assert window.selected_needle().depth_mm == pytest.approx(n.depth_mm)
    window.undo.redo()
    assert window.selected_needle().depth_mm == deep
    assert window.safety.status == "danger"
    assert window.safety.badge.text() == "DANGER"


def test_save_and_reload(window, tmp_path, session) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    skin_guess, _ = point_above_nerve(session, 0.3)
    window.handle_skin_pick(skin_guess)
    window.set_depth(18.0)
    window.needles.gauge.setCurrentIndex(window.needles.gauge.findData(0.30))
    assert window.isWindowModified()
    path = tmp_path / "saved.thighplan.json"
    assert window.save_to(path)
    assert not window.isWindowModified()
    saved = window.plan
    window.new_plan()
    assert window.plan.needles == []
    assert window.open_plan(path)
    assert len(window.plan.needles) == 1
    assert window.plan.needles[0].isclose(saved.needles[0], tol_mm=0.01)
    assert window.plan.needles[0].gauge_mm == pytest.approx(0.30)
    assert str(path.resolve()) in storage.recent_files()


def test_needle_from_trigger_point_and_cross_section(window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    atlas = window.scene.atlas
    if not atlas.trigger_points:
        pytest.skip("the atlas has no trigger points yet")
    tp = next(iter(atlas.trigger_points))
    needle = window.add_from_trigger_point(tp)
    assert needle is not None and window.selected == needle.id
    window.docks["Cross-section"].show()
    window.section.recompute()
    along = window.section.along.slice
    assert along is not None and along.needle is not None
    assert any(sid == "skin" for sid, *_ in along.regions)
    axial = window.section.axial.slice
    assert axial is not None and len(axial.regions) > 5


def test_patient_profile_refits_and_rechecks(window, session) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    pytest.importorskip("thighmap.anatomy.fitting")
    from thighmap.planning import PatientProfile

    skin_guess, _ = point_above_nerve(session, 0.5)
    window.handle_skin_pick(skin_guess)
    before = window.scene.atlas
    window.push_edit(
        window.plan.with_changes(
            patient=PatientProfile(
                thigh_length_mm=400,
                mid_thigh_circumference_mm=480,
                subcutaneous_fat_mm=8,
                sex="female",
            )
        ),
        "Patient profile",
    )
    assert window.scene.atlas is not before
    assert "fitted" in window.status_label.text()
    assert window.selected in window.reports
    window.undo.undo()
    assert window.plan.patient is None

"""End-to-end tests of the desktop window (pytest-qt, under pytest-xvfb)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import thighmap
from thighmap.gui import storage
from thighmap.gui.dialogs import LICENCES, about_html
from thighmap.viz import scene

from .conftest import engine_or_skip, point_above_nerve, seen_back_point

pytestmark = pytest.mark.gui


def _capture_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The window's error messages (title, text), instead of modal dialogs."""
    from thighmap.gui import app as app_module

    seen: list[tuple[str, str]] = []

    def show(_parent, title, text):  # type: ignore[no-untyped-def]
        seen.append((title, text))

    monkeypatch.setattr(app_module, "show_plain_error", show)
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
    window.scene.show_only("sciatic_nerve")
    visible = [s for s, a in window.scene.atlas_actors.items() if a.GetVisibility()]
    assert visible == ["sciatic_nerve"]
    window.scene.show_only("")
    assert all(a.GetVisibility() for a in window.scene.atlas_actors.values())


def test_info_card_for_muscle_and_danger_structure(window) -> None:  # type: ignore[no-untyped-def]
    window.show_info("structure", "semitendinosus")
    text = window.info.toPlainText()
    assert "Semitendinosus" in text and "Innervation" in text and "Origin" in text
    window.show_info("structure", "sciatic_nerve")
    text = window.info.toPlainText()
    assert "danger zone" in text and "Why the zone is" in text and "caution" in text


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
    assert window.files.open_plan(bad) is False
    assert window.plan is before
    assert len(errors) == 1
    _title, text = errors[0]
    assert "bad.thighplan.json" in text and "not valid JSON" in text
    wrong = tmp_path / "wrong.thighplan.json"
    wrong.write_text(json.dumps({"format": "thighmap-plan", "version": 7, "needles": []}))
    assert window.files.open_plan(wrong) is False
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


# ----------------------------------------------------------------- needs the safety engine
def test_place_entry_aim_and_depth_to_caution_then_danger(window, session) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    skin_guess, nerve = point_above_nerve(session)
    needle = window.handle_skin_pick(skin_guess)
    assert needle is not None and window.doc.selected == needle.id
    assert window.plan.needles[0].entry_mm[1] < skin_guess[1]  # snapped onto the skin
    # aim at the nerve with the tip handle, then walk the depth from shallow to deep
    window.on_tip_dragged(nerve)
    n = window.doc.selected_needle()
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
    report = window.doc.reports[n.id]
    assert "DANGER" in window.safety.sentence.text()
    assert report.nearest_danger is not None
    assert "fb:line" in window.scene.needle_actors  # closest-point line is drawn
    # undo takes the whole depth walk back in one step (merged commands)
    deep = window.doc.selected_needle().depth_mm
    window.undo.undo()
    assert window.doc.selected_needle().depth_mm == pytest.approx(n.depth_mm)
    window.undo.redo()
    assert window.doc.selected_needle().depth_mm == deep
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
    assert window.files.save_to(path)
    assert not window.isWindowModified()
    saved = window.plan
    window.files.new_plan()
    assert window.plan.needles == []
    assert window.files.open_plan(path)
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
    assert needle is not None and window.doc.selected == needle.id
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
    assert window.doc.selected in window.doc.reports
    window.undo.undo()
    assert window.plan.patient is None


def test_approach_map_best_entry_and_depth_map(window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    idx = window.needles.tp_combo.findData("bfl_nct_mid")
    window.needles.tp_combo.setCurrentIndex(idx)
    window.act_map_tp.trigger()
    assert window.maps.approach is not None and window.maps.approach.best_index is not None
    assert not window.scene.atlas_actors["skin"].GetVisibility()  # the map replaces the skin
    assert window.act_map_best.isEnabled()
    window.scene.render_now()
    img = np.asarray(window.pl.screenshot(None, return_img=True), dtype=float)[..., :3]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    assert ((g > r + 25) & (g > b + 25)).mean() > 0.02, "no green (safe) skin in the approach map"
    assert "Best entry" in window.statusBar().currentMessage()

    needle = window.maps.place_needle_at_best_entry()
    assert needle is not None and window.doc.selected == needle.id
    assert window.doc.reports[needle.id].status != "danger"
    target = window.maps.approach.target_mm
    assert np.linalg.norm(window.doc.reports[needle.id].tip_mm - target) < 0.05
    window.undo.undo()
    assert needle.id not in {n.id for n in window.plan.needles}

    # the map follows the patient profile
    from thighmap.planning import PatientProfile

    before = window.maps.approach.caution_clearance_mm.copy()
    window.push_edit(
        window.plan.with_changes(patient=PatientProfile(mid_thigh_circumference_mm=620)), "Patient"
    )
    assert window.maps.approach is not None
    assert not np.allclose(window.maps.approach.caution_clearance_mm, before)
    window.undo.undo()

    window.act_map_depth.trigger()
    assert window.maps.approach is None and window.maps.map_request == ("depth",)
    window.scene.render_now()
    assert "Depth map" in window.statusBar().currentMessage()
    window.act_map_clear.trigger()
    assert window.maps.map_request is None
    assert window.scene.atlas_actors["skin"].GetVisibility()
    assert not any(str(n).startswith("map-") for n in window.pl.actors)


def test_unfittable_patient_is_refused_and_changes_nothing(window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    from thighmap.planning import PatientProfile

    errors = _capture_errors(monkeypatch)
    before = window.plan
    assert window.set_patient(PatientProfile(mid_thigh_circumference_mm=360, subcutaneous_fat_mm=45)) is False
    assert window.plan is before and window.undo.count() == 0
    assert errors and "cannot be reached" in errors[-1][1]


def test_pauses_split_depth_edits_into_undo_steps(window, session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    from thighmap.gui import commands

    skin_guess, _ = point_above_nerve(session)
    window.handle_skin_pick(skin_guess)
    window.set_depth(10.0)
    window.set_depth(12.0)  # quick succession: one step
    monkeypatch.setattr(commands, "MERGE_WINDOW_S", -1.0)  # as if the user paused
    window.set_depth(20.0)
    window.undo.undo()
    assert window.doc.selected_needle().depth_mm == pytest.approx(12.0)
    window.undo.undo()
    from thighmap.planning.edits import DEFAULT_DEPTH_MM

    assert window.doc.selected_needle().depth_mm == pytest.approx(DEFAULT_DEPTH_MM)  # before both steps


def test_click_through_the_translucent_skin_picks_what_is_seen(window) -> None:  # type: ignore[no-untyped-def]
    window.scene.camera("posterior")
    window.scene.render_now()
    atlas = window.scene.atlas
    # a point on the long head's posterior surface, seen from behind, projected to the screen
    back = seen_back_point(atlas, "biceps_femoris_long_head")
    ren = window.pl.renderer
    ren.SetWorldPoint(*scene.to_display(back), 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    hit = window.scene.pick(round(x), round(y))
    assert hit is not None and hit.kind == "structure"
    assert hit.ident not in ("skin", "subcutaneous_fat", "fascia_lata"), hit.ident
    # placing an entry still picks the skin itself
    skin = window.scene.pick(round(x), round(y), skin_only=True)
    assert skin is not None and skin.ident == "skin"


def test_plan_files_dropped_on_the_view_reach_the_window(window) -> None:  # type: ignore[no-untyped-def]
    assert not window.pl.acceptDrops()
    assert window.acceptDrops()


def _screen_point(window, point_mm: np.ndarray):  # type: ignore[no-untyped-def]
    """Where an atlas-frame point appears in the 3D view, as a Qt widget position."""
    from PySide6.QtCore import QPoint

    ren = window.pl.renderer
    ren.SetWorldPoint(*scene.to_display(np.asarray(point_mm, float)), 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    ratio = window.pl.devicePixelRatioF()
    return QPoint(round(x / ratio), round((window.pl.height() * ratio - 1 - y) / ratio))


def test_hover_outlines_and_names_what_is_under_the_mouse(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtTest import QTest

    window.scene.camera("posterior")
    window.scene.render_now()
    pos = _screen_point(window, seen_back_point(window.scene.atlas, "biceps_femoris_long_head"))
    QTest.mouseMove(window.pl, pos)
    qtbot.waitUntil(lambda: window.scene.focused is not None, timeout=3000)
    sid = window.scene.focused
    assert sid not in ("skin", "subcutaneous_fat", "fascia_lata")
    assert window.scene.atlas.structures[sid].name in window.statusBar().currentMessage()
    assert window.scene.focus_actor is not None


def test_clicking_a_needle_in_the_view_selects_it(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    engine_or_skip()
    first = window.add_from_trigger_point("st_nct_mid")
    second = window.add_from_trigger_point("bfl_nct_mid")
    assert window.doc.selected == second.id
    window.scene.camera("medial")  # the semitendinosus needle seen from the side
    window.scene.render_now()
    middle = first.entry_mm + first.direction * first.depth_mm / 2
    pos = _screen_point(window, middle)
    QTest.mouseClick(window.pl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: window.doc.selected == first.id, timeout=3000)
    from thighmap.gui.panels import ROLE_SID

    assert window.needles.list.currentItem().data(ROLE_SID) == first.id


def test_escape_and_the_panel_button_leave_placement_mode(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    window.needles.place.setChecked(True)
    assert window.act_place.isChecked()
    window.needles.place.setChecked(False)
    assert not window.act_place.isChecked()
    window.act_place.setChecked(True)
    window.pl.setFocus()
    QTest.keyClick(window.pl, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.act_place.isChecked(), timeout=2000)
    assert not window.needles.place.isChecked()


def test_layer_groups_for_danger_zones_and_trigger_points(window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    engine_or_skip()
    tree = window.layers.tree
    groups = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    for g in (
        "Skin, fat and fascia",
        "Muscles",
        "Bone",
        "Nerves",
        "Vessels",
        "Danger zones",
        "Trigger points",
    ):
        assert g in groups
    zone = window.scene.zone_actors["sciatic_nerve"]
    assert zone.GetVisibility()
    window.layers.set_checked("zone:sciatic_nerve", False)
    assert not zone.GetVisibility() and window.scene.zone_actors["tibial_nerve"].GetVisibility()
    # the zone's opacity from the tree
    window.layers.select("zone:tibial_nerve")
    window.layers.opacity.setValue(40)
    assert window.scene.zone_actors["tibial_nerve"].prop.opacity == pytest.approx(0.4)
    assert not window.layers.only.isEnabled()  # "show only" is for structures
    # the group's checkbox switches every member; Ctrl+D does the same
    group = next(
        tree.topLevelItem(i)
        for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).text(0) == "Danger zones"
    )
    group.setCheckState(0, Qt.CheckState.Unchecked)
    roles = {sid: window.scene.atlas.structures[sid].role for sid in window.scene.zone_actors}
    assert not any(a.GetVisibility() for sid, a in window.scene.zone_actors.items() if roles[sid] == "danger")
    # the caution structures' zones have a group of their own, which stays on until it too
    # is switched off; then the toolbar's switch (which shows both kinds) is off
    assert all(a.GetVisibility() for sid, a in window.scene.zone_actors.items() if roles[sid] == "caution")
    caution_group = next(
        tree.topLevelItem(i)
        for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).text(0) == "Caution zones"
    )
    caution_group.setCheckState(0, Qt.CheckState.Unchecked)
    assert not any(a.GetVisibility() for a in window.scene.zone_actors.values())
    assert not window.act_zones.isChecked()
    window.act_zones.trigger()
    assert all(a.GetVisibility() for a in window.scene.zone_actors.values())
    # one trigger point off: its markers go, the others stay, and it can no longer be picked
    tp = "bfl_nct_mid"
    window.layers.set_checked(f"tp:{tp}", False)
    assert not any(a.GetVisibility() for a in window.scene.tp_actors[tp])
    assert all(a[0].GetVisibility() for t, a in window.scene.tp_actors.items() if t != tp)


def test_switching_to_the_left_thigh_mirrors_atlas_needles_and_views(window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    needle = window.add_from_trigger_point("bfl_nct_mid")
    right_report = window.doc.reports[needle.id]
    right_atlas = window.scene.atlas
    window.act_left.trigger()
    assert window.plan.side == "left" and window.act_left.isChecked()
    left_needle = window.plan.needles[0]
    assert left_needle.entry_mm[0] == pytest.approx(-needle.entry_mm[0])
    left_report = window.doc.reports[needle.id]
    assert left_report.status == right_report.status
    assert left_report.clearances_mm == pytest.approx(right_report.clearances_mm)
    assert window.scene.atlas is not right_atlas
    lat = right_atlas.landmark("lateral_epicondyle")
    assert window.scene.atlas.landmark("lateral_epicondyle")[0] == pytest.approx(-lat[0])
    # "Lateral" still looks at the lateral side: the camera sits on the lateral epicondyle's side
    window.scene.camera("lateral")
    cam_x = window.pl.camera.position[0]
    lateral_x_drawn = scene.to_display(window.scene.atlas.landmark("lateral_epicondyle"))[0]
    assert np.sign(cam_x - window.pl.camera.focal_point[0]) == np.sign(lateral_x_drawn)
    window.undo.undo()
    assert window.plan.side == "right" and not window.act_left.isChecked()


def test_export_report_from_the_window(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    engine_or_skip()
    window.add_from_trigger_point("st_nct_mid")
    out = window.files.export_report(tmp_path / "plan-report.pdf")
    pages = PdfReader(str(out)).pages
    assert len(pages) == 2
    assert "Needle n1" in pages[1].extract_text()


def test_record_steps_and_present_them(window, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    engine_or_skip()
    window.add_from_trigger_point("st_nct_mid")
    window.scene.camera("posterior")
    first = window.record_step("Posterior view", "The hamstrings from behind.")
    window.layers.set_checked("skin", False)
    window.scene.camera("lateral")
    second = window.record_step("Lateral, no skin", "The sciatic nerve from the side.")
    assert [s.title for s in window.steps()] == ["Posterior view", "Lateral, no skin"]
    assert "skin" in second.hidden and "skin" not in first.hidden
    window.undo.undo()
    assert len(window.steps()) == 1
    window.undo.redo()

    window.layers.set_checked("skin", True)
    window.presenter.start()
    assert window.presenter.presenting == 0 and window.isFullScreen() and not window.menuBar().isVisible()
    qtbot.waitUntil(lambda: window.presenter._move is None, timeout=5000)
    np.testing.assert_allclose(window.pl.camera.position, first.camera.position, atol=1e-2)
    assert window.scene.atlas_actors["skin"].GetVisibility()
    window.pl.setFocus()
    QTest.keyClick(window.pl, Qt.Key.Key_Right)  # keys reach the presentation through the view
    assert window.presenter.presenting == 1
    assert not window.scene.atlas_actors["skin"].GetVisibility()  # the step's layers, at once
    qtbot.waitUntil(lambda: window.presenter._move is None, timeout=5000)
    np.testing.assert_allclose(window.pl.camera.position, second.camera.position, atol=1e-2)
    QTest.keyClick(window.pl, Qt.Key.Key_Right)  # past the last step: stays
    assert window.presenter.presenting == 1
    QTest.keyClick(window.pl, Qt.Key.Key_Escape)
    assert window.presenter.presenting is None and window.menuBar().isVisible()
    assert window.scene.atlas_actors["skin"].GetVisibility()  # the view as it was before
    assert not any(str(n).startswith("demo-") for n in window.pl.actors)

    from thighmap.gui.steps import export_steps

    written = export_steps(window, tmp_path / "steps")
    assert [p.name for p in written] == ["step-01.png", "step-02.png"]
    assert (tmp_path / "steps" / "demonstration.gif").stat().st_size > 10_000


def test_contraindication_checklist_is_recorded_and_undoable(window) -> None:  # type: ignore[no-untyped-def]
    from thighmap.gui.dialogs import ContraindicationDialog

    dlg = ContraindicationDialog(None, window)
    assert dlg.recorded() is None  # nothing asked yet
    dlg.answers["pregnancy"].setCurrentIndex(1)
    dlg.answers["needle_phobia"].setCurrentIndex(2)
    window.set_contraindications(dlg.recorded())
    assert window.plan.contraindications == {"pregnancy": False, "needle_phobia": True}
    again = ContraindicationDialog(window.plan.contraindications, window)
    assert again.answers["needle_phobia"].currentText() == "yes"
    assert again.answers["infection_at_site"].currentText() == "not asked"
    window.undo.undo()
    assert window.plan.contraindications is None


def test_window_on_an_imported_atlas(qtbot, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_import import _external_set
    from thighmap.anatomy.atlas import load_atlas
    from thighmap.anatomy.importer import import_atlas
    from thighmap.gui.app import MainWindow
    from thighmap.gui.core import CoreSession

    engine_or_skip()
    result = import_atlas(_external_set(tmp_path, session.reference_atlas), tmp_path / "imp")
    w = MainWindow(session=CoreSession(load_atlas(result.atlas_path)), offer_recovery=False)
    try:
        w.resize(1000, 700)
        w.show()
        qtbot.waitExposed(w)
        assert w.scene.atlas.structures["sciatic_nerve"].recipe["type"] == "mesh"
        assert "sciatic_nerve" in w.scene.zone_actors  # its danger zone is drawn too
        skin_guess, nerve = point_above_nerve(session, 0.5)
        w.handle_skin_pick(skin_guess)
        w.on_tip_dragged(nerve)
        assert w.doc.reports[w.doc.selected].status == "danger"  # checked against the imported triangles
        w.scene.render_now()
        img = np.asarray(w.pl.screenshot(None, return_img=True), dtype=float)[..., :3]
        assert img.std() > 15.0
        # a map over surfaces without centrelines is slow: it shows progress and can be cancelled
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QProgressDialog

        seen: list[str] = []

        def press_cancel() -> None:
            for dialog in w.findChildren(QProgressDialog):
                seen.append(dialog.labelText())
                dialog.cancel()

        QTimer.singleShot(800, press_cancel)
        w.maps.show_depth_map()
        assert seen and "Sciatic nerve" in seen[0]
        assert w.statusBar().currentMessage() == "Map cancelled."
        assert w.maps.map_request is None
    finally:
        w.undo.setClean()
        w.close()
        w.deleteLater()

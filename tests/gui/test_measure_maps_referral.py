"""Issue 14's measuring tool, map read-out under the cursor and referral regions, driven
through the real window: keys, clicks and mouse moves over the 3D view."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from thighmap.anatomy.referral import region_weights_on_atlas
from thighmap.viz import scene

from .conftest import engine_or_skip, seen_back_point

pytestmark = pytest.mark.gui


def _screen_point(window, point_mm: np.ndarray) -> QPoint:  # type: ignore[no-untyped-def]
    """Where a plan-frame point appears in the 3D view, as a Qt widget position."""
    ren = window.pl.renderer
    ren.SetWorldPoint(*scene.to_display(np.asarray(point_mm, float)), 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    ratio = window.pl.devicePixelRatioF()
    return QPoint(round(x / ratio), round((window.pl.height() * ratio - 1 - y) / ratio))


def _back_point(atlas, sid: str, z_mm: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The most posterior vertex of a structure near a level: seen from behind."""
    v = atlas.mesh(sid).vertices
    band = v[np.abs(v[:, 2] - z_mm) < 5.0]
    return band[np.argmax(band[:, 1])]


def _click(window, qtbot, point_mm: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    QTest.mouseClick(
        window.pl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, _screen_point(window, point_mm)
    )


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_measuring_two_points_by_clicks_in_the_view(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.scene.camera("posterior")
    window.scene.render_now()
    act = window.actions_by_id["measure"]
    assert act in window.menus["view"].actions()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    window.pl.setFocus()
    qtbot.keyClick(window.pl, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert window.measuring.active and act.isChecked()
    assert window.statusBar().currentMessage().startswith("Measuring")
    atlas = window.scene.atlas
    a = seen_back_point(atlas, "semitendinosus")
    b = seen_back_point(atlas, "biceps_femoris_long_head")
    _click(window, qtbot, a)
    qtbot.waitUntil(lambda: len(window.measuring.measurement.points) == 1, timeout=3000)
    assert "Click the second point" in window.info.toPlainText()
    _click(window, qtbot, b)
    qtbot.waitUntil(lambda: window.measuring.measurement.complete, timeout=3000)
    first, second = window.measuring.measurement.points
    # the clicks land where the points were seen, on their structures
    assert np.linalg.norm(first.point_mm - a) < 3.0 and first.structure == "semitendinosus"
    assert np.linalg.norm(second.point_mm - b) < 3.0 and second.structure == "biceps_femoris_long_head"
    distance = float(np.linalg.norm(second.point_mm - first.point_mm))
    assert abs(distance - float(np.linalg.norm(b - a))) < 6.0
    text = f"{distance:.1f} mm"
    assert window.measuring.measurement.distance_mm == pytest.approx(distance)
    # drawn in the view: the points, the line and a label of the one layout, clear of the others
    assert len(window.scene.measure_actors) == 3
    window.scene.render_now()
    label = window.scene.labels["measure:distance"]
    assert label.text == text and "measure:distance" in window.scene.label_rects
    rect = window.scene.label_rects["measure:distance"]
    others = [r for n, r in window.scene.label_rects.items() if n != "measure:distance"]
    assert others and not any(_overlap(rect, r) for r in others)
    w, h = window.pl.renderer.GetSize()
    assert rect[0] >= 0 and rect[1] >= 0 and rect[2] <= w and rect[3] <= h
    # and in the card and the status bar, with the structures' names
    card = window.info.toPlainText()
    assert f"Measurement: {text}" in card and "Semitendinosus" in card and "Biceps femoris" in card
    assert text in window.statusBar().currentMessage()
    # the labels' own relayout (a camera move) keeps it
    window.scene.camera("lateral")
    window.scene.camera("posterior")
    assert "measure:distance" in window.scene.labels
    # a third click starts a new measurement
    window.scene.render_now()
    _click(window, qtbot, a)
    qtbot.waitUntil(lambda: len(window.measuring.measurement.points) == 1, timeout=3000)
    assert "measure:distance" not in window.scene.labels and len(window.scene.measure_actors) == 1
    # Esc leaves the mode and drops the measurement
    qtbot.keyClick(window.pl, Qt.Key.Key_Escape)
    assert not window.measuring.active and not act.isChecked()
    assert not window.measuring.measurement.points and not window.scene.measure_actors
    assert not window.statusBar().currentMessage()  # its messages go with it
    # out of the mode a click is a click again (a card), not a measurement
    _click(window, qtbot, b)
    qtbot.waitUntil(lambda: "Biceps femoris" in window.info.toPlainText(), timeout=3000)
    assert not window.measuring.measurement.points


def test_the_action_again_ends_measuring_and_a_new_atlas_drops_the_measurement(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    from thighmap.planning import PatientProfile

    window.scene.camera("posterior")
    window.scene.render_now()
    act = window.actions_by_id["measure"]
    act.trigger()
    atlas = window.scene.atlas
    _click(window, qtbot, _back_point(atlas, "semitendinosus", 250.0))
    _click(window, qtbot, _back_point(atlas, "biceps_femoris_long_head", 150.0))
    qtbot.waitUntil(lambda: window.measuring.measurement.complete, timeout=3000)
    assert window.set_patient(PatientProfile(thigh_length_mm=380, mid_thigh_circumference_mm=480))
    assert window.scene.atlas is not atlas
    assert not window.measuring.measurement.points and "measure:distance" not in window.scene.labels
    assert window.measuring.active  # still measuring, on the new model
    window.actions_by_id["place"].trigger()  # one click mode at a time
    assert not window.measuring.active
    act.trigger()
    assert window.measuring.active and not window.act_place.isChecked()
    act.trigger()
    assert not window.measuring.active


def _expected_value(skin, values: np.ndarray, point: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """The map's value at a point of its skin, by plain linear algebra on the map's data:
    the face whose plane holds the point, and the point's weights in it."""
    tri = skin.vertices[skin.faces]
    near = np.linalg.norm(tri.mean(axis=1) - point, axis=1) < 15.0
    best = None
    for f in np.flatnonzero(near):
        a, b, c = tri[f]
        m = np.column_stack([b - a, c - a])
        uv, *_ = np.linalg.lstsq(m, point - a, rcond=None)
        w = np.array([1 - uv.sum(), uv[0], uv[1]])
        off = np.linalg.norm(a + m @ uv - point)
        if w.min() >= -1e-6 and off < 1e-3 and (best is None or off < best[0]):
            best = (off, float(w @ values[skin.faces[f]]))
    assert best is not None, "the read point is on no face of the map's skin"
    return best[1]


def _hover_reading(window, qtbot, point_mm: np.ndarray, prefix: str) -> str:  # type: ignore[no-untyped-def]
    window.statusBar().clearMessage()
    QTest.mouseMove(window.pl, _screen_point(window, point_mm))
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith(prefix), timeout=3000)
    return window.statusBar().full_message


def test_a_maps_value_under_the_cursor(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    window.actions_by_id["map_depth"].trigger()
    window.scene.camera("posterior")
    window.scene.render_now()
    layer = window.maps.layer
    assert layer is not None and layer.name == "Depth map"
    model = window.core.model(window.plan)
    skin = model.outer_skin()
    # the values read are the map's own, those its colours are drawn from
    drawn = window.scene.map_actor.mapper.dataset.point_data["max safe depth (mm)"]
    assert np.array_equal(np.asarray(drawn), layer.values) and len(layer.values) == len(skin.vertices)
    for z in (60.0, 200.0, 330.0):
        v = skin.vertices[np.abs(skin.vertices[:, 2] - z) < 4.0]
        target = v[np.argmax(v[:, 1])]
        message = _hover_reading(window, qtbot, target, "Depth map:")
        shown = float(re.search(r"max safe depth (-?\d+\.\d) mm here", message).group(1))  # type: ignore[union-attr]
        reading = window.maps.reading_at(target)
        # where the mouse was: the read point lies on the skin, about at the target
        hit = window.scene.pick(*window.mouse._hover_pos, skin_only=True)
        assert hit is not None and np.linalg.norm(hit.point_mm - target) < 3.0
        expected = _expected_value(skin, layer.values, window.maps.reading_at(hit.point_mm).point_mm)
        assert shown == pytest.approx(expected, abs=0.051)
        assert reading is not None  # the target itself reads too
        assert f"{shown:.1f} mm" in QToolTip.text()
        bar = window.statusBar()
        assert bar.fontMetrics().horizontalAdvance(bar.currentMessage()) <= bar.message_room_px()
    # the approach map names its target and says the path's status
    window.needles.tp_combo.setCurrentIndex(window.needles.tp_combo.findData("bfl_nct_mid"))
    window.actions_by_id["map_tp"].trigger()
    window.scene.render_now()
    v = skin.vertices[np.abs(skin.vertices[:, 2] - 190.0) < 4.0]
    message = _hover_reading(window, qtbot, v[np.argmax(v[:, 1])], "Approach map to")
    assert "clearance" in message and " mm here (path " in message
    # no map: hovering names structures again
    window.actions_by_id["map_clear"].trigger()
    assert window.maps.layer is None and window.maps.reading_at(v[0]) is None


def test_choosing_a_trigger_point_shades_its_referral_region(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.scene.camera("posterior")
    window.scene.render_now()
    assert window.scene.referral_actor is None  # nothing chosen yet
    tp = window.scene.atlas.trigger_points["st_nct_mid"]
    QTest.mouseClick(
        window.pl,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        _screen_point(window, tp.position_mm),
    )
    qtbot.waitUntil(lambda: window.referral.trigger_point == "st_nct_mid", timeout=3000)
    expected = region_weights_on_atlas(tp.referral_region, window.scene.atlas)
    assert np.allclose(window.referral.weights, expected)
    actor = window.scene.referral_actor
    assert actor is not None and actor.GetVisibility()
    drawn = actor.mapper.dataset
    alpha = np.asarray(drawn.point_data["referral"])[:, 3]
    assert np.allclose(alpha, np.round(expected * scene.REFERRAL_MAX_ALPHA * 255), atol=1)
    used = np.unique(np.asarray(drawn.regular_faces))
    assert expected[used].max() == 1.0  # the drawn faces hold the region
    assert "Shaded on the skin" in window.info.toPlainText()
    # the toggle hides and shows it
    act = window.actions_by_id["referral"]
    act.trigger()
    assert window.scene.referral_actor is None
    act.trigger()
    assert window.scene.referral_actor is not None
    # choosing another trigger point in the Needles panel's list shades its region instead
    combo = window.needles.tp_combo
    index = combo.findData("bfl_nct_mid")
    combo.activated.emit(index)
    assert window.referral.trigger_point == "bfl_nct_mid"
    bf = window.scene.atlas.trigger_points["bfl_nct_mid"]
    assert np.allclose(
        window.referral.weights, region_weights_on_atlas(bf.referral_region, window.scene.atlas)
    )


def test_referral_region_follows_the_patient_and_the_side(window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    from thighmap.planning import PatientProfile

    window.show_info("trigger_point", "bfl_nct_mid")
    before = window.scene.atlas
    assert window.set_patient(PatientProfile(thigh_length_mm=500, mid_thigh_circumference_mm=560))
    atlas = window.scene.atlas
    assert atlas is not before
    region = atlas.trigger_points["bfl_nct_mid"].referral_region
    assert np.allclose(window.referral.weights, region_weights_on_atlas(region, atlas))
    window.set_left_thigh(True)
    assert np.allclose(window.referral.weights, region_weights_on_atlas(region, window.scene.atlas, "left"))
    assert window.scene.referral_actor is not None


def test_an_atlas_without_regions_says_none_is_drawn(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    from thighmap.anatomy.atlas import parse_atlas
    from thighmap.gui.app import MainWindow
    from thighmap.gui.core import CoreSession

    ref = session.reference_atlas
    doc = copy.deepcopy(ref.document)
    for tp in doc["trigger_points"]:
        tp.pop("referral_region", None)
    bare = parse_atlas(doc, ref.path)
    bare.meshes_dir = ref.meshes_dir
    w = MainWindow(session=CoreSession(bare), offer_recovery=False)
    try:
        w.show()
        qtbot.waitExposed(w)
        w.show_info("trigger_point", "bfl_nct_mid")
        assert w.scene.referral_actor is None and w.referral.weights is None
        assert "No referral region" in w.statusBar().currentMessage()
        assert "none is drawn" in w.info.toPlainText()
        QApplication.processEvents()
    finally:
        w.undo.setClean()
        w.close()
        w.deleteLater()


def test_a_demonstration_step_shows_no_left_over_measurement_or_region(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    """A step recorded with no measurement and no referral region drops them when shown."""
    window.scene.camera("posterior")
    window.scene.render_now()
    window.record_step("Behind")
    window.show_info("trigger_point", "bfl_nct_mid")
    window.actions_by_id["measure"].trigger()
    atlas = window.scene.atlas
    _click(window, qtbot, _back_point(atlas, "semitendinosus", 250.0))
    _click(window, qtbot, _back_point(atlas, "biceps_femoris_long_head", 150.0))
    qtbot.waitUntil(lambda: window.measuring.measurement.complete, timeout=3000)
    assert window.scene.referral_actor is not None
    window.step_list.list.setCurrentRow(0)
    window.step_list.buttons["show"].click()  # the Steps panel's Show
    assert not window.measuring.active and not window.scene.measure_actors
    assert window.scene.referral_actor is None and window.referral.trigger_point is None


def test_a_demonstration_step_gives_back_its_measurement_and_referral_region(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    """A step recorded with a measurement and a referral region on show brings both back
    (through the plan's file format) after both were changed."""
    window.scene.camera("posterior")
    window.scene.render_now()
    atlas = window.scene.atlas
    window.show_info("trigger_point", "st_nct_mid")  # its referral region is shaded
    window.actions_by_id["measure"].trigger()
    _click(window, qtbot, _back_point(atlas, "semitendinosus", 250.0))
    _click(window, qtbot, _back_point(atlas, "biceps_femoris_long_head", 150.0))
    qtbot.waitUntil(lambda: window.measuring.measurement.complete, timeout=3000)
    recorded = [(p.point_mm.copy(), p.structure) for p in window.measuring.measurement.points]
    distance = window.measuring.measurement.distance_mm
    step = window.record_step("Measured")
    assert len(step.measurement) == 2 and step.referral == "st_nct_mid"

    # change both: another trigger point's region, a new measurement, then none at all
    window.show_info("trigger_point", "bfl_nct_mid")
    _click(window, qtbot, _back_point(atlas, "semimembranosus", 120.0))
    qtbot.waitUntil(lambda: len(window.measuring.measurement.points) == 1, timeout=3000)
    window.actions_by_id["measure"].trigger()  # leaves the mode: the measurement goes
    window.actions_by_id["referral"].trigger()  # the region off
    assert not window.scene.measure_actors and window.scene.referral_actor is None

    window.docks["Steps"].show()
    window.step_list.list.setCurrentRow(0)
    window.step_list.buttons["show"].click()  # the Steps panel's Show
    points = window.measuring.measurement.points
    assert [p.structure for p in points] == [on for _p, on in recorded]
    for p, (q, _on) in zip(points, recorded, strict=True):
        assert np.allclose(p.point_mm, q, atol=1e-3)
    assert window.measuring.measurement.distance_mm == pytest.approx(distance, abs=1e-3)
    assert window.scene.measure_actors and "measure:distance" in window.scene.labels
    assert window.actions_by_id["referral"].isChecked()
    assert window.referral.shown_for == "st_nct_mid" and window.scene.referral_actor is not None
    st = atlas.trigger_points["st_nct_mid"]
    assert np.allclose(window.referral.weights, region_weights_on_atlas(st.referral_region, atlas))

    # a step recorded without them clears them when it is shown
    window.actions_by_id["measure"].trigger()
    window.referral.show_for(None)
    window.record_step("Plain")
    window.step_list.list.setCurrentRow(0)
    window.step_list.buttons["show"].click()
    assert window.measuring.measurement.complete and window.referral.shown_for == "st_nct_mid"
    window.step_list.list.setCurrentRow(1)
    window.step_list.buttons["show"].click()
    assert not window.measuring.active and not window.measuring.measurement.points
    assert not window.scene.measure_actors and window.scene.referral_actor is None
    assert window.referral.shown_for is None

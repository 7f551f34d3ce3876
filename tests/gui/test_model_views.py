"""The window's parts follow the plan document and the view state: these tests drive the
real widgets (spin boxes, sliders, the Layers tree, menus, keys, context menus) and check
the models and the 3D scene."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from thighmap.gui import actions, storage

from .conftest import engine_or_skip

pytestmark = pytest.mark.gui


def _needle(window):  # type: ignore[no-untyped-def]
    engine_or_skip()
    n = window.add_from_trigger_point("bfl_nct_mid")
    assert n is not None
    return n


def _activate(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)


def _type(qtbot, box, text: str) -> None:  # type: ignore[no-untyped-def]
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def test_typing_depth_and_angles_edits_the_document(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    n = _needle(window)
    panel = window.needles
    _type(qtbot, panel.depth, "23.5")
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(23.5)
    assert panel.depth_slider.value() == 235  # the slider follows the document
    drawn = window.scene.needle_actors[f"needle:{n.id}"].GetBounds()
    _type(qtbot, panel.tilt, "25")
    assert panel.tilt.value() == pytest.approx(25.0, abs=0.1)
    tilted = window.doc.plan.needle(n.id)
    assert not (tilted.direction == n.direction).all()
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(23.5)  # angles leave the depth
    assert window.scene.needle_actors[f"needle:{n.id}"].GetBounds() != drawn  # the scene redrew it
    before = window.doc.plan.needle(n.id).direction.copy()
    _type(qtbot, panel.azimuth, "90")
    assert not (window.doc.plan.needle(n.id).direction == before).all()
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(23.5)
    # a depth beyond the needle is brought back to its length (planning.edits)
    _type(qtbot, panel.depth, "80")
    assert window.doc.plan.needle(n.id).depth_mm <= window.doc.plan.needle(n.id).needle_length_mm


def test_dragging_the_depth_slider_moves_the_drawn_needle_to_the_checked_tip(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The needle's actors are moved, not rebuilt, at each step of a drag; they end where
    the document's needle is, and its report is the one a fresh check gives."""
    from thighmap.gui.core import CoreSession
    from thighmap.viz import scene

    n = _needle(window)
    actors = {name: window.scene.needle_actors[name] for name in (f"needle:{n.id}", f"tip:{n.id}")}
    slider = window.needles.depth_slider
    for value in range(slider.value() - 40, slider.value() + 41, 20):  # tenths of a mm
        slider.setValue(value)
        needle = window.doc.plan.needle(n.id)
        assert needle.depth_mm == pytest.approx(value / 10.0)
        for name, actor in actors.items():
            assert window.scene.needle_actors[name] is actor
        b = np.array(actors[f"tip:{n.id}"].GetBounds()).reshape(3, 2).mean(axis=1)
        assert np.allclose(b, scene.to_display(needle.tip_mm), atol=1e-3)
        fresh = CoreSession(window.core.reference_atlas).check(window.plan, needle)
        assert window.doc.reports[n.id].to_json() == fresh.to_json()


def test_slider_and_combos_reach_the_right_field(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Each control changes its own field and nothing else: a mis-wired signal fails here."""
    n = _needle(window)
    panel = window.needles
    start = window.doc.plan.needle(n.id)
    panel.depth_slider.setValue(342)  # as a drag would
    after = window.doc.plan.needle(n.id)
    assert after.depth_mm == pytest.approx(34.2)
    assert (after.direction == start.direction).all() and after.gauge_mm == start.gauge_mm
    gauge = next(i for i in range(panel.gauge.count()) if panel.gauge.itemData(i) != start.gauge_mm)
    panel.gauge.setCurrentIndex(gauge)
    after2 = window.doc.plan.needle(n.id)
    assert after2.gauge_mm == panel.gauge.itemData(gauge)
    assert after2.needle_length_mm == start.needle_length_mm and after2.depth_mm == pytest.approx(34.2)
    length = next(i for i in range(panel.length.count()) if panel.length.itemData(i) < 34.2)
    panel.length.setCurrentIndex(length)
    after3 = window.doc.plan.needle(n.id)
    assert after3.needle_length_mm == panel.length.itemData(length)
    assert after3.depth_mm == after3.needle_length_mm  # kept on the shorter needle
    assert after3.gauge_mm == after2.gauge_mm
    target = panel.target.findData("semitendinosus")
    panel.target.setCurrentIndex(target)
    assert window.doc.plan.needle(n.id).target == "semitendinosus"
    # the safety panel and the status bar follow the document
    assert window.safety.status == window.doc.reports[n.id].status
    assert window.status_label.text() == window.doc.summary()


def test_ctrl_z_in_a_focused_spin_box_undoes_the_plan(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    n = _needle(window)
    panel = window.needles
    depth0 = window.doc.plan.needle(n.id).depth_mm
    _activate(window, qtbot)
    _type(qtbot, panel.depth, "33")
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(33.0)
    assert QApplication.focusWidget() in (panel.depth, panel.depth.findChild(object, "qt_spinbox_lineedit"))
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(depth0)
    assert panel.depth.value() == pytest.approx(depth0, abs=0.05)
    qtbot.keyClick(
        QApplication.focusWidget(),
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(33.0)


def test_ticking_the_tree_hides_in_view_state_and_scene(window) -> None:  # type: ignore[no-untyped-def]
    item = window.layers._items["semitendinosus"]
    item.setCheckState(0, Qt.CheckState.Unchecked)  # as a click on its box does
    assert "semitendinosus" in window.view.hidden
    assert not window.scene.atlas_actors["semitendinosus"].GetVisibility()
    # the model speaks: the box follows
    window.view.set_visible("semitendinosus", True)
    assert item.checkState(0) == Qt.CheckState.Checked
    assert window.scene.atlas_actors["semitendinosus"].GetVisibility()
    # the opacity slider of the selected layer
    window.layers.tree.setCurrentItem(item)
    window.layers.opacity.setValue(35)
    assert window.view.opacity["semitendinosus"] == pytest.approx(0.35)
    assert window.scene.atlas_actors["semitendinosus"].prop.opacity == pytest.approx(0.35)
    window.view.set_opacity("semitendinosus", 0.8)
    assert window.layers.opacity.value() == 80


def test_choosing_a_structure_in_the_tree_outlines_it(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Issue #14: choosing a structure in the Layers tree moves the outline to it (and
    shows its card); Esc drops the outline again."""
    window.layers.tree.setCurrentItem(window.layers._items["adductor_magnus"])
    assert window.scene.focused == "adductor_magnus"
    window.layers.tree.setCurrentItem(window.layers._items["semimembranosus"])
    assert window.scene.focused == "semimembranosus"
    assert "Semimembranosus" in window.info.toPlainText()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.scene.focused is None


def test_menu_actions_and_keys_switch_the_view(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    labels = window.actions_by_id["labels"]
    assert labels in window.menus["view"].actions()
    labels.trigger()
    assert not window.view.is_visible("labels")
    assert window.layers._items["labels"].checkState(0) == Qt.CheckState.Unchecked
    window.layers.set_checked("labels", True)
    assert labels.isChecked()  # the toolbar follows the tree
    window.actions_by_id["zones"].trigger()
    assert window.view.hidden_zones == set(window.scene.zone_ids())
    assert not any(a.GetVisibility() for a in window.scene.zone_actors.values())
    _activate(window, qtbot)
    window.pl.setFocus()
    qtbot.keyClick(window.pl, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.view.is_visible("labels") is False


def test_every_action_is_reachable_and_listed() -> None:
    ids = [s.id for s in actions.ACTIONS]
    assert len(ids) == len(set(ids))
    shortcuts = [actions.key_sequence(s.shortcut).toString() for s in actions.ACTIONS if s.shortcut]
    assert len(shortcuts) == len(set(shortcuts)), "two actions share a shortcut"
    rows = actions.shortcut_rows()
    assert any(r[0] == "F5" and "Present" in r[1] for r in rows)
    for spec in actions.ACTIONS:
        assert spec.menu is not None or spec.toolbar or spec.context, spec.id


def test_shortcuts_dialog_lists_the_table(window) -> None:  # type: ignore[no-untyped-def]
    window.actions_by_id["shortcuts"].trigger()
    dlg = window.findChild(actions.ShortcutsDialog)
    assert dlg is not None and dlg.isVisible()
    keys = {dlg.table.item(i, 0).text() for i in range(dlg.table.rowCount())}
    assert {"F5", "Ctrl+Shift+R", "Esc"} <= keys
    dlg.close()


def test_context_menu_on_a_structure_and_a_trigger_point(window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    menu = window.context.menu("structure", "semimembranosus")
    texts = [a.text() for a in menu.actions() if a.text()]
    assert {"Hide", "Isolate", "Show only", "Show card"} <= set(texts)
    assert not window.actions_by_id["ctx_needle_here"].isEnabled()  # no skin point given
    next(a for a in menu.actions() if a.text() == "Show only").trigger()
    assert window.view.hidden == set(window.scene.atlas.structures) - {"semimembranosus"}
    window.context.menu("structure", "semimembranosus")
    window.actions_by_id["ctx_show_all"].trigger()
    assert window.view.hidden == set()
    window.context.menu("structure", "semitendinosus")
    window.actions_by_id["ctx_hide"].trigger()
    assert "semitendinosus" in window.view.hidden
    assert window.layers._items["semitendinosus"].checkState(0) == Qt.CheckState.Unchecked
    tp = next(iter(window.scene.atlas.trigger_points))
    menu = window.context.menu("trigger_point", tp)
    next(a for a in menu.actions() if a.text() == "New needle from here").trigger()
    assert (
        len(window.doc.plan.needles) == 1
        and window.doc.plan.needles[0].source["stated"]["trigger_point"] == tp
    )


def test_context_menu_in_the_view_picks_what_is_under_the_cursor(window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    window.scene.camera("posterior")
    window.scene.render_now()
    w, h = window.pl.window_size
    menu = window.context.at(w // 2, h // 2)
    assert menu is not None
    kind, ident, point = window.context.target
    assert kind == "structure" and ident in window.scene.atlas.structures and point is not None
    here = window.actions_by_id["ctx_needle_here"]
    assert here.isEnabled()
    here.trigger()
    assert len(window.doc.plan.needles) == 1


def test_layers_tree_context_menu(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str]] = []
    window.layers.context_requested.connect(lambda key, kind, _pos: seen.append((key, kind)))
    item = window.layers._items["zone:sciatic_nerve"]
    window.layers.tree.scrollToItem(item)
    rect = window.layers.tree.visualItemRect(item)
    window.layers.tree.customContextMenuRequested.emit(rect.center())
    assert seen == [("zone:sciatic_nerve", "zone")]
    window.context.menu("zone", "sciatic_nerve")
    window.actions_by_id["ctx_hide"].trigger()
    assert "sciatic_nerve" in window.view.hidden_zones
    assert not window.scene.zone_actors["sciatic_nerve"].GetVisibility()


def test_window_layout_is_remembered(qtbot, session, settings_dir) -> None:  # type: ignore[no-untyped-def]
    from thighmap.gui.app import MainWindow

    w = MainWindow(session=session, offer_recovery=False)
    w.resize(700, 520)  # within pytest-xvfb's screen
    w.show()
    qtbot.waitExposed(w)
    w.docks["Cross-section"].show()
    w.docks["Layers"].hide()
    size = (w.width(), w.height())
    w.close()
    assert (settings_dir / "settings.ini").exists()  # the test's folder, not the user's
    assert str(storage.data_dir()) == str(settings_dir)
    w2 = MainWindow(session=session, offer_recovery=False)
    w2.show()
    qtbot.waitExposed(w2)
    assert not w2.docks["Cross-section"].isHidden()
    assert w2.docks["Layers"].isHidden()
    # the width as it was; the height within what the virtual screen (800 x 600) leaves
    assert w2.width() == size[0] and abs(w2.height() - size[1]) <= 30
    w2.close()


def test_status_message_stays_clear_of_the_summary(window) -> None:  # type: ignore[no-untyped-def]
    bar = window.statusBar()
    long = "A very long message " * 30
    bar.showMessage(long)
    shown = bar.currentMessage()
    assert shown != long and shown.endswith("…")
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.message_room_px()
    assert window.status_label.geometry().left() >= bar.message_room_px()
    assert bar.toolTip() == long  # the whole text on hover
    # the summary grows (a needle and a verdict): the message is cut again, before any layout
    engine_or_skip()
    bar.showMessage(long)
    narrower = bar.message_room_px()
    for tp in list(window.scene.atlas.trigger_points)[:2]:
        window.add_from_trigger_point(tp)
    assert bar.message_room_px() < narrower  # "· 2 needle(s) · plan SAFE" takes room
    shown = bar.currentMessage()
    assert (
        shown.startswith("A very long")
        and bar.fontMetrics().horizontalAdvance(shown) <= bar.message_room_px()
    )
    window.resize(1000, 800)
    QApplication.processEvents()
    shown = bar.currentMessage()
    assert shown.startswith("A very long")
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.message_room_px()
    assert bar.message_room_px() + bar.GAP_PX <= window.status_label.geometry().left()
    bar.showMessage("Short")
    assert bar.currentMessage() == "Short"


def test_right_click_in_the_view_opens_the_menu_of_what_is_there(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QMenu

    window.scene.camera("posterior")
    window.scene.render_now()
    centre = QPoint(window.pl.width() // 2, window.pl.height() // 2)
    qtbot.mouseClick(window.pl, Qt.MouseButton.RightButton, pos=centre)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=3000)
    menu = QApplication.activePopupWidget()
    assert window.context.target is not None and window.context.target[0] == "structure"
    assert "Hide" in [a.text() for a in menu.actions()]
    menu.close()


def test_undo_action_names_the_edit(window) -> None:  # type: ignore[no-untyped-def]
    n = _needle(window)
    window.needles.depth_slider.setValue(251)
    undo = window.actions_by_id["undo"]
    assert undo.isEnabled() and undo.text() == f"&Undo Depth of {n.id}"
    undo.trigger()
    assert window.doc.plan.needle(n.id).depth_mm == pytest.approx(n.depth_mm)
    assert window.actions_by_id["redo"].isEnabled()

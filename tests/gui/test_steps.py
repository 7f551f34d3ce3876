"""Demonstration steps in the window: a step keeps everything visible and gives it back;
the step list's buttons edit the steps (undoably); the export dialog can make a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QPushButton, QToolButton

from thighmap.gui.steps import ExportDialog, StepEditDialog, apply_step, export_steps, folder_dialog

from .conftest import engine_or_skip

pytestmark = pytest.mark.gui


def _labels_drawn(window) -> bool:  # type: ignore[no-untyped-def]
    """Structure labels are on screen (laid out for the current view, as a frame would)."""
    window.scene.place_labels()
    return window.scene.show_labels and any(
        lab.kind == "structure" and lab.actor.GetVisibility() for lab in window.scene.labels.values()
    )


def _needle_visible(window, nid: str) -> bool:  # type: ignore[no-untyped-def]
    """The needle's shaft and its name label are drawn (they must agree)."""
    window.scene.place_labels()
    shaft = bool(window.scene.needle_actors[f"needle:{nid}"].GetVisibility())
    label = window.scene.labels.get(f"nlabel:{nid}")
    assert label is not None and bool(label.actor.GetVisibility()) == shaft, f"label of {nid} disagrees"
    return shaft


def test_a_step_without_labels_and_without_a_later_needle_plays_back_without_them(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    window.add_from_trigger_point("st_nct_mid")  # n1
    window.layers.set_checked("labels", False)  # the Layers tree's box, as a click would
    window.layers.set_checked("tp:bfs_mid", False)
    window.layers.set_checked("zone:femoral_vein", False)
    assert not _labels_drawn(window)
    step = window.record_step("No labels", "Only n1.")
    assert step.needles == ("n1",) and step.labels == {
        "structures": False,
        "landmarks": False,
        "trigger_points": False,
    }
    assert step.hidden_trigger_points == ("bfs_mid",) and step.hidden_zones == ("femoral_vein",)

    window.add_from_trigger_point("bfl_nct_mid")  # n2, added after the step was recorded
    window.layers.set_checked("labels", True)
    window.layers.set_checked("tp:bfs_mid", True)
    window.layers.set_checked("zone:femoral_vein", True)
    assert _labels_drawn(window) and _needle_visible(window, "n2")

    window.presenter.start()
    assert window.presenter.presenting == 0
    assert (
        not _labels_drawn(window)
        and not window.layers.tree.findItems("Structure labels", Qt.MatchFlag.MatchRecursive)[0].checkState(0)
        == Qt.CheckState.Checked
    )
    assert _needle_visible(window, "n1") and not _needle_visible(window, "n2")
    assert not window.scene.tp_actors["bfs_mid"][0].GetVisibility()
    assert not window.scene.zone_actors["femoral_vein"].GetVisibility()
    window.select_needle("n2")  # a redraw keeps the step's needles
    assert not _needle_visible(window, "n2")
    window.presenter.stop()
    assert _labels_drawn(window) and _needle_visible(window, "n2")  # the view as before

    # the same from the step list, outside a presentation
    window.docks["Steps"].show()
    window.step_list.list.setCurrentRow(0)
    window.step_list.buttons["show"].click()
    assert not _labels_drawn(window) and not _needle_visible(window, "n2")
    assert "n2 hidden" in window.statusBar().currentMessage()
    # switching the Needles layer back on shows every needle again
    window.layers.set_checked("needles", False)
    window.layers.set_checked("needles", True)
    assert _needle_visible(window, "n2")


def test_a_step_keeps_opacities_outline_and_cross_section(window) -> None:  # type: ignore[no-untyped-def]
    window.docks["Cross-section"].show()
    sec = window.section
    sec.mode.setCurrentIndex(sec.mode.findData("across"))
    sec.level.setValue(180.0)  # a fixed axial level
    window.layers.select("skin")
    window.layers.opacity.setValue(5)  # the slider, as the user drags it
    window.show_info("structure", "sciatic_nerve")
    window.scene.camera("lateral")
    step = window.record_step("Set up")
    assert step.opacity["skin"] == pytest.approx(0.05) and step.focused == "sciatic_nerve"
    assert step.section is not None and step.section.shown and step.section.mode == "across"
    assert step.section.follow == "fixed" and step.section.level_mm == pytest.approx(180.0)

    window.docks["Cross-section"].hide()
    sec.mode.setCurrentIndex(sec.mode.findData("long"))
    window.layers.select("skin")
    window.layers.opacity.setValue(80)
    window.cancel()  # Esc drops the outline
    window.scene.camera("posterior")
    apply_step(window, window.steps()[0])
    assert window.scene.atlas_actors["skin"].prop.opacity == pytest.approx(0.05)
    window.layers.select("skin")
    assert window.layers.opacity.value() == 5  # the panel agrees with the view
    assert window.scene.focused == "sciatic_nerve"
    assert not window.docks["Cross-section"].isHidden() and sec.mode.currentData() == "across"
    assert sec.level.value() == pytest.approx(180.0)
    np.testing.assert_allclose(window.pl.camera.position, step.camera.position, atol=1e-2)


def _titles(window) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.title for s in window.steps()]


def test_the_step_list_buttons_edit_the_steps_undoably(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    for title in ("One", "Two", "Three"):
        window.record_step(title)
    window.act_steps.trigger()
    panel = window.step_list
    assert window.docks["Steps"].isVisible()
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == ["One", "Two", "Three"]

    panel.list.setCurrentRow(2)
    assert not panel.buttons["down"].isEnabled()
    qtbot.mouseClick(panel.buttons["up"], Qt.MouseButton.LeftButton)
    assert _titles(window) == ["One", "Three", "Two"] and panel.list.currentRow() == 1
    qtbot.mouseClick(panel.buttons["duplicate"], Qt.MouseButton.LeftButton)
    assert _titles(window) == ["One", "Three", "Three (copy)", "Two"] and panel.list.currentRow() == 2
    qtbot.mouseClick(panel.buttons["down"], Qt.MouseButton.LeftButton)
    assert _titles(window) == ["One", "Three", "Two", "Three (copy)"]

    panel.list.setCurrentRow(0)
    qtbot.mouseClick(panel.buttons["rename"], Qt.MouseButton.LeftButton)  # opens the in-place editor
    qtbot.waitUntil(lambda: panel.list.findChild(QLineEdit) is not None, timeout=2000)
    editor = panel.list.findChild(QLineEdit)
    window.activateWindow()
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus, timeout=2000)
    editor.selectAll()
    qtbot.keyClicks(editor, "Hamstrings from behind")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: _titles(window)[0] == "Hamstrings from behind", timeout=3000)

    def fill_and_accept() -> None:
        dlg = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, StepEditDialog) and w.isVisible()
        )
        dlg.text.setPlainText("Look at the long head.")
        dlg.duration.setValue(6.5)
        dlg.accept()

    panel.list.setCurrentRow(1)
    QTimer.singleShot(200, fill_and_accept)
    qtbot.mouseClick(panel.buttons["edit"], Qt.MouseButton.LeftButton)
    edited = window.steps()[1]
    assert (edited.title, edited.text, edited.duration_s) == ("Three", "Look at the long head.", 6.5)
    assert "6.5 s" in panel.summary.text()

    panel.list.setCurrentRow(3)
    qtbot.mouseClick(panel.buttons["delete"], Qt.MouseButton.LeftButton)
    assert _titles(window) == ["Hamstrings from behind", "Three", "Two"]
    assert panel.list.count() == 3

    for _ in range(6):  # delete, edit, rename, down, duplicate, up
        window.undo.undo()
    assert _titles(window) == ["One", "Two", "Three"]
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == ["One", "Two", "Three"]


def test_the_export_folder_dialog_can_create_a_folder(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dlg = folder_dialog(None, str(tmp_path))
    qtbot.addWidget(dlg)
    assert not dlg.testOption(QFileDialog.Option.ReadOnly)
    assert dlg.fileMode() == QFileDialog.FileMode.Directory
    dlg.show()
    qtbot.waitExposed(dlg)
    button = dlg.findChild(QToolButton, "newFolderButton")
    assert button is not None and button.isVisible() and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(p.is_dir() for p in tmp_path.iterdir()), timeout=3000)
    dlg.reject()


def test_export_at_a_chosen_size(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    window.record_step("One")
    dlg = ExportDialog(str(tmp_path / "out"), window)
    qtbot.addWidget(dlg)
    preset = next(b for b in dlg.findChildren(QPushButton) if b.text() == "1280×720")
    qtbot.mouseClick(preset, Qt.MouseButton.LeftButton)
    assert dlg.image_size() == (1280, 720)
    dlg.width_px.setValue(400)
    dlg.height_px.setValue(300)
    dlg.gif.setChecked(False)
    written = export_steps(window, dlg.folder.text(), size=dlg.image_size(), gif=dlg.gif.isChecked())
    with Image.open(written[0]) as img:
        assert img.size == (400, 300)
    assert not (tmp_path / "out" / "demonstration.gif").exists()

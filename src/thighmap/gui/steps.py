"""Demonstration steps in the window: what a step takes from the view and gives back,
the step list (rename, reorder, duplicate, delete, edit text and duration), and the
export dialog (folder that can be created, image size, GIF).

Every change to the steps is one of the plain functions of planning.demo pushed as an
undoable edit of the plan; the list redraws itself whenever the undo stack moves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from thighmap.planning import Plan, demo
from thighmap.planning.demo import DemoStep, Section
from thighmap.viz import scene

from .dialogs import StepDialog

OK = QDialogButtonBox.StandardButton.Ok
CANCEL = QDialogButtonBox.StandardButton.Cancel
EXPORT_SIZES = ((960, 720), (1280, 720), (1920, 1080), (800, 600))


# ====================================================================== view <-> step
def camera_of(plotter: Any) -> demo.Camera:
    """The 3D view's camera as a step records it."""
    cam = plotter.camera
    return demo.Camera(tuple(cam.position), tuple(cam.focal_point), tuple(cam.up), float(cam.view_angle))


def capture_step(win: Any, title: str, text: str = "") -> DemoStep:
    """Everything visible in the window now, as a step: camera, layers and opacities,
    needles shown by id, selection and outline, zones, trigger points, labels, cross-section,
    the measurement on show and the shaded referral region."""
    s = win.scene
    atlas = s.atlas
    structures = set(atlas.structures) if atlas is not None else set()
    dock = win.docks.get("Cross-section")
    sec = win.view.section
    return DemoStep(
        title=title,
        camera=camera_of(win.pl),
        text=text,
        hidden=tuple(sorted(s.hidden & structures)),
        opacity=dict(sorted(s.opacity.items())),
        needles=tuple(n.id for n in win.plan.needles if s.show_needles and n.id not in s.hidden_needles),
        selected=win.doc.selected,
        danger_zones=win.view.any_zone_visible(s.zone_ids()),
        focused=s.focused if s.focused in structures else None,
        hidden_zones=tuple(sorted(s.hidden_zones)),
        trigger_points=s.show_trigger_points,
        hidden_trigger_points=tuple(sorted(s.hidden_tps)),
        labels={
            "structures": s.show_labels,
            "landmarks": s.show_landmarks,
            "trigger_points": s.show_tp_labels,
        },
        section=Section(
            shown=dock is not None and not dock.isHidden(),
            mode=sec.mode,
            follow=sec.follow,
            level_mm=sec.level_mm,
        ),
        measurement=tuple(
            demo.MeasuredPoint(tuple(float(v) for v in p.point_mm), p.structure)  # type: ignore[arg-type]
            for p in win.measuring.measurement.points
        ),
        referral=win.referral.shown_for,
    )


def apply_step(win: Any, step: DemoStep, *, camera: bool = True) -> None:
    """Show exactly what the step recorded. Layers go through the Layers panel (its boxes
    and sliders stay true); what an old step does not say is left as it is."""
    s = win.scene
    atlas = s.atlas
    if atlas is None:
        return
    layers = win.layers
    for sid, st in atlas.structures.items():
        layers.set_checked(sid, sid not in step.hidden)
        op = step.opacity.get(sid, scene.DEFAULT_OPACITY.get(st.kind, 1.0))
        if abs(s.opacity.get(sid, -1.0) - op) > 1e-9 or sid in step.opacity:
            layers.set_opacity(sid, op)
    for st in scene.zoned_structures(atlas):
        layers.set_checked(f"zone:{st.id}", step.danger_zones and st.id not in step.hidden_zones)
        layers.set_opacity(f"zone:{st.id}", step.opacity.get(f"zone:{st.id}", scene.ZONE_OPACITY))
    if step.trigger_points is not None:
        if step.trigger_points != s.show_trigger_points:  # each call lays the labels out again
            s.set_trigger_points_visible(step.trigger_points)
        for tid in atlas.trigger_points:
            layers.set_checked(f"tp:{tid}", tid not in step.hidden_trigger_points)
            layers.set_opacity(f"tp:{tid}", step.opacity.get(f"tp:{tid}", scene.SPREAD_OPACITY))
    if step.labels is not None:
        layers.set_checked("labels", step.labels["structures"])
        layers.set_checked("landmarks", step.labels["landmarks"])
        layers.set_checked("tp_labels", step.labels["trigger_points"])
    ids = [n.id for n in win.plan.needles]
    shown = [i for i in ids if step.shows_needle(i)]
    layers.set_checked("needles", bool(shown))  # first: switching it on shows every needle
    s.set_hidden_needles({i for i in ids if i not in shown})
    if step.selected and step.selected in shown:
        win.select_needle(step.selected)
    if step.focused and step.focused in atlas.structures:
        win.show_info("structure", step.focused)
    else:
        win._clicked_focus = None  # the window's clicked outline, dropped as Esc would
        s.set_focus(None)
    # the step's measurement and referral region, or none: none is left over from before
    win.measuring.show_points([(p.point_mm, p.on) for p in step.measurement])
    win.referral.restore(step.referral if step.referral in atlas.trigger_points else None)
    if step.section is not None:
        fixed = step.section.follow == "fixed"
        win.view.set_section(
            mode=step.section.mode,
            follow=step.section.follow,
            level_mm=step.section.level_mm if fixed else None,
        )
        dock = win.docks.get("Cross-section")
        if dock is not None:
            dock.setVisible(step.section.shown)
    if camera:
        cam = win.pl.camera
        cam.position, cam.focal_point, cam.up = step.camera.position, step.camera.focal_point, step.camera.up
        cam.view_angle = step.camera.view_angle
        win.pl.reset_camera_clipping_range()
        s.relayout_labels()
    s.request_render()


def clear_needle_hiding(view: Any, key: str, visible: bool) -> None:
    """Switching the Needles layer on shows every needle again, also those a step hid."""
    if key == "needles" and visible:
        view.set_hidden_needles(())


# ====================================================================== the menu's commands
def record_step_dialog(win: Any) -> None:
    """Demonstration > Record step: a title and a text, then the view as the next step."""
    number = len(win.steps()) + 1
    dlg = StepDialog(number, win)
    if dlg.exec():
        win.record_step(dlg.title.text().strip() or f"Step {number}", dlg.text.toPlainText())


def export_steps_dialog(win: Any) -> None:
    """Demonstration > Export steps: a folder, an image size and a GIF or not."""
    if not win.steps():
        win.error("Export steps", "Record a step first (Demonstration > Record step).")
        return
    dlg = ExportDialog(str(Path(win.doc.path).parent if win.doc.path else Path.home()), win)
    if not dlg.exec() or not dlg.folder.text().strip():
        return
    folder = dlg.folder.text().strip()
    try:
        written = export_steps(win, folder, size=dlg.image_size(), gif=dlg.gif.isChecked())
    except (OSError, ValueError) as err:
        win.error("Cannot export the steps", f"{folder}: {err}")
        return
    also = " and demonstration.gif" if dlg.gif.isChecked() else ""
    win.statusBar().showMessage(f"Wrote {len(written)} images{also} to {folder}", 5000)


def export_steps(
    win: Any, folder: str | os.PathLike[str], size: tuple[int, int] = (960, 720), gif: bool = True
) -> list[Path]:
    """A PNG per step of the window's plan in ``folder`` (and demonstration.gif)."""
    from thighmap.viz.demo import export_demonstration

    return export_demonstration(
        win.plan,
        win.core.model(win.plan),
        folder,
        gif=Path(folder) / "demonstration.gif" if gif else None,
        size=size,
    )


# ====================================================================== the step list
class StepEditDialog(QDialog):
    """Title, text and duration of one step."""

    def __init__(self, step: DemoStep, number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Edit step {number}")
        self.title = QLineEdit(step.title)
        self.text = QPlainTextEdit(step.text)
        self.duration = QDoubleSpinBox(decimals=1, singleStep=0.5, suffix=" s")
        self.duration.setRange(*demo.DURATION_RANGE_S)
        self.duration.setValue(step.duration_s)
        self.duration.setToolTip("How long the step is held in the exported GIF")
        form = QFormLayout(self)
        form.addRow("Title", self.title)
        form.addRow("Text", self.text)
        form.addRow("Held for", self.duration)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class StepList(QWidget):
    """The demonstration's steps: double-click (or Show) goes to a step; the buttons
    rename, move, duplicate, edit and delete the selected step, each an undoable edit."""

    def __init__(self, win: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.win = win
        self.list = QListWidget()
        self.list.setToolTip("Double-click a step to show it; double-click its title to rename it")
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        specs = [
            ("record", "Record", "Add the current view as a new step", self._record),
            ("show", "Show", "Show the selected step in the view", self._show),
            ("rename", "Rename", "Rename the selected step", self._rename),
            ("edit", "Text && time…", "Edit the step's title, text and how long it is held", self._edit),
            ("up", "Up", "Move the step one place earlier", self._move_up),
            ("down", "Down", "Move the step one place later", self._move_down),
            ("duplicate", "Duplicate", "Copy the step, right after it", self._duplicate),
            ("delete", "Delete", "Delete the selected step (Edit > Undo brings it back)", self._delete),
        ]
        for k, (key, text, tip, slot) in enumerate(specs):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            self.buttons[key] = b
            grid.addWidget(b, k // 2, k % 2)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.summary)
        lay.addLayout(grid)
        self._filling = False
        self.list.itemDoubleClicked.connect(self._show)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.currentRowChanged.connect(self._update_buttons)
        win.undo.indexChanged.connect(self._on_undo_index)  # a bound slot: dropped with the list
        self.refresh()

    # --------------------------------------------------------------- drawing
    def _on_undo_index(self, _index: int) -> None:
        if shiboken6.isValid(self.list):
            self.refresh()

    def refresh(self, row: int | None = None) -> None:
        keep = self.list.currentRow() if row is None else row
        steps = self.win.steps()
        self._filling = True
        self.list.clear()
        for k, step in enumerate(steps, start=1):
            item = QListWidgetItem(step.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"Step {k}: {step.text or 'no text'} · held {step.duration_s:g} s")
            self.list.addItem(item)
        self._filling = False
        if steps:
            self.list.setCurrentRow(min(max(keep, 0), len(steps) - 1))
        self._update_buttons()

    def _update_buttons(self, _row: int = 0) -> None:
        if not all(shiboken6.isValid(b) for b in (self.summary, *self.buttons.values())):
            return  # the window is being torn down
        row, n = self.list.currentRow(), self.list.count()
        has = 0 <= row < n
        for key in ("show", "rename", "edit", "duplicate", "delete"):
            self.buttons[key].setEnabled(has)
        self.buttons["up"].setEnabled(has and row > 0)
        self.buttons["down"].setEnabled(has and row < n - 1)
        steps = self.win.steps() if has else []
        if has and row < len(steps):
            st = steps[row]
            needles = "every needle" if st.needles is None else (", ".join(st.needles) or "no needle")
            self.summary.setText(f"Step {row + 1} of {n} · held {st.duration_s:g} s · shows {needles}")
        else:
            self.summary.setText("No steps yet: set up the view, then Record." if n == 0 else "")

    # --------------------------------------------------------------- actions
    def _edit_plan(self, plan: Plan, text: str, row: int) -> None:
        self.win.push_edit(plan, text)
        self.refresh(row)

    def _try(self, make: Any, text: str, row: int) -> None:
        try:
            plan = make()
        except demo.DemoError as err:
            self.win.error("Demonstration", str(err))
            self.refresh()
            return
        self._edit_plan(plan, text, row)

    def _record(self) -> None:
        record_step_dialog(self.win)
        self.refresh(self.list.count())

    def _show(self, _item: Any = None) -> None:
        row = self.list.currentRow()
        steps = self.win.steps()
        if 0 <= row < len(steps):
            apply_step(self.win, steps[row])
            hidden = sorted(self.win.scene.hidden_needles)
            note = ""
            if hidden:
                note = f"; needle(s) {', '.join(hidden)} hidden by the step (Needles layer shows all)"
            self.win.statusBar().showMessage(f"Step {row + 1}: {steps[row].title}{note}", 8000)

    def _rename(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.editItem(item)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        row = self.list.row(item)
        steps = self.win.steps()
        new = item.text()
        if 0 <= row < len(steps) and new.strip() != steps[row].title:
            self._try(lambda: demo.rename_step(self.win.plan, row, new), f"Rename step {row + 1}", row)

    def edit_dialog(self, row: int) -> StepEditDialog:
        return StepEditDialog(self.win.steps()[row], row + 1, self)

    def _edit(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < self.list.count():
            return
        dlg = self.edit_dialog(row)
        if dlg.exec():
            self._try(
                lambda: demo.edit_step(
                    self.win.plan,
                    row,
                    title=dlg.title.text(),
                    text=dlg.text.toPlainText(),
                    duration_s=dlg.duration.value(),
                ),
                f"Edit step {row + 1}",
                row,
            )

    def _move_up(self) -> None:
        self._move(-1)

    def _move_down(self) -> None:
        self._move(+1)

    def _move(self, delta: int) -> None:
        row = self.list.currentRow()
        to = row + delta
        if 0 <= row < self.list.count() and 0 <= to < self.list.count():
            self._try(lambda: demo.move_step(self.win.plan, row, to), f"Move step {row + 1} to {to + 1}", to)

    def _duplicate(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < self.list.count():
            self._try(lambda: demo.duplicate_step(self.win.plan, row), f"Duplicate step {row + 1}", row + 1)

    def _delete(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < self.list.count():
            self._try(lambda: demo.delete_step(self.win.plan, row), f"Delete step {row + 1}", row)


# ====================================================================== export
def folder_dialog(parent: QWidget | None, start: str) -> QFileDialog:
    """A folder chooser that can create a folder (Qt's own dialog: the same on every
    desktop, with its "Create New Folder" button; never read-only)."""
    dlg = QFileDialog(parent, "Folder for the step images", start)
    dlg.setFileMode(QFileDialog.FileMode.Directory)
    dlg.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)  # the test checks the button stays
    dlg.setOption(QFileDialog.Option.ReadOnly, False)
    dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    dlg.setLabelText(QFileDialog.DialogLabel.Accept, "Use this folder")
    return dlg


class ExportDialog(QDialog):
    """Where the step images go, their size, and whether a GIF is written too."""

    def __init__(self, start: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export demonstration steps")
        self.folder = QLineEdit(start)
        browse = QPushButton("Choose…")
        browse.setToolTip("Choose or create a folder")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.width_px = QSpinBox(minimum=160, maximum=7680, singleStep=80, suffix=" px")
        self.height_px = QSpinBox(minimum=120, maximum=4320, singleStep=60, suffix=" px")
        self.width_px.setValue(EXPORT_SIZES[0][0])
        self.height_px.setValue(EXPORT_SIZES[0][1])
        presets = QHBoxLayout()
        for w, h in EXPORT_SIZES:
            b = QPushButton(f"{w}×{h}")
            b.setProperty("image_size", f"{w}x{h}")
            b.clicked.connect(self._preset)
            presets.addWidget(b)
        size = QHBoxLayout()
        size.addWidget(self.width_px)
        size.addWidget(QLabel("×"))
        size.addWidget(self.height_px)
        size.addStretch(1)
        self.gif = QCheckBox("Also write demonstration.gif (each step held for its own time)")
        self.gif.setChecked(True)
        form = QFormLayout(self)
        form.addRow("Folder", row)
        form.addRow("Image size", size)
        form.addRow("", presets)
        form.addRow("", self.gif)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(OK).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _preset(self) -> None:
        w, h = str(self.sender().property("image_size")).split("x")
        self.set_image_size(int(w), int(h))

    def set_image_size(self, width_px: int, height_px: int) -> None:
        self.width_px.setValue(width_px)
        self.height_px.setValue(height_px)

    def image_size(self) -> tuple[int, int]:
        return self.width_px.value(), self.height_px.value()

    def _browse(self) -> None:
        dlg = folder_dialog(self, self.folder.text() or str(Path.home()))
        if dlg.exec() and dlg.selectedFiles():
            self.folder.setText(dlg.selectedFiles()[0])

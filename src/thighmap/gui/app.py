"""The main window and :func:`run`: the parts of the program put together.

Two models, no Qt in either: the plan document (planning.document: the plan, its file,
the selected needle, its check results, unsaved or not) and the view state
(viz.view_state: what is shown). The 3D scene, the panels, the cross-section and the
status bar follow their signals. Every edit is a plain function of planning.edits,
pushed on the undo stack as one step; applying a plan re-checks only changed needles.
Atlas actors are rebuilt only when the model changes (patient profile or side).

The window's commands are one table (gui/actions.py), from which its menus, toolbar,
context menus (gui/context.py) and keyboard-shortcut list are built; each names the part
that does the work. Its other jobs live in their own parts: files and recovery
(gui/files.py), the mouse over the 3D view (gui/viewmouse.py), skin maps
(gui/skinmaps.py), demonstration steps, recorded, listed and exported (gui/steps.py),
presentations (gui/presentation.py), the measuring tool (gui/measuring.py), referral
regions on the skin (gui/referral.py). What stays here: building the window, the model's
(re)loading, and the edits of the plan, each a plain function of planning.edits pushed
on the undo stack.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QToolBar,
    QWidget,
)

import thighmap
from thighmap.planning import Needle, Plan, angles_from_direction, demo, edits, mirror_x
from thighmap.planning.document import PlanDocument
from thighmap.viz.view_state import ViewState

from . import actions, storage
from .commands import PlanEdit
from .context import ContextMenus
from .core import CoreSession, EngineMissing
from .dialogs import ContraindicationDialog, PatientDialog, show_plain_error
from .files import PlanFiles, recovery_question
from .measuring import MeasuringTool
from .panels import InfoPanel, LayersPanel, NeedlePanel, SafetyPanel
from .presentation import Presenter
from .referral import ReferralView
from .scene3d import Scene3D
from .search import StructureSearch
from .section import SectionPanel
from .skinmaps import SkinMaps
from .statusbar import StatusBar
from .steps import StepList, capture_step, clear_needle_hiding
from .undokeys import install_undo_keys
from .viewmouse import ViewMouse

log = logging.getLogger("thighmap.gui")

LAYOUT_VERSION = 1  # of the saved dock layout: raise it when the docks change


def _make_plotter(parent: QWidget) -> Any:
    from pyvistaqt import QtInteractor

    # Multisampling triples the cost of a frame in software OpenGL; FXAA is nearly free.
    pv.global_theme.multi_samples = 0
    pl = QtInteractor(parent, auto_update=False, multi_samples=0)
    try:
        pl.enable_anti_aliasing("fxaa")
    except Exception:  # pragma: no cover - depends on the OpenGL driver
        log.info("FXAA not available")
    for key in ("q", "b", "v", "C", "plus", "minus"):
        pl.clear_events_for_key(key)
    # VTK's own one-letter keys (w wireframe, s surface, e/q exit, 3 stereo, ...)
    pl.iren.interactor.RemoveObservers("CharEvent")
    return pl


class MainWindow(QMainWindow):
    def __init__(
        self,
        plan_path: str | os.PathLike[str] | None = None,
        *,
        session: CoreSession | None = None,
        offer_recovery: bool = True,
    ) -> None:
        super().__init__()
        t0 = time.perf_counter()
        install_undo_keys(QApplication.instance())  # type: ignore[arg-type]
        self.setWindowTitle("thighmap")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.core = session or CoreSession()
        # the two models: the plan document and what the view shows; every view follows them
        self.doc = PlanDocument(self.core.check_all)
        self.view = ViewState()
        self.timings: dict[str, float] = {}
        self.window_id = storage.new_window_id()  # names this window's recovery file
        self.files = PlanFiles(self)  # open, save, recent, recovery, exports (gui/files.py)
        # after the files: Qt deletes children in order, and the stack's last signals
        # (as it is cleared on deletion) must find no files part to call
        self.undo = QUndoStack(self)
        self.undo.indexChanged.connect(self.files.schedule_autosave)
        self._drawn_atlas: Any = None
        self.maps = SkinMaps(self)  # the skin map on show (gui/skinmaps.py)

        self.pl = _make_plotter(self)
        # plan files dropped on the view reach the window (pyvistaqt would read them as meshes)
        self.pl.setAcceptDrops(False)
        self.setCentralWidget(self.pl)
        self.scene = Scene3D(self.pl, self.view)
        self.scene.set_handle_callback(self.on_tip_dragged)
        self._clicked_focus: str | None = None  # the structure outlined by a click
        self.mouse = ViewMouse(self)  # clicks, hover, right clicks and wheel (gui/viewmouse.py)
        self.context = ContextMenus(self)  # context menus (gui/context.py)

        self.layers = LayersPanel(self.view)
        self.info = InfoPanel()
        self.needles = NeedlePanel()
        self.safety = SafetyPanel()
        self.section = SectionPanel(self.view)
        self.step_list = StepList(self)
        self.docks: dict[str, QDockWidget] = {}
        self._dock("Layers", self.layers, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Information", self.info, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Needles", self.needles, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        self._dock("Safety", self.safety, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        self._dock("Cross-section", self.section, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("Steps", self.step_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self.docks["Cross-section"].hide()
        self.docks["Steps"].hide()
        self.resizeDocks([self.docks["Layers"], self.docks["Needles"]], [270, 400], Qt.Orientation.Horizontal)
        self.measuring, self.referral = MeasuringTool(self), ReferralView(self)
        self.presenter = Presenter(self)  # full-screen demonstrations (gui/presentation.py)
        self._build_actions()  # after the parts: the action table's handlers are theirs
        self.setStatusBar(StatusBar())
        self.status_label = self.statusBar().permanent  # type: ignore[attr-defined]

        self.undo.cleanChanged.connect(lambda clean: self.doc.set_dirty(not clean))

        self._connect_models()
        self._load_model(preset="posterior")
        self._restore_layout()
        self.timings["window_built_s"] = time.perf_counter() - t0
        if plan_path is not None:
            self.files.open_plan(plan_path, recovery=False)
        if offer_recovery:
            # once the window is up: the plan's own recovery first, then any other
            start_path = str(plan_path) if plan_path is not None else None
            QTimer.singleShot(0, lambda: self.files.offer_recovery(start_path))
        self.files.update_title()

    @property
    def plan(self) -> Plan:
        """The document's plan (its file, selection and results: self.doc)."""
        return self.doc.plan

    # ================================================================ construction
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, scroll: bool = False) -> None:
        """A dock for `widget`; with `scroll`, inside a scroll area, so that on a small
        screen the panel scrolls instead of squeezing its wrapped lines or growing the
        window taller than the screen."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        if scroll:
            area_widget = QScrollArea()
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            # the panel takes the viewport's width (its lines wrap), and scrolls vertically
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            area_widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area_widget.setWidget(widget)
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock

    def _build_actions(self) -> None:
        """Menus, toolbar and context menus from the one action table (gui/actions.py)."""
        self.actions_by_id = actions.build_actions(self)
        a = self.actions_by_id
        self.menus = actions.build_menus(self.menuBar(), a)
        tb = QToolBar("View")
        tb.setObjectName("toolbar_view")
        self.addToolBar(tb)
        actions.build_toolbar(tb, a)
        self.recent_menu = QMenu("Open &recent", self)
        self.menus["file"].insertMenu(a["save"], self.recent_menu)
        self.files.refresh_recent()
        self.menus["view"].addSeparator()
        for dock in self.docks.values():
            self.menus["view"].addAction(dock.toggleViewAction())
        self.undo.canUndoChanged.connect(a["undo"].setEnabled)
        self.undo.canRedoChanged.connect(a["redo"].setEnabled)
        self.undo.undoTextChanged.connect(lambda t: a["undo"].setText(f"&Undo {t}".rstrip()))
        self.undo.redoTextChanged.connect(lambda t: a["redo"].setText(f"&Redo {t}".rstrip()))
        a["undo"].setEnabled(False)
        a["redo"].setEnabled(False)
        self.act_left, self.act_labels, self.act_zones = a["left_thigh"], a["labels"], a["zones"]
        self.act_place, self.act_steps, self.act_present = a["place"], a["steps"], a["present"]
        self.act_map_tp, self.act_map_tip, self.act_map_depth = a["map_tp"], a["map_tip"], a["map_depth"]
        self.act_map_best, self.act_map_clear = a["map_best"], a["map_clear"]
        self.maps.update_actions()

    def _connect_models(self) -> None:
        """Who listens to what. The document: the model (first: the atlas may change), then
        the 3D view, the panels, the cross-section and the status bar. The view state: the
        scene, the Layers tree and the cross-section follow it by themselves (they were
        given it); here the toolbar's switches."""
        d, v = self.doc, self.view
        d.plan_changed.connect(self._on_plan_changed)
        self.scene.follow_document(d)
        self.needles.follow_document(d, self._angles)
        self.safety.follow_document(d)
        self.section.follow_document(d)
        d.plan_changed.connect(lambda *_: self.statusBar().set_summary(d.summary()))  # type: ignore[attr-defined]
        d.plan_changed.connect(lambda plan, _old: self.act_left.setChecked(plan.side == "left"))
        d.dirty_changed.connect(lambda _dirty: self.files.update_title())
        d.path_changed.connect(lambda _path: self.files.update_title())
        v.visibility_changed.connect(self._on_visibility)
        v.visibility_changed.connect(lambda k, on: clear_needle_hiding(v, k, on))
        # the panels' intentions
        self.structure_search = StructureSearch(self.layers, lambda: self.scene.atlas)
        self.structure_search.chosen.connect(lambda sid: self.show_info("structure", sid))
        self.structure_search.fly_to.connect(self.scene.fly_to)
        self.layers.show_only.connect(self.scene.show_only)
        self.layers.item_selected.connect(self._choose_structure)
        self.layers.context_requested.connect(self.context.for_layer)
        self.section.structure_clicked.connect(lambda sid: self.show_info("structure", sid))
        self.section.hover_text.connect(lambda text: self.statusBar().showMessage(text, 3000))
        self.docks["Cross-section"].visibilityChanged.connect(self.scene.section_plane.set_shown)
        n = self.needles
        n.selected.connect(self.select_needle)
        n.place_entry.connect(self.set_placing)
        n.add_from_trigger_point.connect(self.add_from_trigger_point)
        n.remove.connect(self.remove_needle)
        n.depth_changed.connect(self.set_depth)
        n.angles_changed.connect(self.set_angles)
        n.length_changed.connect(self.set_needle_length)
        n.gauge_changed.connect(lambda v: self._edit_fields("Gauge", gauge_mm=v))
        n.target_changed.connect(lambda v: self._edit_fields("Target", target=v or None))

    # ================================================================ model / redraw
    def _load_model(self, preset: str | None = None) -> None:
        """(Re)build the anatomy when the model changes (start, patient, side); at the
        start, seen from the camera preset `preset`."""
        atlas = self.core.atlas(self.plan)
        if atlas is self._drawn_atlas:
            return
        self._drawn_atlas = atlas

        def zone(sid: str) -> Any:
            try:
                return self.core.danger_zone_mesh(self.plan, sid)
            except EngineMissing:
                return None

        self.scene.set_atlas(atlas, zone, self.plan.side, preset)
        self.layers.populate(atlas)
        self.needles.set_atlas(atlas)
        self.safety.set_atlas(atlas)
        self.section.set_atlas(atlas, zone, self.plan.side)

    def _on_plan_changed(self, plan: Plan, old: Plan) -> None:
        if self.core.model_changes(old, plan):
            try:
                self._load_model()
            except EngineMissing:
                pass  # the document says so (check_error)
            if self.maps.map_request is not None:
                self.maps.draw()  # the map follows the patient profile

    def apply_plan(self, plan: Plan, select: str | None) -> None:
        """Make ``plan`` current (called by undo commands and by open/new); the views
        follow the document."""
        t0 = time.perf_counter()
        self.doc.set_plan(plan, select)
        total = time.perf_counter() - t0
        self.timings.update(check_s=self.doc.check_s, redraw_s=total - self.doc.check_s)

    def _angles(self, needle: Needle | None) -> tuple[float, float] | None:
        if needle is None:
            return None
        try:
            _p, normal = self.core.skin_frame(self.plan, needle.entry_mm)
            return angles_from_direction(needle.direction, normal, self.plan.side)
        except Exception:
            return None

    # ================================================================ edits
    # each is a plain function of planning.edits, pushed as one undoable step
    def push_edit(self, plan: Plan, text: str, select: str | None = None, merge: str | None = None) -> None:
        sel = select if select is not None else self.doc.selected
        self.undo.push(PlanEdit(self.apply_plan, self.plan, plan, text, self.doc.selected, sel, merge))

    def _edit(self, make: Any, text: str, merge: str | None = None) -> None:
        """Edit the selected needle with ``make(plan, needle_id) -> plan`` (None: no edit)."""
        needle = self.doc.selected_needle()
        if needle is None:
            return
        plan = make(self.plan, needle.id)
        if plan is None or plan.needle(needle.id) == needle:
            return
        self.push_edit(plan, f"{text} of {needle.id}", needle.id, merge)

    def _edit_fields(self, text: str, **changes: Any) -> None:
        self._edit(lambda p, nid: edits.set_needle_fields(p, nid, **changes), text)

    def set_depth(self, depth_mm: float) -> None:
        self._edit(lambda p, nid: edits.set_depth(p, nid, depth_mm), "Depth", "depth")

    def set_needle_length(self, length_mm: float) -> None:
        self._edit(lambda p, nid: edits.set_needle_length(p, nid, length_mm), "Needle length")

    def nudge_depth(self, delta_mm: float) -> None:
        needle = self.doc.selected_needle()
        if needle is not None:
            self.set_depth(needle.depth_mm + delta_mm)

    def set_angles(self, tilt_deg: float, azimuth_deg: float) -> None:
        needle = self.doc.selected_needle()
        if needle is None:
            return
        try:
            _p, normal = self.core.skin_frame(self.plan, needle.entry_mm)
            plan = edits.set_angles(self.plan, needle.id, tilt_deg, azimuth_deg, normal)
        except Exception as exc:
            self.statusBar().showMessage(f"Cannot aim by angles here: {exc}", 5000)
            return
        self._edit(lambda _p, _nid: plan, "Angle", "angles")

    def on_tip_dragged(self, tip_mm: np.ndarray) -> None:
        """The tip handle was dragged: aim the needle at it, depth = distance."""
        self._edit(lambda p, nid: edits.aim_at(p, nid, tip_mm), "Aim", "aim")

    def _add_needle(self, needle: Needle, text: str) -> Needle:
        self.push_edit(edits.add_needle(self.plan, needle), text, needle.id)
        return needle

    def handle_skin_pick(self, point_mm: np.ndarray) -> Needle | None:
        """Place a new needle at a picked skin point (plan frame), along the inward normal."""
        self.set_placing(False)
        try:
            entry, normal = self.core.skin_frame(self.plan, np.asarray(point_mm, float))
        except EngineMissing as exc:
            self.error("Cannot place a needle", str(exc))
            return None
        nid = edits.new_needle_id(self.plan)
        return self._add_needle(edits.default_needle(nid, entry, normal), f"Place needle {nid}")

    def add_from_trigger_point(self, tp_id: str) -> Needle | None:
        nid = edits.new_needle_id(self.plan)
        try:
            needle = self.core.needle_from_trigger_point(self.plan, tp_id, nid)
        except Exception as exc:
            self.error("Cannot create the needle", f"{tp_id}: {exc}")
            return None
        return self._add_needle(needle, f"Needle {nid} from trigger point")

    def remove_needle(self, nid: str) -> None:
        try:
            plan, nxt = edits.remove_needle(self.plan, nid)
        except KeyError:
            return
        self.push_edit(plan, f"Delete needle {nid}", nxt)

    def remove_selected(self) -> None:
        if self.doc.selected:
            self.remove_needle(self.doc.selected)

    def duplicate_selected(self) -> None:
        if self.doc.selected:
            plan, nid = edits.duplicate_needle(self.plan, self.doc.selected)
            self.push_edit(plan, f"Duplicate needle {self.doc.selected} as {nid}", nid)

    def select_needle(self, nid: str) -> None:
        if nid == self.doc.selected:
            return
        self.doc.select(nid)
        needle = self.doc.selected_needle()
        if needle is not None:
            self.info.show_needle(needle, self.doc.reports.get(nid))

    # ================================================================ demonstrations
    def steps(self) -> list[demo.DemoStep]:
        try:
            return demo.steps_of(self.plan)
        except demo.DemoError as err:
            self.error("Demonstration", f"{self.doc.path or 'plan'}: {err}")
            return []

    def record_step(self, title: str, text: str = "") -> demo.DemoStep:
        """Add what is on screen now as the next demonstration step (undoable)."""
        step = capture_step(self, title, text)  # gui/steps.py: everything visible
        steps = [*self.steps(), step]
        self.push_edit(demo.with_steps(self.plan, steps), f"Record step {len(steps)}")
        return step

    def delete_last_step(self) -> None:
        steps = self.steps()
        if steps:
            self.push_edit(demo.with_steps(self.plan, steps[:-1]), f"Delete step {len(steps)}")

    # ================================================================ the patient and the thigh
    def edit_patient(self) -> None:
        ref_atlas = self.core.reference_atlas
        female_fat = getattr(ref_atlas.fitting, "female_default_posterior_fat_mm", None)
        dlg = PatientDialog(self.plan.patient, ref_atlas.reference_adult, self, female_fat_mm=female_fat)
        if dlg.exec():
            prof = dlg.result_profile
            if prof != self.plan.patient:
                self.set_patient(prof)

    def edit_contraindications(self) -> None:
        dlg = ContraindicationDialog(self.plan.contraindications, self)
        if dlg.exec():
            self.set_contraindications(dlg.recorded())

    def set_contraindications(self, recorded: dict[str, bool] | None) -> None:
        if recorded != self.plan.contraindications:
            self.push_edit(self.plan.with_changes(contraindications=recorded), "Contraindication checklist")

    def set_left_thigh(self, left: bool) -> None:
        """Switch the plan to the other thigh: the atlas and every needle are mirrored."""
        if (self.plan.side == "left") != left:
            self.push_edit(mirror_x(self.plan), "Left thigh" if left else "Right thigh", self.doc.selected)

    def set_patient(self, profile: Any) -> bool:
        """Fit the atlas to a patient profile, move every needle with the anatomy (one
        undoable step, see planning.refit) and re-check; a profile the atlas cannot be
        fitted to is refused with its reason and changes nothing."""
        try:
            carried = self.core.carry_to_patient(self.plan, profile)
            self.core.model(carried.plan)
        except ValueError as err:
            self.error("Cannot use this patient profile", str(err))
            return False
        moved = sum(
            1 for a, b in zip(self.plan.needles, carried.plan.needles, strict=True) if not a.isclose(b, 1e-6)
        )
        self.push_edit(carried.plan, "Patient profile")
        if carried.notes:
            self.error("Needles moved with the patient", "\n".join(carried.notes))
        elif moved:
            self.statusBar().showMessage(
                f"Fitted to the patient; {moved} needle(s) moved with the anatomy", 5000
            )
        return True

    # ================================================================ view interactions
    def _on_visibility(self, key: str, _visible: bool) -> None:
        """The toolbar's switches show the view state: Labels, and Danger zones (on while
        any zone is)."""
        if key == "labels":
            self.act_labels.setChecked(self.view.is_visible("labels"))
        elif key.startswith("zone:"):
            self.act_zones.setChecked(self.view.any_zone_visible(self.scene.zone_ids()))

    def set_placing(self, on: bool) -> None:
        """Placement mode: the next click on the skin places a needle."""
        self.act_place.setChecked(on)
        self.needles.place.setChecked(on)  # its toggled signal comes back here: no change then
        if on:
            self.measuring.set_active(False)
            self.statusBar().showMessage("Click on the skin to place the entry point (Esc to cancel)")
        elif self.statusBar().currentMessage().startswith("Click on the skin"):
            self.statusBar().clearMessage()

    def show_steps(self) -> None:
        self.docks["Steps"].show()
        self.docks["Steps"].raise_()

    # ---------------------------------------------------------------- keys and layout
    def keyPressEvent(self, event: Any) -> None:
        if self.presenter.key(event.key()):
            return
        if event.key() == Qt.Key.Key_Escape:
            self.cancel()
            return
        super().keyPressEvent(event)

    def cancel(self) -> None:
        """Esc: leave placement or measuring mode, else drop the clicked structure's outline."""
        if self.act_place.isChecked() or self.measuring.active:
            self.set_placing(False)
            self.measuring.set_active(False)
        else:
            self._clicked_focus = None
            self.scene.set_focus(None)

    def _restore_layout(self) -> None:
        """The window's size and docks as the user left them (QSettings in storage's folder)."""
        s = storage.settings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        s = storage.settings()
        s.setValue("window/geometry", self.saveGeometry())
        if self.presenter.presenting is None:  # a presentation hides every dock for a while
            s.setValue("window/state", self.saveState(LAYOUT_VERSION))
        else:
            s.setValue("window/state", self.presenter.layout_before())
        s.sync()

    def show_info(self, kind: str, ident: str) -> None:
        atlas = self.scene.atlas
        if atlas is None:
            return
        if kind == "structure":
            self._choose_structure(ident)
        elif kind == "trigger_point":
            self.info.show_trigger_point(atlas, ident)
            self.referral.show_for(ident)
            self.needles.tp_combo.setCurrentIndex(self.needles.tp_combo.findData(ident))
        elif kind == "needle":
            self.select_needle(ident)
            self.info.show_needle(self.plan.needle(ident), self.doc.reports.get(ident))
        self.docks["Information"].raise_()

    def _choose_structure(self, sid: str) -> None:
        """A structure chosen in the Layers tree: its card, and its outline in the view
        (as a click on it gives; Esc drops it)."""
        self._clicked_focus = sid
        self.scene.set_focus(sid)
        self._show_info_structure(sid)

    def _show_info_structure(self, sid: str) -> None:
        atlas = self.scene.atlas
        if atlas is not None and sid in atlas.structures:
            self.info.show_structure(atlas, sid)
            self.statusBar().showMessage(atlas.structures[sid].name, 4000)

    # ================================================================ files dropped on the window
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and u.toLocalFile().endswith(".json") for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = event.mimeData().urls()
        if urls:
            event.acceptProposedAction()
            self.files.open_plan(urls[0].toLocalFile(), ask=True)

    def closeEvent(self, event: Any) -> None:
        if not self.files.maybe_save():
            event.ignore()
            return
        self.files.autosave.stop()
        self.save_layout()
        storage.clear_recovery(self.window_id)  # saved, or discarded on purpose: nothing to recover
        self.scene.close()
        self.pl.close()
        event.accept()

    # ================================================================ errors
    def error(self, title: str, text: str) -> None:
        log.warning("%s: %s", title, text)
        show_plain_error(self, title, text)  # text from files never read as HTML

    def show_unexpected(self, summary: str, details: str) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Unexpected error")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            "thighmap hit an unexpected error. Your plan is still open; save it under "
            f"a new name to be safe.\n\n{summary}\n\nDetails are in "
            f"{storage.data_dir() / storage.LOG_NAME}"
        )
        box.setDetailedText(details)
        box.exec()


def run(plan_path: str | None = None, atlas: Any = None) -> int:
    """Open the window (on ``plan_path`` if given, on ``atlas`` instead of the bundled
    one if given) and run the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("thighmap")
    app.setApplicationVersion(thighmap.__version__)
    app.setWindowIcon(QIcon())
    storage.setup_logging()
    log.info("thighmap %s starting", thighmap.__version__)
    window = MainWindow(plan_path, session=CoreSession(atlas) if atlas is not None else None)
    storage.install_excepthook(window.show_unexpected)
    window.show()
    window.scene.request_render()
    # once the first frame is up: load the safety kernels in the background (on a
    # machine's first run their compilation, said in the status bar) rather than at the
    # first check
    QTimer.singleShot(0, lambda: _warm_kernels(window))
    return int(app.exec())


def _warm_kernels(window: MainWindow) -> None:
    from thighmap.safety import kernels

    message = kernels.first_run_message()
    if message is not None:
        window.statusBar().showMessage(message[0].upper() + message[1:])
        log.info("%s", message)

    def prepare() -> None:
        problem = kernels.prepare() if message is not None else kernels.warm_up()
        if problem:
            log.warning("could not compile the safety kernels ahead of time: %s", problem)

    worker = threading.Thread(target=prepare, name="thighmap-compile", daemon=True)
    worker.start()

    def done() -> None:
        if worker.is_alive():
            QTimer.singleShot(250, done)
        elif window.statusBar().currentMessage().startswith("Compiling the safety kernels"):
            window.statusBar().showMessage("Safety kernels ready", 3000)

    done()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else None))


__all__ = ["MainWindow", "recovery_question", "run"]

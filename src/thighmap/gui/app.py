"""The main window and :func:`run`.

The window holds the current plan (an immutable value), its file path and an undo
stack. Every edit builds a new plan and pushes it as an undoable command; applying a
plan asks the core to check the needles (only changed needles are re-checked) and
redraws the needle actors and panels. Atlas actors are rebuilt only when the model
changes (patient profile or side).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QIcon, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QScrollArea,
    QSizePolicy,
    QToolBar,
    QWidget,
)

import thighmap
from thighmap import sides
from thighmap.planning import (
    Needle,
    Plan,
    PlanError,
    angles_from_direction,
    demo,
    direction_from_angles,
    mirror_x,
    save_plan,
)
from thighmap.safety import maps

from . import storage
from .commands import PlanEdit
from .core import CoreSession, EngineMissing
from .dialogs import ContraindicationDialog, PatientDialog, StepDialog, show_about, show_plain_error
from .panels import InfoPanel, LayersPanel, NeedlePanel, SafetyPanel
from .scene3d import Scene3D
from .search import StructureSearch
from .section import SectionPanel
from .steps import ExportDialog, StepList, apply_step, capture_step, clear_needle_hiding

log = logging.getLogger("thighmap.gui")

PLAN_FILTER = "thighmap plans (*.thighplan.json);;JSON files (*.json);;All files (*)"
DEFAULT_LENGTH_MM = 50.0
DEFAULT_GAUGE_MM = 0.25
DEFAULT_DEPTH_MM = 15.0
CAMERA_MOVE_S = 0.7  # a presentation's camera glides to the next step in this time
CAMERA_TICK_MS = 30
HOVER_DELAY_MS = 120  # the mouse rests this long before what is under it is outlined
AUTOSAVE_DELAY_MS = 3000
CAMERA_KEYS = (
    ("Posterior", "posterior", "P"),
    ("Lateral", "lateral", "L"),
    ("Medial", "medial", "M"),
    ("From below", "axial_from_below", "B"),
    ("From above", "axial_from_above", "T"),
)


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


class _WheelFilter(QObject):
    """Ctrl + mouse wheel over the 3D view changes the selected needle's depth; Esc
    over it cancels placement."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:  # type: ignore[attr-defined]
            steps = event.angleDelta().y() / 120.0  # type: ignore[attr-defined]
            self.window.nudge_depth(0.5 * steps)
            return True
        # the 3D view takes every key for itself: the presentation's keys and Esc must
        # still reach the window
        if event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if self.window.presentation_key(key):
                return True
            if key == Qt.Key.Key_Escape:
                self.window.cancel()
                return True
        return False


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
        self.setWindowTitle("thighmap")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.core = session or CoreSession()
        self.plan: Plan = Plan()
        self.plan_path: str | None = None
        self.selected: str | None = None
        self.reports: dict[str, Any] = {}
        self.check_error: str | None = None
        self.timings: dict[str, float] = {}
        self.undo = QUndoStack(self)
        self.window_id = storage.new_window_id()  # names this window's recovery file
        self._drawn_atlas: Any = None
        # the skin map on show: ("approach", target_mm, label, follows), ("depth",) or None;
        # follows: ("trigger_point", id), ("needle_tip", id) or None (see show_approach)
        self.map_request: tuple[Any, ...] | None = None
        self.approach: maps.ApproachMap | None = None

        self.pl = _make_plotter(self)
        # plan files dropped on the view reach the window (pyvistaqt would read them as meshes)
        self.pl.setAcceptDrops(False)
        self.setCentralWidget(self.pl)
        self.scene = Scene3D(self.pl)
        self.scene.set_handle_callback(self.on_tip_dragged)
        self._wheel = _WheelFilter(self)
        self.pl.installEventFilter(self._wheel)
        self._press_pos: tuple[int, int] | None = None
        self.pl.iren.add_observer("LeftButtonPressEvent", self._on_press)
        self.pl.iren.add_observer("LeftButtonReleaseEvent", self._on_release)
        self.pl.iren.add_observer("EndInteractionEvent", self._after_camera_move)
        self.pl.iren.add_observer("MouseMoveEvent", self._on_move)
        self._clicked_focus: str | None = None
        self._hover_pos: tuple[int, int] | None = None
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(HOVER_DELAY_MS)
        self._hover_timer.timeout.connect(self._hover)

        self.layers = LayersPanel()
        self.info = InfoPanel()
        self.needles = NeedlePanel()
        self.safety = SafetyPanel()
        self.section = SectionPanel()
        self.docks: dict[str, QDockWidget] = {}
        self._dock("Layers", self.layers, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Information", self.info, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Needles", self.needles, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        self._dock("Safety", self.safety, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        self._dock("Cross-section", self.section, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.docks["Cross-section"].hide()
        self.resizeDocks([self.docks["Layers"], self.docks["Needles"]], [270, 400], Qt.Orientation.Horizontal)

        self._build_actions()
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)

        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self.write_recovery)
        self.undo.cleanChanged.connect(self._on_clean_changed)
        self.undo.indexChanged.connect(self._schedule_autosave)

        self._connect_panels()
        self._load_model(None)
        self.scene.camera("posterior")
        self.timings["window_built_s"] = time.perf_counter() - t0
        if plan_path is not None:
            self.open_plan(plan_path, recovery=False)
        if offer_recovery:
            # once the window is up: the plan's own recovery first, then any other
            start_path = str(plan_path) if plan_path is not None else None
            QTimer.singleShot(0, lambda: self.offer_recovery(start_path))
        self._update_title()

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

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut else tip)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self._action("&New plan", self.new_plan, QKeySequence.StandardKey.New))
        f.addAction(self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open))
        self.recent_menu = f.addMenu("Open &recent")
        f.addAction(self._action("&Save", self.save, QKeySequence.StandardKey.Save))
        f.addAction(self._action("Save &as…", self.save_as, QKeySequence.StandardKey.SaveAs))
        f.addSeparator()
        f.addAction(self._action("&Export view as PNG…", self.export_png_dialog, "Ctrl+E"))
        f.addAction(self._action("Export &report (PDF)…", self.export_report_dialog, "Ctrl+Shift+E"))
        f.addSeparator()
        f.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))
        self._refresh_recent()

        e = mb.addMenu("&Edit")
        undo = self.undo.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(undo)
        e.addAction(redo)
        e.addSeparator()
        e.addAction(self._action("&Patient profile…", self.edit_patient, "Ctrl+Shift+P"))
        e.addAction(self._action("&Contraindication checklist…", self.edit_contraindications))
        self.act_left = self._action(
            "&Left thigh",
            self.set_left_thigh,
            "Ctrl+Shift+L",
            "Plan for the left thigh: the atlas and every needle mirrored",
        )
        self.act_left.setCheckable(True)
        e.addAction(self.act_left)
        e.addAction(self._action("&Delete needle", self.remove_selected, QKeySequence.StandardKey.Delete))

        v = mb.addMenu("&View")
        tb = QToolBar("View")
        tb.setObjectName("toolbar_view")
        self.addToolBar(tb)
        for text, preset, key in CAMERA_KEYS:
            act = self._action(text, lambda _c=False, p=preset: self.scene.camera(p), key, f"{text} view")
            v.addAction(act)
            tb.addAction(act)
        reset = self._action(
            "Reset", lambda: self.scene.camera("posterior"), "R", "Reset to the posterior view"
        )
        v.addAction(reset)
        tb.addAction(reset)
        tb.addSeparator()
        self.act_labels = self._action("Labels", self._toggle_labels, "Ctrl+L", "Structure labels")
        self.act_labels.setCheckable(True)
        self.act_labels.setChecked(True)
        self.act_zones = self._action(
            "Danger zones",
            self._toggle_zones,
            "Ctrl+D",
            "Danger zones (structure + positional uncertainty)",
        )
        self.act_zones.setCheckable(True)
        self.act_zones.setChecked(True)
        self.act_place = self._action(
            "Place entry", self._toggle_place, "N", "Click on the skin to place a new needle"
        )
        self.act_place.setCheckable(True)
        for act in (self.act_labels, self.act_zones):
            v.addAction(act)
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_place)

        v.addSeparator()
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        m = mb.addMenu("&Maps")
        self.act_map_tp = self._action(
            "&Approach map to the chosen trigger point",
            self.show_approach_to_trigger_point,
            "A",
            "Colour the skin by how close the straight path to the trigger point chosen in the "
            "Needles panel comes to a danger zone",
        )
        self.act_map_tip = self._action(
            "Approach map to the selected needle's &tip",
            self.show_approach_to_needle_tip,
            "Shift+A",
            "Colour the skin by the clearance of straight paths to the selected needle's tip",
        )
        self.act_map_depth = self._action(
            "&Depth map",
            self.show_depth_map,
            "D",
            "Colour the skin by the maximum safe depth of a needle along the inward normal",
        )
        self.act_map_best = self._action(
            "Place a needle at the &best entry",
            self.place_needle_at_best_entry,
            "Ctrl+B",
            "A needle from the approach map's best entry to its target",
        )
        self.act_map_clear = self._action("&Clear map", self.clear_map, "X", "Show the skin again")
        for act in (self.act_map_tp, self.act_map_tip, self.act_map_depth):
            m.addAction(act)
        m.addSeparator()
        m.addAction(self.act_map_best)
        m.addAction(self.act_map_clear)
        tb.addSeparator()
        tb.addAction(self.act_map_tp)
        tb.addAction(self.act_map_depth)
        self.act_map_tp.setIconText("Approach map")
        self.act_map_depth.setIconText("Depth map")
        self._update_map_actions()

        d = mb.addMenu("&Demonstration")
        d.addAction(
            self._action(
                "&Record step…",
                self.record_step_dialog,
                "Ctrl+Shift+R",
                "Add the current view, layers and needles as a step",
            )
        )
        self.act_demo_drop = self._action("&Delete last step", self.delete_last_step)
        d.addAction(self.act_demo_drop)
        d.addSeparator()
        self.act_present = self._action(
            "&Present",
            self.start_presentation,
            "F5",
            "Play the steps full screen (→ next, ← previous, Esc ends)",
        )
        d.addAction(self.act_present)
        self.act_demo_export = self._action("&Export steps (PNG + GIF)…", self.export_demo_dialog)
        d.addAction(self.act_demo_export)
        # -- the step list (gui/steps.py): a dock, opened from the menu
        self.step_list = StepList(self)
        self._dock("Steps", self.step_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self.docks["Steps"].hide()
        self.act_steps = self._action(
            "&Steps…",
            lambda: (self.docks["Steps"].show(), self.docks["Steps"].raise_()),
            "Ctrl+Shift+D",
            "List the steps to rename, reorder, edit, duplicate or delete them",
        )
        d.insertAction(self.act_demo_drop, self.act_steps)
        self.presenting: int | None = None  # index of the step on show, None when not presenting
        self._move_timer = QTimer(self)
        self._move_timer.setInterval(CAMERA_TICK_MS)
        self._move_timer.timeout.connect(self._camera_tick)
        self._move: tuple[demo.Camera, demo.Camera, float] | None = None

        h = mb.addMenu("&Help")
        h.addAction(self._action("&About thighmap", lambda: show_about(self)))

    def _connect_panels(self) -> None:
        self.layers.visibility_changed.connect(self.set_layer_visible)
        self.layers.visibility_changed.connect(lambda k, v: clear_needle_hiding(self, k, v))
        # -- search over names, synonyms and groups (gui/search.py)
        self.structure_search = StructureSearch(self.layers, lambda: self.scene.atlas)
        self.structure_search.chosen.connect(lambda sid: self.show_info("structure", sid))
        self.structure_search.fly_to.connect(self.scene.fly_to)
        self.layers.opacity_changed.connect(self.scene.set_structure_opacity)
        self.layers.show_only.connect(self.show_only)
        self.layers.item_selected.connect(self._show_info_structure)
        n = self.needles
        n.selected.connect(self.select_needle)
        n.place_entry.connect(self.act_place.setChecked)
        n.add_from_trigger_point.connect(self.add_from_trigger_point)
        n.remove.connect(self.remove_needle)
        n.depth_changed.connect(self.set_depth)
        n.angles_changed.connect(self.set_angles)
        n.length_changed.connect(lambda v: self._edit_selected("Needle length", needle_length_mm=v))
        n.gauge_changed.connect(lambda v: self._edit_selected("Gauge", gauge_mm=v))
        n.target_changed.connect(lambda v: self._edit_selected("Target", target=v or None))

    # ================================================================ model / redraw
    def _load_model(self, old: Plan | None) -> None:
        """(Re)build the anatomy when the model changes (start, patient, side)."""
        atlas = self.core.atlas(self.plan)
        if atlas is self._drawn_atlas:
            return
        self._drawn_atlas = atlas

        def zone(sid: str) -> Any:
            try:
                return self.core.danger_zone_mesh(self.plan, sid)
            except EngineMissing:
                return None

        self.scene.set_atlas(atlas, zone, self.plan.side)
        self.layers.populate(
            atlas,
            self.scene.hidden,
            self.scene.opacity,
            {
                "needles": self.scene.show_needles,
                "labels": self.scene.show_labels,
                "landmarks": self.scene.show_landmarks,
                "tp_labels": self.scene.show_tp_labels,
            },
            self.scene.hidden_zones,
            self.scene.hidden_tps,
        )
        self.needles.set_atlas(atlas)
        self.section.set_atlas(atlas, zone, self.plan.side)

    def apply_plan(self, plan: Plan, select: str | None) -> None:
        """Make ``plan`` current (called by undo commands and by open/new)."""
        t0 = time.perf_counter()
        old = self.plan
        self.plan = plan
        ids = [n.id for n in plan.needles]
        self.selected = (
            select
            if select in ids
            else (
                ids[0]
                if ids and self.selected not in ids
                else self.selected
                if self.selected in ids
                else None
            )
        )
        if self.core.model_changes(old, plan):
            try:
                self._load_model(old)
            except EngineMissing as exc:
                self.check_error = str(exc)
            if self.map_request is not None:
                self._draw_map()  # the map follows the patient profile
        self.act_left.blockSignals(True)
        self.act_left.setChecked(plan.side == "left")
        self.act_left.blockSignals(False)
        self._recheck()
        t1 = time.perf_counter()
        self._refresh_views()
        t2 = time.perf_counter()
        self.timings.update(check_s=t1 - t0, redraw_s=t2 - t1)

    def _recheck(self) -> None:
        self.check_error = None
        try:
            self.reports = self.core.check_all(self.plan)
        except EngineMissing as exc:
            self.reports = {}
            self.check_error = str(exc)
        except Exception as exc:  # a failing check must be visible, never silent
            log.exception("safety check failed")
            self.reports = {}
            self.check_error = f"The safety check failed: {exc}"

    def _refresh_views(self) -> None:
        statuses = {k: r.status for k, r in self.reports.items()}
        self.needles.set_needles([n.id for n in self.plan.needles], statuses, self.selected)
        needle = self.selected_needle()
        self.needles.show_needle(needle, self._angles(needle))
        report = self.reports.get(self.selected) if self.selected else None
        if needle is None:
            self.safety.show_report(None)
        elif report is None:
            self.safety.show_report(None, self.check_error or "Not checked.")
        else:
            self.safety.show_report(report)
        self.scene.update_needles(self.plan, self.reports, self.selected)
        self.section.set_needle(needle, report)
        worst = max(
            (r.status for r in self.reports.values()),
            key=["safe", "caution", "danger"].index,
            default=None,
        )
        patient = "fitted to patient" if self.plan.patient is not None else "reference adult"
        self.status_label.setText(
            f"{self.plan.side} thigh · {patient} · {len(self.plan.needles)} needle(s)"
            + (f" · plan {worst.upper()}" if worst else "")
        )

    def _angles(self, needle: Needle | None) -> tuple[float, float] | None:
        if needle is None:
            return None
        try:
            _p, normal = self.core.skin_frame(self.plan, needle.entry_mm)
            return angles_from_direction(needle.direction, normal, self.plan.side)
        except Exception:
            return None

    def selected_needle(self) -> Needle | None:
        if self.selected is None:
            return None
        try:
            return self.plan.needle(self.selected)
        except KeyError:
            return None

    # ================================================================ edits
    def push_edit(self, plan: Plan, text: str, select: str | None = None, merge: str | None = None) -> None:
        sel = select if select is not None else self.selected
        self.undo.push(PlanEdit(self.apply_plan, self.plan, plan, text, self.selected, sel, merge))

    def _replace_needle(self, new: Needle) -> Plan:
        return self.plan.with_changes(needles=[new if n.id == new.id else n for n in self.plan.needles])

    def _edit_selected(self, text: str, merge: str | None = None, **changes: Any) -> None:
        needle = self.selected_needle()
        if needle is None:
            return
        if "needle_length_mm" in changes:
            changes["depth_mm"] = min(needle.depth_mm, changes["needle_length_mm"])
        new = needle.with_changes(**changes)
        if new == needle:
            return
        self.push_edit(self._replace_needle(new), f"{text} of {needle.id}", needle.id, merge)

    def set_depth(self, depth_mm: float) -> None:
        needle = self.selected_needle()
        if needle is None:
            return
        depth = float(min(max(depth_mm, 0.1), needle.needle_length_mm))
        self._edit_selected("Depth", "depth", depth_mm=round(depth, 2))

    def nudge_depth(self, delta_mm: float) -> None:
        needle = self.selected_needle()
        if needle is not None:
            self.set_depth(needle.depth_mm + delta_mm)

    def set_angles(self, tilt_deg: float, azimuth_deg: float) -> None:
        needle = self.selected_needle()
        if needle is None:
            return
        try:
            _p, normal = self.core.skin_frame(self.plan, needle.entry_mm)
            direction = direction_from_angles(tilt_deg, azimuth_deg, normal, self.plan.side)
        except Exception as exc:
            self.statusBar().showMessage(f"Cannot aim by angles here: {exc}", 5000)
            return
        self._edit_selected("Angle", "angles", direction=direction)

    def on_tip_dragged(self, tip_mm: np.ndarray) -> None:
        """The tip handle was dragged: aim the needle at it, depth = distance."""
        needle = self.selected_needle()
        if needle is None:
            return
        v = np.asarray(tip_mm, float) - needle.entry_mm
        dist = float(np.linalg.norm(v))
        if not math.isfinite(dist) or dist < 1.0:
            return
        depth = min(dist, needle.needle_length_mm)
        self._edit_selected("Aim", "aim", direction=v / dist, depth_mm=round(depth, 2))

    def _new_id(self) -> str:
        ids = {n.id for n in self.plan.needles}
        k = 1
        while f"n{k}" in ids:
            k += 1
        return f"n{k}"

    def handle_skin_pick(self, point_mm: np.ndarray) -> Needle | None:
        """Place a new needle at a picked skin point (plan frame), along the inward normal."""
        self.act_place.setChecked(False)
        self.needles.place.setChecked(False)
        try:
            entry, normal = self.core.skin_frame(self.plan, np.asarray(point_mm, float))
        except EngineMissing as exc:
            self.error("Cannot place a needle", str(exc))
            return None
        nid = self._new_id()
        needle = Needle(nid, entry, normal, DEFAULT_DEPTH_MM, DEFAULT_LENGTH_MM, DEFAULT_GAUGE_MM)
        self.push_edit(
            self.plan.with_changes(needles=[*self.plan.needles, needle]), f"Place needle {nid}", nid
        )
        return needle

    def add_from_trigger_point(self, tp_id: str) -> Needle | None:
        nid = self._new_id()
        try:
            needle = self.core.needle_from_trigger_point(self.plan, tp_id, nid)
        except Exception as exc:
            self.error("Cannot create the needle", f"{tp_id}: {exc}")
            return None
        self.push_edit(
            self.plan.with_changes(needles=[*self.plan.needles, needle]),
            f"Needle {nid} from trigger point",
            nid,
        )
        return needle

    def remove_needle(self, nid: str) -> None:
        keep = [n for n in self.plan.needles if n.id != nid]
        if len(keep) != len(self.plan.needles):
            nxt = keep[0].id if keep else None
            self.push_edit(self.plan.with_changes(needles=keep), f"Delete needle {nid}", nxt)

    def remove_selected(self) -> None:
        if self.selected:
            self.remove_needle(self.selected)

    def select_needle(self, nid: str) -> None:
        if nid == self.selected:
            return
        self.selected = nid
        self._refresh_views()
        needle = self.selected_needle()
        if needle is not None:
            self.info.show_needle(needle, self.reports.get(nid))

    # ================================================================ demonstrations
    def steps(self) -> list[demo.DemoStep]:
        try:
            return demo.steps_of(self.plan)
        except demo.DemoError as err:
            self.error("Demonstration", f"{self.plan_path or 'plan'}: {err}")
            return []

    def current_camera(self) -> demo.Camera:
        cam = self.pl.camera
        return demo.Camera(tuple(cam.position), tuple(cam.focal_point), tuple(cam.up), float(cam.view_angle))

    def record_step_dialog(self) -> None:
        dlg = StepDialog(len(self.steps()) + 1, self)
        if dlg.exec():
            self.record_step(
                dlg.title.text().strip() or f"Step {len(self.steps()) + 1}", dlg.text.toPlainText()
            )

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

    def start_presentation(self) -> None:
        if not self.steps():
            self.error("Present", "Record a step first (Demonstration > Record step).")
            return
        self._before_presenting = (self.saveState(), capture_step(self, "before"))
        for bar in (self.menuBar(), self.statusBar()):
            bar.hide()
        for widget in [*self.docks.values(), *self.findChildren(QToolBar)]:
            widget.hide()
        self.showFullScreen()
        self.presenting = -1
        self.show_step(0)

    def stop_presentation(self) -> None:
        if self.presenting is None:
            return
        self.presenting = None
        self._move_timer.stop()
        for name in ("demo-title", "demo-text", "demo-count"):
            self.pl.remove_actor(name, render=False)
        state, before = self._before_presenting
        self.showNormal()
        self.menuBar().show()
        self.statusBar().show()
        for tb in self.findChildren(QToolBar):
            tb.show()
        apply_step(self, before)
        self.restoreState(state)
        self.scene.request_render()

    def show_step(self, index: int) -> None:
        """Go to step `index` of the presentation: layers at once, camera smoothly."""
        steps = self.steps()
        if self.presenting is None or not steps:
            return
        index = max(0, min(index, len(steps) - 1))
        if index == self.presenting:
            return
        step = steps[index]
        self.presenting = index
        apply_step(self, step, camera=False)  # gui/steps.py; the camera glides below
        self.pl.add_text(step.title, position="upper_left", font_size=18, color="white", name="demo-title")
        lines = textwrap.wrap(step.text, 36)  # a column left of the thigh
        height = int(self.pl.window_size[1])
        self.pl.add_text(  # under the title, left-aligned
            "\n".join(lines),
            position=(14, max(height - 70 - 22 * len(lines), 10)),
            font_size=12,
            color="#e8eaee",
            name="demo-text",
        )
        self.pl.add_text(
            f"{index + 1} / {len(steps)}",
            position="upper_right",
            font_size=11,
            color="#aab0ba",
            name="demo-count",
        )
        self._move = (self.current_camera(), step.camera, time.perf_counter())
        self._move_timer.start()

    def _camera_tick(self) -> None:
        if self._move is None:
            self._move_timer.stop()
            return
        start, end, t0 = self._move
        t = (time.perf_counter() - t0) / CAMERA_MOVE_S
        self._set_camera(demo.interpolate_camera(start, end, min(t, 1.0)))
        self.scene.render_now()
        if t >= 1.0:
            self._move = None
            self._move_timer.stop()
            self.scene.relayout_labels()

    def _set_camera(self, cam: demo.Camera) -> None:
        self.pl.camera.position = cam.position
        self.pl.camera.focal_point = cam.focal_point
        self.pl.camera.up = cam.up
        self.pl.camera.view_angle = cam.view_angle
        self.pl.reset_camera_clipping_range()

    def presentation_key(self, key: int) -> bool:
        """Keys of the presentation; True when the key was used."""
        if self.presenting is None:
            return False
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Space, Qt.Key.Key_PageDown, Qt.Key.Key_Down):
            self.show_step(self.presenting + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Backspace, Qt.Key.Key_PageUp, Qt.Key.Key_Up):
            self.show_step(self.presenting - 1)
        elif key == Qt.Key.Key_Escape:
            self.stop_presentation()
        else:
            return False
        return True

    def export_demo_dialog(self) -> None:
        if not self.steps():
            self.error("Export steps", "Record a step first (Demonstration > Record step).")
            return
        dlg = ExportDialog(str(Path(self.plan_path).parent if self.plan_path else Path.home()), self)
        if not dlg.exec() or not dlg.folder.text().strip():
            return
        folder = dlg.folder.text().strip()
        try:
            written = self.export_demo(folder, size=dlg.image_size(), gif=dlg.gif.isChecked())
        except (OSError, ValueError) as err:
            self.error("Cannot export the steps", f"{folder}: {err}")
            return
        also = " and demonstration.gif" if dlg.gif.isChecked() else ""
        self.statusBar().showMessage(f"Wrote {len(written)} images{also} to {folder}", 5000)

    def export_demo(
        self, folder: str | os.PathLike[str], size: tuple[int, int] = (960, 720), gif: bool = True
    ) -> list[Path]:
        from thighmap.viz.demo import export_demonstration

        return export_demonstration(
            self.plan,
            self.core.model(self.plan),
            folder,
            gif=Path(folder) / "demonstration.gif" if gif else None,
            size=size,
        )

    # ================================================================ skin maps
    def _update_map_actions(self) -> None:
        self.act_map_best.setEnabled(self.approach is not None and self.approach.best_index is not None)
        self.act_map_clear.setEnabled(self.map_request is not None)

    def show_approach_to_trigger_point(self) -> None:
        tp_id = self.needles.tp_combo.currentData()
        if not tp_id:
            self.error("Approach map", "Choose a trigger point in the Needles panel first.")
            return
        target = self._approach_target(("trigger_point", str(tp_id)))
        assert target is not None
        name = self.core.model(self.plan).atlas.trigger_points[tp_id].name
        self.show_approach(target, name, ("trigger_point", str(tp_id)))

    def show_approach_to_needle_tip(self) -> None:
        needle = self.selected_needle()
        if needle is None:
            self.error("Approach map", "Select a needle first: the map is drawn to its tip.")
            return
        self.show_approach(needle.tip_mm, f"the tip of needle {needle.id}", ("needle_tip", needle.id))

    def show_approach(
        self, target_mm: np.ndarray, label: str, follows: tuple[str, str] | None = None
    ) -> None:
        """An approach map to ``target_mm``; with ``follows`` (a trigger point or a needle's
        tip) the target is looked up again when the patient changes, so the map follows
        the anatomy like the needles do."""
        self.map_request = ("approach", np.asarray(target_mm, float), label, follows)
        self._draw_map()

    def _approach_target(self, follows: tuple[str, str] | None) -> np.ndarray | None:
        """Where a followed target is on the current model (plan frame), if it still exists."""
        if follows is None:
            return None
        kind, ident = follows
        if kind == "trigger_point":
            tps = self.core.model(self.plan).atlas.trigger_points
            if ident not in tps:
                return None
            return sides.from_atlas_frame(np.asarray(tps[ident].position_mm, float), self.plan.side)
        try:
            return np.asarray(self.plan.needle(ident).tip_mm, float)
        except KeyError:
            return None

    def show_depth_map(self) -> None:
        self.map_request = ("depth",)
        self._draw_map()

    def clear_map(self) -> None:
        self.map_request = None
        self.approach = None
        self.scene.clear_map()
        self._update_map_actions()
        self.statusBar().clearMessage()

    def _draw_map(self) -> None:
        """(Re)compute the requested map on the current model and draw it."""
        if self.map_request is None:
            return
        t0 = time.perf_counter()
        model = self.core.model(self.plan)
        progress, dialog = self._map_progress(model)
        try:
            text = self._compute_and_draw_map(model, progress)
        except maps.MapCancelled:
            self.map_request = None
            self.approach = None
            self.scene.clear_map()
            text = "Map cancelled."
        finally:
            if dialog is not None:
                dialog.close()
        self.timings["map_s"] = time.perf_counter() - t0
        self.statusBar().showMessage(text)
        self._update_map_actions()

    def _map_progress(self, model: Any) -> tuple[maps.Progress | None, QProgressDialog | None]:
        """A progress dialog with Cancel for maps that take long: those of an atlas whose
        danger structures include surfaces without centrelines (checked against their
        triangles). Maps over capsule chains take a fraction of a second and get none."""
        if model.dangers.meshes is None:
            return None, None
        names = ", ".join(model.names[sid] for sid in model.dangers.meshes.structure_ids)
        dialog = QProgressDialog(
            f"Checking the path from every skin vertex exactly against the triangles of: {names}. "
            "Surfaces without a centreline take much longer than the bundled atlas's tubes.",
            "Cancel",
            0,
            100,
            self,
        )
        dialog.setWindowTitle("Computing map")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)

        def progress(done: int, total: int) -> bool:
            dialog.setMaximum(total)
            dialog.setValue(done)
            QApplication.processEvents()
            return not dialog.wasCanceled()

        return progress, dialog

    def _compute_and_draw_map(self, model: Any, progress: maps.Progress | None) -> str:
        from thighmap.viz import maps as draw

        assert self.map_request is not None
        if self.map_request[0] == "depth":
            self.approach = None
            dmap = maps.depth_map(model, progress=progress)
            self.scene.show_map(lambda pl: draw.add_depth_map(pl, model, dmap))
            d = dmap.max_safe_depth_mm
            text = (
                f"Depth map: a needle along the skin normal keeps every depth rule (caution margins, "
                f"shaft, bone, regional limits) to a median {np.median(d):.0f} mm; "
                f"{np.mean(d < 20):.0%} of the skin allows less than 20 mm."
            )
        else:
            _, target, label, follows = self.map_request
            followed = self._approach_target(follows)
            if followed is not None:
                target = followed
                self.map_request = ("approach", target, label, follows)
            amap = maps.approach_map(model, target, progress=progress)
            self.approach = amap
            self.scene.show_map(lambda pl: draw.add_approach_map(pl, model, amap))
            if amap.best_index is None:
                text = f"No safe straight path of usable length and angle reaches {label}."
            else:
                i = amap.best_index
                text = (
                    f"Best entry: {amap.length_mm[i]:.0f} mm path, "
                    f"{amap.angle_from_normal_deg[i]:.0f}° from the skin normal, "
                    f"{amap.caution_clearance_mm[i]:.1f} mm clear of the nearest caution zone "
                    f"(Ctrl+B places a needle there); approach map to {label}."
                )
        return text

    def place_needle_at_best_entry(self) -> Needle | None:
        amap = self.approach
        if amap is None or amap.best_index is None:
            return None
        nid = self._new_id()
        needle = amap.needle_at(amap.best_index, nid)
        self.push_edit(
            self.plan.with_changes(needles=[*self.plan.needles, needle]),
            f"Needle {nid} at the best entry",
            nid,
        )
        return needle

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
            self.push_edit(mirror_x(self.plan), "Left thigh" if left else "Right thigh", self.selected)

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
    def set_layer_visible(self, key: str, visible: bool) -> None:
        s = self.scene
        if key.startswith("zone:"):
            s.set_zone_visible(key[5:], visible)
            any_zone = len(s.hidden_zones) < len(s.zone_actors) or not s.zone_actors
            self.act_zones.blockSignals(True)
            self.act_zones.setChecked(any_zone)
            self.act_zones.blockSignals(False)
        elif key.startswith("tp:"):
            s.set_trigger_point_visible(key[3:], visible)
        elif key == "needles":
            s.set_needles_visible(visible)
            s.update_needles(self.plan, self.reports, self.selected)
        elif key == "labels":
            s.set_labels(visible, s.show_landmarks)
            self.act_labels.setChecked(visible)
        elif key == "landmarks":
            s.set_labels(s.show_labels, visible)
        elif key == "tp_labels":
            s.show_tp_labels = visible
            s.relayout_labels()
        else:
            s.set_structure_visible(key, visible)
            self.section.hidden = set(s.hidden)
            self.section.schedule()
            s.relayout_labels()

    def show_only(self, sid: str) -> None:
        atlas = self.scene.atlas
        if atlas is None:
            return
        for other in atlas.structures:
            visible = (not sid) or other == sid
            self.layers.set_checked(other, visible)  # emits visibility_changed

    def _toggle_labels(self, on: bool) -> None:
        self.layers.set_checked("labels", on)

    def _toggle_zones(self, on: bool) -> None:
        atlas = self.scene.atlas
        for st in atlas.danger_structures() if atlas is not None else []:
            self.layers.set_checked(f"zone:{st.id}", on)

    def _toggle_place(self, on: bool) -> None:
        self.needles.place.blockSignals(True)
        self.needles.place.setChecked(on)
        self.needles.place.blockSignals(False)
        if on:
            self.statusBar().showMessage("Click on the skin to place the entry point (Esc to cancel)")
        else:
            self.statusBar().clearMessage()

    def keyPressEvent(self, event: Any) -> None:
        if self.presentation_key(event.key()):
            return
        if event.key() == Qt.Key.Key_Escape:
            self.cancel()
            return
        super().keyPressEvent(event)

    def cancel(self) -> None:
        """Esc: leave placement mode, else drop the clicked structure's outline."""
        if self.act_place.isChecked():
            self.act_place.setChecked(False)
        else:
            self._clicked_focus = None
            self.scene.set_focus(None)

    def _after_camera_move(self, *_args: Any) -> None:
        self.scene.relayout_labels()

    def _on_press(self, *_args: Any) -> None:
        self._press_pos = self.pl.iren.interactor.GetEventPosition()

    def _on_release(self, *_args: Any) -> None:
        if self._press_pos is None:
            return
        x, y = self.pl.iren.interactor.GetEventPosition()
        x0, y0 = self._press_pos
        self._press_pos = None
        if abs(x - x0) + abs(y - y0) > 4:
            self.scene.relayout_labels()  # a drag (rotation), not a click
            return
        shift = bool(self.pl.iren.interactor.GetShiftKey())
        if self.act_place.isChecked() or shift:
            hit = self.scene.pick(x, y, skin_only=True)
            if hit is not None:
                self.handle_skin_pick(hit.point_mm)
            else:
                self.statusBar().showMessage("No skin under the cursor", 3000)
            return
        hit = self.scene.pick(x, y)
        if hit is None:
            return
        self.show_info(hit.kind, hit.ident)

    def _on_move(self, *_args: Any) -> None:
        if self._press_pos is not None:  # dragging the camera or the handle
            return
        self._hover_pos = self.pl.iren.interactor.GetEventPosition()
        self._hover_timer.start()

    def _hover(self) -> None:
        """Outline what is under the resting mouse and name it in the status bar."""
        if self._hover_pos is None or self.scene.atlas is None:
            return
        label = self.scene.label_at(*self._hover_pos)
        if label is not None:  # a label's full name: the view shows short ones
            sid = label.name.split(":", 1)[1] if label.kind == "structure" else None
            self.scene.set_focus(sid or self._clicked_focus)
            self.statusBar().showMessage(label.full_text, 3000)
            return
        hit = self.scene.pick(*self._hover_pos)
        atlas = self.scene.atlas
        if hit is not None and hit.kind == "structure":
            st = atlas.structures[hit.ident]
            self.scene.set_focus(hit.ident)
            self.statusBar().showMessage(f"{st.name}: {st.kind}, {st.role} (click for its card)", 3000)
            return
        self.scene.set_focus(self._clicked_focus)
        if hit is not None and hit.kind == "trigger_point":
            self.statusBar().showMessage(f"Trigger point: {atlas.trigger_points[hit.ident].name}", 3000)
        elif hit is not None and hit.kind == "needle":
            report = self.reports.get(hit.ident)
            status = f": {report.status}" if report is not None else ""
            self.statusBar().showMessage(f"Needle {hit.ident}{status} (click to select)", 3000)

    def show_info(self, kind: str, ident: str) -> None:
        atlas = self.scene.atlas
        if atlas is None:
            return
        if kind == "structure":
            self._clicked_focus = ident
            self.scene.set_focus(ident)
            self._show_info_structure(ident)
        elif kind == "trigger_point":
            self.info.show_trigger_point(atlas, ident)
            self.needles.tp_combo.setCurrentIndex(self.needles.tp_combo.findData(ident))
        elif kind == "needle":
            self.select_needle(ident)
            self.info.show_needle(self.plan.needle(ident), self.reports.get(ident))
        self.docks["Information"].raise_()

    def _show_info_structure(self, sid: str) -> None:
        atlas = self.scene.atlas
        if atlas is not None and sid in atlas.structures:
            self.info.show_structure(atlas, sid)
            self.statusBar().showMessage(atlas.structures[sid].name, 4000)

    # ================================================================ files
    def _update_title(self) -> None:
        name = Path(self.plan_path).name if self.plan_path else "untitled plan"
        self.setWindowTitle(f"{name}[*] — thighmap")
        self.setWindowModified(not self.undo.isClean())

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _schedule_autosave(self, _index: int = 0) -> None:
        if not self.undo.isClean():
            self._autosave.start()

    def write_recovery(self) -> None:
        """Keep this window's unsaved work in its recovery file (none when it is saved)."""
        try:
            if self.undo.isClean():
                storage.clear_recovery(self.window_id)
            else:
                storage.write_recovery(self.window_id, self.plan, self.plan_path)
        except Exception:
            log.exception("could not write the recovery file")

    def offer_recovery(self, plan_path: str | None = None, others: bool = True) -> bool:
        """Offer the unsaved work of windows whose program is no longer running (a crash,
        a kill): those of ``plan_path`` first, then, with ``others``, every other one,
        until one is restored. A declined recovery file is removed; the rest stay."""
        for rec in storage.recovery_candidates(plan_path):
            if not others and rec.plan_path != storage.normal_plan_path(plan_path):
                continue
            if self._offer_one(rec):
                return True
        return False

    def _offer_one(self, rec: storage.Recovery) -> bool:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.written))
        original = rec.plan_path
        answer = QMessageBox.question(
            self,
            "Restore unsaved work?",
            recovery_question(when, original),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            storage.clear_recovery(rec.window_id)
            return False
        try:
            plan = self.core.load(rec.plan_file)
        except (PlanError, ValueError) as err:
            self.error("Cannot restore", str(err))
            return False
        self._set_document(plan, original)
        # restored work is unsaved: make it undoable back to the file's state
        self.undo.resetClean()
        # this window takes the work over: its own recovery file first, then the old one goes
        self.write_recovery()
        storage.clear_recovery(rec.window_id)
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to discard the current plan."""
        if self.undo.isClean():
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            "The plan has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _set_document(self, plan: Plan, path: str | None) -> None:
        self.undo.clear()
        self.plan_path = path
        self.selected = None
        self.apply_plan(plan, plan.needles[0].id if plan.needles else None)
        self._update_title()

    def new_plan(self) -> None:
        if self.maybe_save():
            self._set_document(Plan(), None)
            storage.clear_recovery(self.window_id)

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        start = str(Path(self.plan_path).parent) if self.plan_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open plan", start, PLAN_FILTER)
        if path:
            self.open_plan(path, ask=False)

    def open_plan(self, path: str | os.PathLike[str], ask: bool = False, recovery: bool = True) -> bool:
        """Open a plan file; on a bad file show the problem and keep the current work.
        With ``recovery``, unsaved work on this plan left by a window that is no longer
        running is offered."""
        if ask and not self.maybe_save():
            return False
        try:
            plan = self.core.load(path)
        except PlanError as err:
            self.error("Cannot open the plan", str(err))
            return False
        except ValueError as err:  # the atlas cannot be fitted to the plan's patient
            self.error("Cannot open the plan", f"{path}: field 'patient': {err}")
            return False
        self._set_document(plan, str(path))
        storage.clear_recovery(self.window_id)  # the work it had was saved or discarded
        storage.add_recent_file(path)
        self._refresh_recent()
        self.statusBar().showMessage(f"Opened {path}", 4000)
        if recovery:
            self.offer_recovery(str(path), others=False)
        return True

    def save(self) -> bool:
        if self.plan_path is None:
            return self.save_as()
        return self.save_to(self.plan_path)

    def save_as(self) -> bool:
        start = self.plan_path or str(Path.home() / "plan.thighplan.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save plan", start, PLAN_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".thighplan.json"
        return self.save_to(path)

    def save_to(self, path: str | os.PathLike[str]) -> bool:
        try:
            save_plan(self.plan, path)
        except (PlanError, OSError) as err:
            self.error("Cannot save the plan", str(err))
            return False
        self.plan_path = str(path)
        self.undo.setClean()
        storage.clear_recovery(self.window_id)
        storage.add_recent_file(path)
        self._refresh_recent()
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        files = storage.recent_files()
        for f in files:
            act = self.recent_menu.addAction(f)
            act.triggered.connect(lambda _c=False, p=f: self.open_plan(p, ask=True))
        self.recent_menu.setEnabled(bool(files))

    def export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view", "thighmap-view.png", "PNG images (*.png)")
        if not path:
            return
        try:
            self.export_png(path)
        except (OSError, ValueError) as err:
            self.error("Cannot export the view", f"{path}: {err}")
            return
        self.statusBar().showMessage(f"Saved the view to {path}", 4000)

    def export_report_dialog(self) -> None:
        if not self.plan.needles:
            self.error("Export report", "The plan has no needles to report on.")
            return
        stem = Path(self.plan_path).name.split(".")[0] if self.plan_path else "thighmap-plan"
        path, _ = QFileDialog.getSaveFileName(self, "Export report", f"{stem}-report.pdf", "PDF (*.pdf)")
        if not path:
            return
        try:
            self.export_report(path)
        except (OSError, ValueError) as err:
            self.error("Cannot write the report", f"{path}: {err}")
            return
        self.statusBar().showMessage(f"Wrote the report {path}", 4000)

    def export_report(self, path: str | os.PathLike[str]) -> Path:
        """The PDF report of the current plan, as checked now (saved or not)."""
        from thighmap.report import write_plan_report

        model = self.core.model(self.plan)
        return write_plan_report(self.plan, model, path, plan_path=self.plan_path)

    def export_png(self, path: str | os.PathLike[str]) -> Path:
        self.scene.render_now()
        from thighmap.viz.render import write_image

        write_image(path, np.asarray(self.pl.screenshot(return_img=True)), ".png")  # atomic
        return Path(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and u.toLocalFile().endswith(".json") for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = event.mimeData().urls()
        if urls:
            event.acceptProposedAction()
            self.open_plan(urls[0].toLocalFile(), ask=True)

    def closeEvent(self, event: Any) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self._autosave.stop()
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
    # once the first frame is up: load the safety kernels in the background (numba, and
    # on a machine's first run their compilation, said in the status bar) rather than at
    # the first check
    QTimer.singleShot(0, lambda: _warm_kernels(window))
    return int(app.exec())


def recovery_question(when: str, plan_path: str | None) -> str:
    """The question asked before restoring a dead window's work. Its first line holds no
    text from a file: Qt decides between plain and rich text by what comes before the
    first line break, so a path such as ``/tmp/<img src=x>.json`` is shown as written."""
    return (
        f"thighmap found unsaved changes from {when}; the window that made them was closed "
        "without saving.\n"
        + (f"Plan: {plan_path}" if plan_path else "Plan: an untitled plan, never saved")
        + "\nRestore them?"
    )


def _warm_kernels(window: MainWindow) -> None:
    from thighmap.safety import kernels

    if kernels.cache_is_cold():
        message = kernels.COMPILING_MESSAGE
        window.statusBar().showMessage(message[0].upper() + message[1:])
        log.info("%s", message)
    worker = threading.Thread(target=kernels.warm_up, name="thighmap-compile", daemon=True)
    worker.start()

    def done() -> None:
        if worker.is_alive():
            QTimer.singleShot(250, done)
        elif window.statusBar().currentMessage().startswith("Compiling the safety kernels"):
            window.statusBar().showMessage("Safety kernels ready", 3000)

    done()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else None))


__all__ = ["MainWindow", "run"]

"""Skin maps in the window: the approach map to a trigger point or a needle's tip, the
depth map, and a needle at the approach map's best entry.

The maps are computed by the core (safety.maps) and drawn by viz.maps; this controller
remembers which map is on show so that it follows the anatomy when the patient changes,
and reads its value under the cursor (viz.map_readout).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QProgressDialog

from thighmap import sides
from thighmap.planning import Needle, edits
from thighmap.safety import maps
from thighmap.viz import map_readout


class SkinMaps(QObject):
    """The map on show in a window (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        # the skin map on show: ("approach", target_mm, label, follows), ("depth",) or None;
        # follows: ("trigger_point", id), ("needle_tip", id) or None (see show_approach)
        self.map_request: tuple[Any, ...] | None = None
        self.approach: maps.ApproachMap | None = None
        self.layer: map_readout.MapLayer | None = None  # the map on show, as read under the cursor

    def reading_at(self, point_mm: np.ndarray) -> map_readout.MapReading | None:
        """The value of the map on show at a skin point (None: no map)."""
        return None if self.layer is None else map_readout.read(self.layer, point_mm)

    def update_actions(self) -> None:
        self.win.act_map_best.setEnabled(self.approach is not None and self.approach.best_index is not None)
        self.win.act_map_clear.setEnabled(self.map_request is not None)

    def show_approach_to_trigger_point(self) -> None:
        tp_id = self.win.needles.tp_combo.currentData()
        if not tp_id:
            self.win.error("Approach map", "Choose a trigger point in the Needles panel first.")
            return
        target = self._approach_target(("trigger_point", str(tp_id)))
        assert target is not None
        name = self.win.core.model(self.win.plan).atlas.trigger_points[tp_id].name
        self.show_approach(target, name, ("trigger_point", str(tp_id)))

    def show_approach_to_needle_tip(self) -> None:
        needle = self.win.doc.selected_needle()
        if needle is None:
            self.win.error("Approach map", "Select a needle first: the map is drawn to its tip.")
            return
        self.show_approach(needle.tip_mm, f"the tip of needle {needle.id}", ("needle_tip", needle.id))

    def show_approach(
        self, target_mm: np.ndarray, label: str, follows: tuple[str, str] | None = None
    ) -> None:
        """An approach map to ``target_mm``; with ``follows`` (a trigger point or a needle's
        tip) the target is looked up again when the patient changes, so the map follows
        the anatomy like the needles do."""
        self.map_request = ("approach", np.asarray(target_mm, float), label, follows)
        self.draw()

    def _approach_target(self, follows: tuple[str, str] | None) -> np.ndarray | None:
        """Where a followed target is on the current model (plan frame), if it still exists."""
        if follows is None:
            return None
        kind, ident = follows
        if kind == "trigger_point":
            tps = self.win.core.model(self.win.plan).atlas.trigger_points
            if ident not in tps:
                return None
            return sides.from_atlas_frame(np.asarray(tps[ident].position_mm, float), self.win.plan.side)
        try:
            return np.asarray(self.win.plan.needle(ident).tip_mm, float)
        except KeyError:
            return None

    def show_depth_map(self) -> None:
        self.map_request = ("depth",)
        self.draw()

    def clear_map(self) -> None:
        self.map_request = None
        self.approach = None
        self.layer = None
        self.win.scene.clear_map()
        self.update_actions()
        self.win.statusBar().clearMessage()

    def draw(self) -> None:
        """(Re)compute the requested map on the current model and draw it."""
        if self.map_request is None:
            return
        t0 = time.perf_counter()
        model = self.win.core.model(self.win.plan)
        progress, dialog = self._map_progress(model)
        try:
            text = self._compute_and_draw_map(model, progress)
        except maps.MapCancelled:
            self.map_request = None
            self.approach = None
            self.layer = None
            self.win.scene.clear_map()
            text = "Map cancelled."
        finally:
            if dialog is not None:
                dialog.close()
        self.win.timings["map_s"] = time.perf_counter() - t0
        self.win.statusBar().showMessage(text)
        self.update_actions()

    def _map_progress(self, model: Any) -> tuple[maps.Progress | None, QProgressDialog | None]:
        """A progress dialog with Cancel for maps that take long: those of an atlas whose
        danger or caution structures include surfaces without centrelines (checked against
        their triangles). Maps over capsule chains take a fraction of a second and get none."""
        ids = mesh_checked_ids(model)
        if not ids:
            return None, None
        names = ", ".join(model.names[sid] for sid in ids)
        dialog = QProgressDialog(
            f"Checking the path from every skin vertex exactly against the triangles of: {names}. "
            "Surfaces without a centreline take much longer than the bundled atlas's tubes.",
            "Cancel",
            0,
            100,
            self.win,
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
            self.win.scene.show_map(lambda pl: draw.add_depth_map(pl, model, dmap))
            self.layer = map_readout.depth_layer(dmap, model.outer_skin())
            d = dmap.max_safe_depth_mm
            text = (
                f"Depth map: a needle along the skin normal keeps every depth rule (caution margins, "
                "caution structures, "
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
            self.win.scene.show_map(lambda pl: draw.add_approach_map(pl, model, amap))
            self.layer = map_readout.approach_layer(amap, model.outer_skin(), label)
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
        nid = edits.new_needle_id(self.win.plan)
        needle = amap.needle_at(amap.best_index, nid)
        return self.win._add_needle(needle, f"Needle {nid} at the best entry")


def mesh_checked_ids(model: Any) -> list[str]:
    """The danger and caution structures a map checks against their triangles (a core
    from before caution structures has only the danger structures' ``meshes``)."""
    ids = getattr(model.dangers, "mesh_structure_ids", None)
    if ids is not None:
        return list(ids)
    meshes = model.dangers.meshes
    return list(meshes.structure_ids) if meshes is not None else []

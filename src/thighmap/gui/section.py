"""Cross-section panel: the slice through the needle and an axial slice, drawn like an
ultrasound/MRI image (structures filled in their colours on a dark background).

Slices are exact cuts of the atlas surfaces (VTK cutter), joined into closed loops and
filled even-odd, so a slice shows the same geometry the 3D view and the checks use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from thighmap.anatomy.atlas import Atlas
from thighmap.planning import Needle
from thighmap.planning.document import PlanDocument
from thighmap.viz import scene
from thighmap.viz.view_state import SectionSettings, ViewState

DRAW_ORDER = ("skin", "fat", "fascia", "muscle", "tendon", "bone", "vein", "artery", "nerve")
IMAGE_BG = "#07080a"


@dataclass
class Slice2D:
    """One cut: filled regions and optional overlays, in plane coordinates (mm)."""

    title: str
    regions: list[tuple[str, str, float, list[np.ndarray]]] = field(default_factory=list)
    outlines: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)
    needle: tuple[np.ndarray, np.ndarray] | None = None  # entry, tip (2D)
    needle_colour: str = "#ffffff"
    max_safe: np.ndarray | None = None
    closest: tuple[np.ndarray, np.ndarray] | None = None
    edge_labels: tuple[str, str, str, str] = ("", "", "", "")  # top, bottom, left, right


def atlas_polydata(atlas: Atlas, sid: str) -> pv.PolyData:
    mesh = atlas.mesh(sid)
    cells = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).astype(np.int64).ravel()
    return pv.PolyData(np.asarray(mesh.vertices, float), cells)


def cut_loops(
    poly: pv.PolyData, origin: np.ndarray, normal: np.ndarray, e1: np.ndarray, e2: np.ndarray
) -> list[np.ndarray]:
    """Closed (or open) polylines of the cut, in (e1, e2) coordinates."""
    cut = poly.slice(normal=tuple(normal), origin=tuple(origin))
    if cut.n_points == 0:
        return []
    cut = cut.strip(join=True)
    pts = np.asarray(cut.points) - origin
    uv = np.column_stack([pts @ e1, pts @ e2])
    lines = np.asarray(cut.lines)
    out: list[np.ndarray] = []
    i = 0
    while i < len(lines):
        n = int(lines[i])
        idx = lines[i + 1 : i + 1 + n]
        if n >= 3:
            out.append(uv[idx])
        i += n + 1
    return out


class SectionView(QWidget):
    """Paints a :class:`Slice2D`, fitted to the widget, y axis downwards."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slice: Slice2D | None = None
        self.setMinimumSize(220, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_slice(self, s: Slice2D | None) -> None:
        self.slice = s
        self.update()

    def _bounds(self) -> tuple[float, float, float, float] | None:
        s = self.slice
        if s is None:
            return None
        pts = [loop for _sid, _c, _a, loops in s.regions for loop in loops]
        if s.needle is not None:
            pts.append(np.vstack(s.needle))
        if not pts:
            return None
        allp = np.vstack(pts)
        lo, hi = allp.min(axis=0), allp.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(IMAGE_BG))
        s = self.slice
        b = self._bounds()
        font = QFont(self.font())
        font.setPointSize(9)
        p.setFont(font)
        if s is None or b is None:
            p.setPen(QColor("#888"))
            p.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                s.title + "\n(nothing cut)" if s else "No slice",
            )
            p.end()
            return
        margin = 26.0
        w, h = self.width() - 2 * margin, self.height() - 2 * margin - 14
        sx = w / max(b[2] - b[0], 1e-6)
        sy = h / max(b[3] - b[1], 1e-6)
        k = min(sx, sy)
        cx, cy = (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0
        ox, oy = self.width() / 2.0, 14 + margin + h / 2.0

        def tr(uv: np.ndarray) -> QPointF:
            # image y grows downwards; the plane's second axis points "up" in the image
            return QPointF(ox + (uv[0] - cx) * k, oy - (uv[1] - cy) * k)

        def poly(loop: np.ndarray) -> QPolygonF:
            return QPolygonF([tr(q) for q in loop])

        for _sid, colour, alpha, loops in s.regions:
            path = QPainterPath()
            path.setFillRule(Qt.FillRule.OddEvenFill)
            for loop in loops:
                path.addPolygon(poly(loop))
                path.closeSubpath()
            c = QColor(colour)
            c.setAlphaF(alpha)
            p.fillPath(path, QBrush(c))
            p.setPen(QPen(QColor(colour).darker(160), 0.8))
            p.drawPath(path)
        for colour, loops in s.outlines:
            pen = QPen(QColor(colour), 1.2, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            for loop in loops:
                p.drawPolygon(poly(loop))
        if s.needle is not None:
            a, t = s.needle
            p.setPen(QPen(QColor("#111"), 4.5))
            p.drawLine(tr(a), tr(t))
            p.setPen(QPen(QColor(s.needle_colour), 2.5))
            p.drawLine(tr(a), tr(t))
            p.setBrush(QColor(s.needle_colour))
            p.drawEllipse(tr(t), 3.5, 3.5)
        if s.max_safe is not None:
            p.setPen(QPen(QColor(scene.STATUS_COLOURS["caution"]), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(tr(s.max_safe), 6, 6)
        if s.closest is not None:
            a, c2 = s.closest
            p.setPen(QPen(QColor("#ffffff"), 1.2, Qt.PenStyle.DotLine))
            p.drawLine(tr(a), tr(c2))
        # scale bar: 20 mm
        bar = 20.0 * k
        p.setPen(QPen(QColor("#e0e0e0"), 2))
        y = self.height() - 10
        p.drawLine(QPointF(10, y), QPointF(10 + bar, y))
        p.drawText(QPointF(14 + bar, y + 4), "20 mm")
        p.setPen(QColor("#e8e8e8"))
        p.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignCenter, s.title)
        top, bottom, left, right = s.edge_labels
        p.setPen(QColor("#9fb3c8"))
        p.drawText(QRectF(0, 16, self.width(), 14), Qt.AlignmentFlag.AlignCenter, top)
        p.drawText(QRectF(0, self.height() - 28, self.width(), 14), Qt.AlignmentFlag.AlignCenter, bottom)
        p.drawText(
            QRectF(4, 0, 80, self.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            left,
        )
        p.drawText(
            QRectF(self.width() - 84, 0, 80, self.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            right,
        )
        p.end()


class SectionPanel(QWidget):
    """Needle-plane slice and axial slice; recomputed lazily when visible."""

    def __init__(self, view: ViewState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # mode, axial level and whether it follows the tip live in the view state; these
        # controls set it and show it (it emits only on a change, so nothing loops)
        self.view = view if view is not None else ViewState()
        self.atlas: Atlas | None = None
        self._polys: dict[str, pv.PolyData] = {}
        self._zones: dict[str, pv.PolyData] = {}
        self.zone_source: Any = None
        self.needle: Needle | None = None
        self.report: Any = None
        self.side = "right"
        self.mode = QComboBox()
        self.mode.addItem("Plane of needle and long axis", "long")
        self.mode.addItem("Plane through needle, across the thigh", "across")
        self.level = QDoubleSpinBox(decimals=0, minimum=-100.0, maximum=600.0, singleStep=5.0, suffix=" mm")
        self.level.setToolTip("Height of the axial slice above the knee (z)")
        self.level_slider = QSlider(Qt.Orientation.Horizontal)
        self.level_slider.setRange(-100, 600)
        self.follow = QComboBox()
        self.follow.addItem("Axial level: at needle tip", "tip")
        self.follow.addItem("Axial level: fixed", "fixed")
        self.along = SectionView()
        self.axial = SectionView()
        controls = QHBoxLayout()
        controls.addWidget(self.mode)
        controls.addStretch(1)
        controls.addWidget(self.follow)
        controls.addWidget(QLabel("z"))
        controls.addWidget(self.level)
        controls.addWidget(self.level_slider, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.along)
        split.addWidget(self.axial)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(controls)
        lay.addWidget(split, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.recompute)
        self._stale = True
        self.drawn_for: tuple[Any, Any] | None = None  # (atlas, needle) of the cuts on show
        self.mode.currentIndexChanged.connect(lambda _i: self.view.set_section(mode=self.mode.currentData()))
        self.follow.currentIndexChanged.connect(
            lambda _i: self.view.set_section(follow=self.follow.currentData())
        )
        self.level.valueChanged.connect(self._on_level)
        self.level_slider.valueChanged.connect(self._on_level)
        self._cutting = False
        self.view.section_changed.connect(self._on_section)
        self.view.visibility_changed.connect(self._on_visibility)
        self._on_section(self.view.section)

    def _on_visibility(self, key: str, _visible: bool) -> None:
        if ":" not in key and self.atlas is not None and key in self.atlas.structures:
            self.schedule()  # hidden structures are left out of the cut

    @property
    def hidden(self) -> set[str]:
        return self.view.hidden

    def _on_section(self, s: SectionSettings) -> None:
        """The view state changed: show it in the controls and cut again."""
        self.mode.setCurrentIndex(max(self.mode.findData(s.mode), 0))
        self.follow.setCurrentIndex(max(self.follow.findData(s.follow), 0))
        self.level.setValue(s.level_mm)
        self.level_slider.setValue(round(s.level_mm))
        if not self._cutting:  # the level recompute() takes from the tip is already cut
            self.schedule()

    # --------------------------------------------------------------- inputs
    def set_atlas(self, atlas: Atlas, zone_source: Any, side: str) -> None:
        self.atlas = atlas
        self.side = side
        self._polys = {sid: atlas_polydata(atlas, sid) for sid in atlas.structures}
        self._zones = {}
        self.zone_source = zone_source
        skin = atlas.mesh("skin").vertices
        lo, hi = float(skin[:, 2].min()), float(skin[:, 2].max())
        self.level.setRange(lo + 1, hi - 1)
        self.level_slider.setRange(round(lo + 1), round(hi - 1))
        if not lo < self.view.section.level_mm < hi:
            self.view.set_section(level_mm=(lo + hi) / 2.0)
        self.schedule()

    def follow_document(self, doc: PlanDocument) -> None:
        """Cut through the document's selected needle whenever the plan or the selection changes."""

        def update(*_args: Any) -> None:
            self.set_needle(doc.selected_needle(), doc.selected_report())

        doc.plan_changed.connect(update)
        doc.selection_changed.connect(update)

    def set_needle(self, needle: Needle | None, report: Any) -> None:
        self.needle = needle
        self.report = report
        self.schedule()

    def _on_level(self, value: float) -> None:
        """The box or the slider was moved: a level of one's own (no longer the tip's).
        The controls round the level; a value within their rounding of the view state's
        is the one it gave them, not a move."""
        if abs(float(value) - self.view.section.level_mm) >= 0.5:
            self.view.set_section(level_mm=float(value), follow="fixed")

    def schedule(self) -> None:
        """Recompute soon if the panel is on screen, else when it is next shown."""
        if self.isVisible():
            self._timer.start()
        else:
            self._stale = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    # --------------------------------------------------------------- slicing
    def _zone(self, sid: str) -> pv.PolyData | None:
        if sid not in self._zones and self.zone_source is not None:
            mesh = self.zone_source(sid)
            if mesh is None:
                return None
            cells = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).astype(np.int64)
            self._zones[sid] = pv.PolyData(np.asarray(mesh.vertices, float), cells.ravel())
        return self._zones.get(sid)

    def _cut(
        self,
        title: str,
        origin: np.ndarray,
        normal: np.ndarray,
        e1: np.ndarray,
        e2: np.ndarray,
        edges: tuple[str, str, str, str],
    ) -> Slice2D:
        assert self.atlas is not None
        s = Slice2D(title, edge_labels=edges)
        order = sorted(
            self.atlas.structures.values(),
            key=lambda st: DRAW_ORDER.index(st.kind) if st.kind in DRAW_ORDER else 99,
        )
        for st in order:
            if st.id in self.hidden:
                continue
            loops = cut_loops(self._polys[st.id], origin, normal, e1, e2)
            if loops:
                alpha = 0.55 if st.kind in ("skin", "fat") else 0.95
                s.regions.append((st.id, scene.structure_colour(st.kind, st.id), alpha, loops))
        for st in self.atlas.danger_structures():
            zone = self._zone(st.id)
            if zone is not None:
                loops = cut_loops(zone, origin, normal, e1, e2)
                if loops:
                    s.outlines.append((_light(scene.structure_colour(st.kind, st.id)), loops))
        n = self.needle
        if n is not None:

            def to2(p: np.ndarray) -> np.ndarray:
                q = np.asarray(p, float) - origin
                return np.array([q @ e1, q @ e2])

            s.needle = (to2(n.entry_mm), to2(n.tip_mm))
            r = self.report
            if r is not None:
                s.needle_colour = scene.STATUS_COLOURS.get(r.status, "#ffffff")
                if np.isfinite(r.max_safe_depth_mm) and r.max_safe_depth_mm < n.needle_length_mm:
                    s.max_safe = to2(n.entry_mm + n.direction * r.max_safe_depth_mm)
                nd = r.nearest_danger
                if nd is not None:
                    s.closest = (to2(nd.point_on_needle_mm), to2(nd.point_on_structure_mm))
        return s

    def needle_plane(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(origin, normal, e1, e2) of the needle plane; e2 points out of the skin."""
        n = self.needle
        if n is None:
            return None
        d = np.asarray(n.direction, float)
        z = np.array([0.0, 0.0, 1.0])
        depth_axis = d - (d @ z) * z
        if np.linalg.norm(depth_axis) < 1e-6:
            depth_axis = np.array([0.0, -1.0, 0.0])
        depth_axis /= np.linalg.norm(depth_axis)
        if self.view.section.mode == "long":
            e1, e2 = z, -depth_axis  # proximal to the right, out of the skin upwards
        else:
            across = np.cross(z, depth_axis)
            e1, e2 = across / np.linalg.norm(across), -depth_axis
        normal = np.cross(e1, e2)
        return np.asarray(n.entry_mm, float), normal, e1, e2

    def recompute(self) -> None:
        if self.atlas is None:
            return
        self._timer.stop()
        self._stale = False
        if self.view.section.follow == "tip" and self.needle is not None:
            self._cutting = True
            try:
                self.view.set_section(level_mm=float(self.needle.tip_mm[2]))
            finally:
                self._cutting = False
        plane = self.needle_plane()
        if plane is None:
            self.along.set_slice(Slice2D("Needle plane: select a needle"))
        else:
            origin, normal, e1, e2 = plane
            if self.view.section.mode == "long":
                edges = ("posterior (skin)", "anterior", "distal", "proximal")
                title = "Needle plane (along the thigh)"
            else:
                lat, med = ("lateral", "medial")
                edges = (
                    "posterior (skin)",
                    "anterior",
                    med if self.side == "right" else lat,
                    lat if self.side == "right" else med,
                )
                title = "Needle plane (across the thigh)"
            self.along.set_slice(self._cut(title, origin, normal, e1, e2, edges))
        z = self.view.section.level_mm
        # viewed from the feet with posterior up: lateral of a right thigh on the right
        e1 = np.array([1.0, 0.0, 0.0]) if self.side == "right" else np.array([-1.0, 0.0, 0.0])
        e2 = np.array([0.0, 1.0, 0.0])
        axial = self._cut(
            f"Axial slice at z = {z:.0f} mm (seen from below)",
            np.array([0.0, 0.0, z]),
            np.array([0.0, 0.0, 1.0]),
            e1,
            e2,
            ("posterior (skin)", "anterior", "medial", "lateral"),
        )
        self.axial.set_slice(axial)
        self.drawn_for = (self.atlas, self.needle)


def _light(colour: str) -> str:
    c = QColor(colour).lighter(150)
    return c.name()
